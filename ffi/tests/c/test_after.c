/*
 * test_after.c: the C API for what comes after pre-training. LoRA
 * adapters on the tiny fixture (they change the logits, NULL restores
 * them, the handle may be freed while sessions use it), continuation
 * scores and best-of-N on the real model, a reward model's score on the
 * reward fixture, and misuse of each (NULLs, bad indices, wrong models).
 *
 *   test_after MODEL [FIXTURES]     (FIXTURES: default tests/fixtures)
 */
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_LOGITS_MAX 256
#define N_BEST 3
#define MAX_GEN 8

static char fixtures[512] = "tests/fixtures";

static const char *fixture(const char *rel)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", fixtures, rel);
    return path;
}

static minke_model *open_model(const char *path)
{
    minke_model *m = NULL;
    CHECK_ST(minke_model_open(path, NULL, &m), MINKE_OK);
    return m;
}

/* Runs `ids` from position 0 and copies the last logits to `dst`. */
static void logits_of(minke_session *s, const uint32_t *ids, size_t n, float *dst, size_t n_vocab)
{
    const float *l = NULL;
    CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
    CHECK_ST(minke_session_prefill(s, ids, n, &l), MINKE_OK);
    if (l != NULL) memcpy(dst, l, n_vocab * sizeof *dst);
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (e > d) d = e;
    }
    return d;
}

static void check_lora(void)
{
    static const uint32_t ids[] = {1, 5, 9, 17, 33, 65};
    const size_t n = sizeof ids / sizeof ids[0];
    float base[N_LOGITS_MAX], adapted[N_LOGITS_MAX], again[N_LOGITS_MAX];
    minke_model *m = open_model(fixture("llama_lora/base"));
    minke_session *s = NULL, *s2 = NULL;
    minke_lora *lora = NULL, *bad = (minke_lora *)&bad;
    size_t nv;

    if (m == NULL) return;
    nv = minke_model_n_vocab(m);
    CHECK(nv > 0 && nv <= N_LOGITS_MAX);
    if (nv == 0 || nv > N_LOGITS_MAX) goto done;
    CHECK(minke_model_n_labels(m) == 0);
    CHECK_ST(minke_session_new(m, NULL, &s), MINKE_OK);
    CHECK_ST(minke_session_new(m, NULL, &s2), MINKE_OK);

    /* Bad paths and NULLs. */
    CHECK_ST(minke_lora_open(fixture("llama_lora/no_such_adapter"), &bad), MINKE_ERR_IO);
    CHECK(bad == NULL);
    CHECK(strstr(minke_last_error(), "adapter_config.json") != NULL);
    CHECK_ST(minke_lora_open(NULL, &lora), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_lora_open(fixture("llama_lora/adapter"), NULL), MINKE_ERR_NULL_ARG);
    /* A model folder is not an adapter folder. */
    CHECK_ST(minke_lora_open(fixture("llama_lora/base"), &lora), MINKE_ERR_IO);
    CHECK(lora == NULL);
    minke_lora_free(NULL);

    CHECK_ST(minke_lora_open(fixture("llama_lora/adapter"), &lora), MINKE_OK);
    CHECK(lora != NULL);
    if (lora == NULL) goto done;
    CHECK_ST(minke_session_set_adapter(NULL, lora, 1.0f), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_set_adapter(s, lora, NAN), MINKE_ERR_INVALID_ARG);

    logits_of(s, ids, n, base, nv);
    CHECK_ST(minke_session_set_adapter(s, lora, 1.0f), MINKE_OK);
    logits_of(s, ids, n, adapted, nv);
    CHECK(max_diff(base, adapted, nv) > 1e-3);
    /* Another session of the model is not affected... */
    logits_of(s2, ids, n, again, nv);
    CHECK(max_diff(base, again, nv) == 0.0);
    /* ...until it gets the same adapter. */
    CHECK_ST(minke_session_set_adapter(s2, lora, 1.0f), MINKE_OK);
    logits_of(s2, ids, n, again, nv);
    CHECK(max_diff(adapted, again, nv) < 1e-5);
    /* A failed call keeps the adapter in place. */
    CHECK_ST(minke_session_set_adapter(s2, lora, INFINITY), MINKE_ERR_INVALID_ARG);
    logits_of(s2, ids, n, again, nv);
    CHECK(max_diff(adapted, again, nv) < 1e-5);
    /* Half the scale lands in between. */
    CHECK_ST(minke_session_set_adapter(s2, lora, 0.5f), MINKE_OK);
    logits_of(s2, ids, n, again, nv);
    CHECK(max_diff(base, again, nv) > 1e-4 && max_diff(adapted, again, nv) > 1e-4);

    /* The handle may go while sessions use the adapter. */
    minke_lora_free(lora);
    lora = NULL;
    logits_of(s, ids, n, again, nv);
    CHECK(max_diff(adapted, again, nv) < 1e-5);
    /* NULL removes it: the base logits again. */
    CHECK_ST(minke_session_set_adapter(s, NULL, 1.0f), MINKE_OK);
    logits_of(s, ids, n, again, nv);
    CHECK(max_diff(base, again, nv) < 1e-6);

done:
    minke_lora_free(lora);
    minke_session_free(s2);
    minke_session_free(s);
    minke_model_free(m);
}

static size_t encode(const minke_tokenizer *tok, const char *text, bool special, uint32_t *ids,
                     size_t cap)
{
    size_t n = 0;
    CHECK_ST(minke_tokenizer_encode(tok, text, special, ids, cap, &n), MINKE_OK);
    return n;
}

static double log_softmax_at(const float *l, size_t n, uint32_t t)
{
    double mx = l[0], sum = 0;
    size_t i;
    for (i = 1; i < n; i++)
        if (l[i] > mx) mx = l[i];
    for (i = 0; i < n; i++) sum += exp((double)l[i] - mx);
    return (double)l[t] - mx - log(sum);
}

static void check_score(const minke_model *m, const minke_tokenizer *tok)
{
    uint32_t prompt[32], cont[16];
    double lp[16], total = 1, sum = 0, total2 = 0;
    size_t np = encode(tok, "The capital of France is", true, prompt, 32);
    size_t nc = encode(tok, " Paris, and the capital of Germany is Berlin.", false, cont, 16);
    size_t i, nv = minke_model_n_vocab(m);
    minke_session_params p;
    minke_session *s = NULL, *plain = NULL;
    const float *l = NULL;

    CHECK_ST(minke_session_default_params(&p, sizeof p), MINKE_OK);
    p.n_ctx = 128;
    p.n_batch = 8; /* several batches */
    CHECK_ST(minke_session_new(m, &p, &plain), MINKE_OK);
    p.logits_all = true;
    CHECK_ST(minke_session_new(m, &p, &s), MINKE_OK);
    if (s == NULL || plain == NULL) goto done;

    CHECK_ST(minke_session_score(s, prompt, np, cont, nc, lp, &total), MINKE_OK);
    for (i = 0; i < nc; i++) {
        sum += lp[i];
        CHECK(lp[i] <= 0);
    }
    CHECK(total < 0);
    CHECK(fabs(total - sum) < 1e-9);
    CHECK(minke_session_pos(s) == np + nc - 1);
    /* The first continuation token's log-probability is that of the
     * logits after the prompt: up to int8 rounding, as scoring runs the
     * tokens in batches of 8 and this prefill runs the prompt alone (the
     * two sum quantized products in different orders; int8's own error is
     * about 0.06 nat per token, an off-by-one position several nats). */
    CHECK_ST(minke_session_prefill(plain, prompt, np, &l), MINKE_OK);
    if (l != NULL) CHECK(fabs(log_softmax_at(l, nv, cont[0]) - lp[0]) < 0.25);
    /* " Paris" is likely after the prompt. */
    CHECK(lp[0] > -2.0);
    /* Without the per-token array; and again from a dirty session. */
    CHECK_ST(minke_session_score(s, prompt, np, cont, nc, NULL, &total2), MINKE_OK);
    CHECK(fabs(total2 - total) < 1e-9);
    /* No continuation: total 0. */
    CHECK_ST(minke_session_score(s, prompt, np, NULL, 0, NULL, &total2), MINKE_OK);
    CHECK(total2 == 0.0);

    /* Misuse. */
    CHECK_ST(minke_session_score(plain, prompt, np, cont, nc, NULL, &total2),
             MINKE_ERR_INVALID_ARG);
    CHECK(strstr(minke_last_error(), "logits_all") != NULL);
    CHECK_ST(minke_session_score(s, prompt, 0, cont, nc, NULL, &total2), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_session_score(NULL, prompt, np, cont, nc, NULL, &total2), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_score(s, prompt, np, cont, nc, lp, NULL), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_score(s, NULL, np, cont, nc, NULL, &total2), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_score(s, prompt, np, NULL, nc, NULL, &total2), MINKE_ERR_NULL_ARG);
    cont[0] = (uint32_t)nv;
    CHECK_ST(minke_session_score(s, prompt, np, cont, nc, NULL, &total2),
             MINKE_ERR_TOKEN_OUT_OF_RANGE);
    {
        /* More than the context holds. */
        uint32_t *many = calloc(200, sizeof *many);
        CHECK_ST(minke_session_score(s, prompt, np, many, 200, NULL, &total2),
                 MINKE_ERR_CONTEXT_FULL);
        free(many);
    }
    /* A language model has no reward head. */
    {
        float r[4];
        size_t nl = 9;
        CHECK(minke_model_n_labels(m) == 0);
        CHECK_ST(minke_session_reward(plain, prompt, np, r, 4, &nl), MINKE_ERR_INVALID_ARG);
        CHECK(nl == 0);
    }
done:
    minke_session_free(s);
    minke_session_free(plain);
}

static void check_reward(void)
{
    static const uint32_t ids[] = {5, 6, 7, 8};
    static const uint32_t padded[] = {5, 6, 7, 8, 0, 0};
    float r[4] = {0, 0, 0, 0}, r2[4] = {0, 0, 0, 0};
    size_t nl = 0;
    minke_model *m = open_model(fixture("llama_reward"));
    minke_session *s = NULL;

    if (m == NULL) return;
    CHECK(minke_model_n_labels(m) == 1);
    CHECK(minke_model_n_labels(NULL) == 0);
    CHECK_ST(minke_session_new(m, NULL, &s), MINKE_OK);
    if (s == NULL) goto done;
    /* Ask for the count first. */
    CHECK_ST(minke_session_reward(s, ids, 4, NULL, 0, &nl), MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK(nl == 1);
    nl = 0;
    CHECK_ST(minke_session_reward(s, ids, 4, r, 4, &nl), MINKE_OK);
    CHECK(nl == 1);
    /* The f16 KV cache (the default) moves it a little. */
    CHECK(fabs(r[0] - 0.616983) < 1e-3);
    printf("reward(5 6 7 8) = %.6f (f16 KV cache)\n", r[0]);
    /* With an f32 KV cache: what `minke reward` prints. */
    {
        minke_session_params p;
        minke_session *s32 = NULL;
        CHECK_ST(minke_session_default_params(&p, sizeof p), MINKE_OK);
        p.kv_type = MINKE_KV_F32;
        CHECK_ST(minke_session_new(m, &p, &s32), MINKE_OK);
        CHECK_ST(minke_session_reward(s32, ids, 4, r2, 1, &nl), MINKE_OK);
        CHECK(fabs(r2[0] - 0.616983) < 1e-4);
        printf("reward(5 6 7 8) = %.6f (f32 KV cache)\n", r2[0]);
        minke_session_free(s32);
    }
    /* Trailing padding is not read; the session is rewound each time. */
    CHECK_ST(minke_session_reward(s, padded, 6, r2, 1, &nl), MINKE_OK);
    CHECK(fabs(r2[0] - r[0]) < 1e-5);

    CHECK_ST(minke_session_reward(NULL, ids, 4, r, 4, &nl), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_reward(s, ids, 4, r, 4, NULL), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_reward(s, ids, 4, NULL, 4, &nl), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_reward(s, NULL, 4, r, 4, &nl), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_reward(s, ids, 0, r, 4, &nl), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_session_reward(s, padded + 4, 2, r, 4, &nl), MINKE_ERR_INVALID_ARG);
    {
        uint32_t big = 256;
        CHECK_ST(minke_session_reward(s, &big, 1, r, 4, &nl), MINKE_ERR_TOKEN_OUT_OF_RANGE);
    }
done:
    minke_session_free(s);
    minke_model_free(m);
}

/* A ranker that asks another model: the reward fixture's score of the
 * answer's ids folded into its vocabulary. Counts its calls. */
typedef struct {
    minke_session *reward;
    int calls;
    bool fail;
} ranker;

static double rank_by_reward(const char *text, size_t text_len, const uint32_t *tokens,
                             size_t n_tokens, void *user_data)
{
    ranker *r = user_data;
    uint32_t ids[64];
    float score = 0;
    size_t i, nl = 0;
    r->calls++;
    if (r->fail || text == NULL || text[text_len] != '\0') return NAN;
    ids[0] = 1;
    for (i = 0; i < n_tokens && i + 1 < 64; i++) ids[i + 1] = 3 + tokens[i] % 250;
    if (minke_session_reward(r->reward, ids, i + 1, &score, 1, &nl) != MINKE_OK) return NAN;
    return score;
}

static void check_best_of_n(const minke_model *m, const minke_tokenizer *tok)
{
    uint32_t prompt[64], ids[MAX_GEN + 1];
    size_t np = encode(tok, "Once upon a time,", true, prompt, 64);
    minke_sampler_params sp;
    minke_generate_params gp;
    minke_session_params p;
    minke_session *s = NULL;
    minke_candidates *c = NULL, *bad = (minke_candidates *)&bad;
    minke_model *rm = open_model(fixture("llama_reward"));
    ranker rk = {NULL, 0, false};
    size_t i, k, need = 0, nt = 0;
    char text[512];
    bool seen[N_BEST] = {false, false, false};

    CHECK_ST(minke_sampler_default_params(&sp, sizeof sp), MINKE_OK);
    CHECK_ST(minke_generate_default_params(&gp, sizeof gp), MINKE_OK);
    CHECK_ST(minke_session_default_params(&p, sizeof p), MINKE_OK);
    sp.temperature = 0.9f;
    sp.seed = 42;
    gp.max_tokens = MAX_GEN;
    p.n_ctx = 128;
    CHECK_ST(minke_session_new(m, &p, &s), MINKE_OK);
    if (rm != NULL) CHECK_ST(minke_session_new(rm, NULL, &rk.reward), MINKE_OK);
    if (s == NULL || rk.reward == NULL) goto done;

    /* Ranked by mean log-probability. */
    CHECK_ST(minke_best_of_n(s, &sp, &gp, prompt, np, N_BEST, NULL, NULL, &c), MINKE_OK);
    CHECK(minke_candidates_count(c) == N_BEST);
    for (i = 0; i < minke_candidates_count(c); i++) {
        double sc = minke_candidates_score(c, i);
        uint64_t seed = minke_candidates_seed(c, i);
        CHECK(isfinite(sc) && sc <= 0);
        if (i > 0) CHECK(sc <= minke_candidates_score(c, i - 1));
        CHECK(seed >= 42 && seed < 42 + N_BEST);
        if (seed >= 42 && seed < 42 + N_BEST) {
            CHECK(!seen[seed - 42]);
            seen[seed - 42] = true;
        }
        /* At least one token: an end-of-generation token counts. */
        CHECK_ST(minke_candidates_tokens(c, i, NULL, 0, &nt), MINKE_ERR_BUFFER_TOO_SMALL);
        CHECK(nt >= 1 && nt <= MAX_GEN);
        CHECK_ST(minke_candidates_tokens(c, i, ids, MAX_GEN + 1, &nt), MINKE_OK);
        for (k = 0; k < nt; k++) CHECK(ids[k] < minke_model_n_vocab(m));
        CHECK_ST(minke_candidates_text(c, i, NULL, 0, &need),
                 MINKE_ERR_BUFFER_TOO_SMALL);
        CHECK_ST(minke_candidates_text(c, i, text, sizeof text, &nt), MINKE_OK);
        CHECK(nt == need && strlen(text) == nt);
        CHECK(minke_candidates_stop_reason(c, i) <= MINKE_STOP_CANCELLED);
        printf("  %zu: seed %llu score %.4f: %s\n", i, (unsigned long long)seed, sc, text);
    }
    /* Out of range and NULL getters. */
    CHECK(isnan(minke_candidates_score(c, N_BEST)));
    CHECK(isnan(minke_candidates_score(NULL, 0)));
    CHECK(minke_candidates_seed(c, N_BEST) == 0);
    CHECK(minke_candidates_count(NULL) == 0);
    CHECK_ST(minke_candidates_text(c, N_BEST, text, sizeof text, &nt), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_candidates_text(NULL, 0, text, sizeof text, &nt), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_candidates_text(c, 0, text, sizeof text, NULL), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_candidates_tokens(c, N_BEST, ids, MAX_GEN, &nt), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_candidates_tokens(c, 0, NULL, 4, &nt), MINKE_ERR_NULL_ARG);
    minke_candidates_free(c);
    c = NULL;
    minke_candidates_free(NULL);

    /* Ranked by a callback that runs another model. */
    CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
    CHECK_ST(minke_best_of_n(s, &sp, &gp, prompt, np, N_BEST, rank_by_reward, &rk, &c),
             MINKE_OK);
    CHECK(rk.calls == N_BEST);
    CHECK(minke_candidates_count(c) == N_BEST);
    for (i = 1; i < minke_candidates_count(c); i++)
        CHECK(minke_candidates_score(c, i) <= minke_candidates_score(c, i - 1));
    /* The score is the ranker's: recompute the best one's. */
    CHECK_ST(minke_candidates_tokens(c, 0, ids, MAX_GEN + 1, &nt), MINKE_OK);
    CHECK_ST(minke_candidates_text(c, 0, text, sizeof text, &need), MINKE_OK);
    CHECK(rank_by_reward(text, need, ids, nt, &rk) == minke_candidates_score(c, 0));
    minke_candidates_free(c);
    c = NULL;

    /* A NaN from the ranker aborts. */
    rk.fail = true;
    rk.calls = 0;
    CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
    CHECK_ST(minke_best_of_n(s, &sp, &gp, prompt, np, N_BEST, rank_by_reward, &rk, &bad),
             MINKE_ERR_INVALID_ARG);
    CHECK(bad == NULL && rk.calls == 1);
    CHECK(strstr(minke_last_error(), "NaN") != NULL);

    /* Misuse. */
    CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
    CHECK_ST(minke_best_of_n(NULL, &sp, &gp, prompt, np, 2, NULL, NULL, &c), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_best_of_n(s, &sp, &gp, prompt, np, 2, NULL, NULL, NULL), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_best_of_n(s, &sp, &gp, NULL, np, 2, NULL, NULL, &c), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_best_of_n(s, &sp, &gp, prompt, np, 0, NULL, NULL, &c), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_best_of_n(s, &sp, &gp, prompt, 0, 2, NULL, NULL, &c), MINKE_ERR_INVALID_ARG);
    CHECK(c == NULL);
    sp.top_p = 2.0f;
    CHECK_ST(minke_best_of_n(s, &sp, &gp, prompt, np, 2, NULL, NULL, &c), MINKE_ERR_INVALID_ARG);
    sp.top_p = 1.0f;
    sp.size = 3;
    CHECK_ST(minke_best_of_n(s, &sp, &gp, prompt, np, 2, NULL, NULL, &c), MINKE_ERR_INVALID_ARG);
    CHECK(c == NULL);
    /* NULL params are the defaults (greedy): every answer is the same. */
    gp.max_tokens = 4;
    CHECK_ST(minke_best_of_n(s, NULL, &gp, prompt, np, 2, NULL, NULL, &c), MINKE_OK);
    if (c != NULL) CHECK(minke_candidates_score(c, 0) == minke_candidates_score(c, 1));
    minke_candidates_free(c);
    c = NULL;
    /* A model without a tokenizer cannot generate text. */
    ids[0] = 1;
    CHECK_ST(minke_best_of_n(rk.reward, NULL, NULL, ids, 1, 2, NULL, NULL, &c),
             MINKE_ERR_TOKENIZER);
    CHECK(c == NULL);
done:
    minke_candidates_free(c);
    minke_session_free(rk.reward);
    minke_model_free(rm);
    minke_session_free(s);
}

int main(int argc, char **argv)
{
    minke_model *m = NULL;
    const minke_tokenizer *tok = NULL;

    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [FIXTURES]\n", argv[0]);
        return 2;
    }
    if (argc > 2) snprintf(fixtures, sizeof fixtures, "%s", argv[2]);

    check_lora();
    check_reward();
    m = open_model(argv[1]);
    if (m != NULL) {
        CHECK_ST(minke_model_tokenizer(m, &tok), MINKE_OK);
        if (tok != NULL) {
            check_score(m, tok);
            check_best_of_n(m, tok);
        }
    }
    minke_model_free(m);
    return check_summary("test_after");
}
