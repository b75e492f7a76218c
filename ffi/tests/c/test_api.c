/*
 * test_api.c: the C API on the real model, used as an application would:
 * versions, model getters, tokenizer round trips, memory sizing, a manual
 * greedy loop against minke_generate, rewind, cancellation, stop strings,
 * the chat template and a full context; tokenizers opened alone, from the
 * model file and from a vocabulary-only GGUF.
 *
 *   test_api MODEL [VOCAB_GGUF]
 *
 * VOCAB_GGUF defaults to DeepSeek-Coder's vocabulary file under
 * tests/fixtures (a path from the repository root, where
 * scripts/test-c.sh runs).
 */
#include "check.h"

#include <stdlib.h>
#include <math.h>
#include <string.h>

#define N_GEN 16

typedef struct {
    char text[4096];
    size_t len;
    int calls;
    int stop_after; /* return false after this many calls; 0: never */
} sink;

static bool collect(const char *piece, size_t len, void *user_data)
{
    sink *s = user_data;
    if (s->len + len < sizeof s->text) {
        memcpy(s->text + s->len, piece, len);
        s->len += len;
        s->text[s->len] = '\0';
    }
    s->calls++;
    return s->stop_after == 0 || s->calls < s->stop_after;
}

static void check_versions(void)
{
    char want[64];
    sprintf(want, "%d.%d.%d", MINKE_VERSION_MAJOR, MINKE_VERSION_MINOR, MINKE_VERSION_PATCH);
    CHECK(strcmp(minke_version(), want) == 0);
    CHECK(minke_abi_version() == MINKE_ABI_VERSION);
    CHECK(strcmp(minke_status_name(MINKE_ERR_IO), "MINKE_ERR_IO") == 0);
}

static size_t encode(const minke_tokenizer *tok, const char *text, bool special, uint32_t *ids,
                     size_t cap)
{
    size_t n = 0;
    CHECK_ST(minke_tokenizer_encode(tok, text, special, ids, cap, &n), MINKE_OK);
    return n;
}

static void check_tokenizer(const minke_tokenizer *tok)
{
    uint32_t ids[64], im_end = 0;
    size_t n, need = 0, len = 0;
    char buf[256];
    minke_chat_message msgs[2];

    CHECK(minke_tokenizer_n_vocab(tok) > 1000);
    n = encode(tok, "Hello, world!", false, ids, 64);
    CHECK(n > 1 && n < 10);
    CHECK_ST(minke_tokenizer_encode(tok, "Hello, world!", false, NULL, 0, &need),
             MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK(need == n);
    CHECK_ST(minke_tokenizer_decode(tok, ids, n, buf, sizeof buf, &len), MINKE_OK);
    CHECK(strcmp(buf, "Hello, world!") == 0 && len == strlen(buf));
    /* UTF-8 text survives the round trip. */
    n = encode(tok, "Zürich 東京 🐋", false, ids, 64);
    CHECK_ST(minke_tokenizer_decode(tok, ids, n, buf, sizeof buf, &len), MINKE_OK);
    CHECK(strcmp(buf, "Zürich 東京 🐋") == 0);

    CHECK_ST(minke_tokenizer_token_to_id(tok, "<|im_end|>", &im_end), MINKE_OK);
    CHECK(minke_tokenizer_is_eog(tok, im_end));
    CHECK(minke_tokenizer_is_special(tok, im_end));
    CHECK(minke_tokenizer_eos(tok) >= 0);
    CHECK_ST(minke_tokenizer_token_to_piece(tok, im_end, buf, sizeof buf, &len), MINKE_OK);
    CHECK(strcmp(buf, "<|im_end|>") == 0);
    {
        const uint32_t *eog = NULL;
        size_t n_eog = 0, i, found = 0;
        CHECK_ST(minke_tokenizer_eog_ids(tok, &eog, &n_eog), MINKE_OK);
        for (i = 0; i < n_eog; i++)
            found += eog[i] == im_end;
        CHECK(n_eog >= 1 && found == 1);
    }

    CHECK(minke_tokenizer_has_chat_template(tok));
    msgs[0].role = "system";
    msgs[0].content = "Be brief.";
    msgs[1].role = "user";
    msgs[1].content = "Hi!";
    CHECK_ST(minke_tokenizer_apply_chat_template(tok, msgs, 2, true, buf, sizeof buf, &len),
             MINKE_OK);
    CHECK(strstr(buf, "<|im_start|>user\nHi!<|im_end|>") != NULL);
    CHECK(len >= 22 && strcmp(buf + len - 22, "<|im_start|>assistant\n") == 0);
}

/* A tokenizer opened without its model gives the model's ids; a
 * vocabulary-only GGUF opens as a tokenizer and not as a model. */
static void check_tokenizer_alone(const char *model_path, const minke_tokenizer *of_model,
                                  const char *vocab_path)
{
    minke_tokenizer *tok = NULL;
    minke_model *m = NULL;
    uint32_t a[64], b[64];
    size_t na, nb;

    CHECK_ST(minke_tokenizer_open(model_path, &tok), MINKE_OK);
    if (tok) {
        check_tokenizer(tok);
        na = encode(of_model, "Hello, world! 你好 🐋", true, a, 64);
        nb = encode(tok, "Hello, world! 你好 🐋", true, b, 64);
        CHECK(na == nb && memcmp(a, b, na * sizeof *a) == 0);
        minke_tokenizer_free(tok);
    }
    /* A model's own tokenizer is not the caller's to free: this does nothing. */
    minke_tokenizer_free((minke_tokenizer *)of_model);
    CHECK(minke_tokenizer_n_vocab(of_model) == 49152);

    tok = NULL;
    CHECK_ST(minke_tokenizer_open(vocab_path, &tok), MINKE_OK);
    if (tok) {
        CHECK(minke_tokenizer_n_vocab(tok) == 32256);
        /* llama.cpp's expectation for "Hello world", after BOS. */
        nb = encode(tok, "Hello world", true, b, 64);
        CHECK(nb == 3 && b[0] == 32013 && b[1] == 17535 && b[2] == 1835);
        CHECK(minke_tokenizer_is_eog(tok, 32014));
        CHECK(!minke_tokenizer_has_chat_template(tok));
        minke_tokenizer_free(tok);
    }
    CHECK_ST(minke_model_open(vocab_path, NULL, &m), MINKE_ERR_UNSUPPORTED);
    CHECK(m == NULL && strstr(minke_last_error(), "holds a tokenizer only") != NULL);
}

static void check_memory(const minke_model *model)
{
    minke_session_params sp;
    uint64_t bytes = 0, b2 = 0;
    uint32_t n_ctx = 0;

    CHECK_ST(minke_session_default_params(&sp, sizeof sp), MINKE_OK);
    CHECK(sp.size == sizeof sp && sp.n_ctx == 2048 && sp.kv_type == MINKE_KV_F16);
    sp.n_ctx = 512;
    CHECK_ST(minke_session_bytes(model, &sp, &bytes), MINKE_OK);
    CHECK(bytes > 0);
    /* The budget of a 512-token session fits 512 tokens, and no more than
     * a few extra (the size has fixed parts). */
    CHECK_ST(minke_session_max_ctx(model, &sp, bytes, &n_ctx), MINKE_OK);
    CHECK(n_ctx >= 512 && n_ctx < 520);
    sp.n_ctx = n_ctx;
    CHECK_ST(minke_session_bytes(model, &sp, &b2), MINKE_OK);
    CHECK(b2 <= bytes);
    sp.n_ctx = n_ctx + 1;
    CHECK_ST(minke_session_bytes(model, &sp, &b2), MINKE_OK);
    CHECK(b2 > bytes);
    /* f32 KV takes more than f16. */
    sp.n_ctx = 512;
    sp.kv_type = MINKE_KV_F32;
    CHECK_ST(minke_session_bytes(model, &sp, &b2), MINKE_OK);
    CHECK(b2 > bytes);
    /* A huge budget is capped at the trained context. */
    CHECK_ST(minke_session_max_ctx(model, NULL, (uint64_t)1 << 50, &n_ctx), MINKE_OK);
    CHECK(n_ctx == minke_model_n_ctx_train(model));
}

/* Greedy by hand: prefill, then sample/accept/decode; returns the text. */
static size_t manual_greedy(minke_model *model, const minke_tokenizer *tok, const uint32_t *ids,
                            size_t n_ids, uint32_t *out, char *text, size_t cap)
{
    minke_session *s = NULL;
    minke_sampler *smp = NULL;
    const float *logits = NULL;
    size_t i, len = 0;

    text[0] = '\0';
    CHECK_ST(minke_session_new(model, NULL, &s), MINKE_OK);
    CHECK_ST(minke_sampler_new(model, NULL, &smp), MINKE_OK);
    if (!s || !smp)
        goto done;
    CHECK_ST(minke_session_prefill(s, ids, n_ids, &logits), MINKE_OK);
    CHECK(minke_session_pos(s) == n_ids);
    for (i = 0; i < N_GEN; i++) {
        size_t n = 0;
        CHECK_ST(minke_sampler_sample(smp, logits, minke_model_n_vocab(model), &out[i]), MINKE_OK);
        CHECK_ST(minke_sampler_accept(smp, out[i]), MINKE_OK);
        CHECK_ST(minke_tokenizer_token_to_piece(tok, out[i], text + len, cap - len, &n), MINKE_OK);
        len += n;
        if (i + 1 < N_GEN)
            CHECK_ST(minke_session_decode(s, out[i], &logits), MINKE_OK);
    }
done:
    minke_sampler_free(smp);
    minke_session_free(s);
    return len;
}

static void check_generation(minke_model *model, const minke_tokenizer *tok)
{
    uint32_t ids[64], manual[N_GEN];
    char text[2048];
    size_t n_ids, len;
    minke_session *s = NULL;
    minke_sampler *smp = NULL;
    minke_generate_params gp;
    minke_generate_result res;
    sink out;

    n_ids = encode(tok, "The three primary colors are", true, ids, 64);
    len = manual_greedy(model, tok, ids, n_ids, manual, text, sizeof text);
    CHECK(len > 0);

    /* minke_generate gives the same text. */
    CHECK_ST(minke_session_new(model, NULL, &s), MINKE_OK);
    CHECK_ST(minke_sampler_new(model, NULL, &smp), MINKE_OK);
    CHECK_ST(minke_generate_default_params(&gp, sizeof gp), MINKE_OK);
    gp.max_tokens = N_GEN;
    gp.stop_at_eos = false;
    memset(&out, 0, sizeof out);
    res.size = sizeof res;
    CHECK_ST(minke_generate(s, smp, ids, n_ids, &gp, collect, &out, &res), MINKE_OK);
    CHECK(res.stop_reason == MINKE_STOP_MAX_TOKENS);
    CHECK(res.n_tokens == N_GEN && res.n_prompt_tokens == n_ids);
    CHECK(out.len == len && memcmp(out.text, text, len) == 0);
    if (out.len != len || memcmp(out.text, text, len) != 0)
        fprintf(stderr, "manual: [%s]\ngenerate: [%s]\n", text, out.text);
    /* The session holds the prompt and all generated tokens but the last. */
    CHECK(minke_session_pos(s) == n_ids + N_GEN - 1);

    /* Rewind and run the same calls again: the same logits, bit for bit.
     * Decoding the prompt's last token instead of prefilling it gives the
     * same logits up to int8 rounding (batched products sum in another
     * order, which can flip an int8 activation): about 0.1 on average. */
    {
        const float *l1 = NULL, *l2 = NULL;
        float *copy;
        size_t nv = 0;
        CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
        CHECK_ST(minke_session_prefill(s, ids, n_ids, &l1), MINKE_OK);
        CHECK_ST(minke_session_logits(s, &l2, &nv), MINKE_OK);
        CHECK(l1 == l2 && nv == minke_model_n_vocab(model));
        copy = malloc(nv * sizeof *copy);
        if (copy) {
            double sum = 0;
            float worst = 0;
            memcpy(copy, l1, nv * sizeof *copy);
            CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
            CHECK_ST(minke_session_prefill(s, ids, n_ids, &l1), MINKE_OK);
            CHECK(memcmp(copy, l1, nv * sizeof *copy) == 0);
            CHECK_ST(minke_session_rewind(s, (uint32_t)n_ids - 1), MINKE_OK);
            CHECK_ST(minke_session_decode(s, ids[n_ids - 1], &l2), MINKE_OK);
            for (size_t i = 0; i < nv; i++) {
                float d = fabsf(copy[i] - l2[i]);
                sum += d;
                worst = d > worst ? d : worst;
            }
            CHECK(sum / (double)nv < 0.5 && worst < 3.0f);
            memcpy(copy, l2, nv * sizeof *copy);
            CHECK_ST(minke_session_rewind(s, (uint32_t)n_ids - 1), MINKE_OK);
            CHECK_ST(minke_session_decode(s, ids[n_ids - 1], &l2), MINKE_OK);
            CHECK(memcmp(copy, l2, nv * sizeof *copy) == 0);
            free(copy);
        }
    }

    /* The callback stops generation: still MINKE_OK. */
    CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
    CHECK_ST(minke_sampler_reset(smp), MINKE_OK);
    memset(&out, 0, sizeof out);
    out.stop_after = 2;
    CHECK_ST(minke_generate(s, smp, ids, n_ids, &gp, collect, &out, &res), MINKE_OK);
    CHECK(res.stop_reason == MINKE_STOP_CANCELLED && out.calls == 2);

    /* A stop string taken from the greedy text ends it there. */
    if (len > 8) {
        char stop[8];
        const char *stops[1];
        size_t at = len / 2;
        while (at < len && ((unsigned char)text[at] & 0xC0) == 0x80)
            at++;
        memcpy(stop, text + at, 3);
        stop[3] = '\0';
        stops[0] = stop;
        gp.stop = stops;
        gp.n_stop = 1;
        CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
        CHECK_ST(minke_sampler_reset(smp), MINKE_OK);
        memset(&out, 0, sizeof out);
        CHECK_ST(minke_generate(s, smp, ids, n_ids, &gp, collect, &out, &res), MINKE_OK);
        CHECK(res.stop_reason == MINKE_STOP_STRING);
        CHECK(out.len <= at && memcmp(out.text, text, out.len) == 0);
        CHECK(strstr(out.text, stop) == NULL);
        gp.stop = NULL;
        gp.n_stop = 0;
    }
    minke_sampler_free(smp);
    minke_session_free(s);

    /* A small context: a prompt that does not fit, then one that fills it. */
    {
        minke_session_params sp;
        minke_session_default_params(&sp, sizeof sp);
        sp.n_ctx = (uint32_t)n_ids - 1;
        CHECK_ST(minke_session_new(model, &sp, &s), MINKE_OK);
        CHECK_ST(minke_sampler_new(model, NULL, &smp), MINKE_OK);
        CHECK_ST(minke_session_prefill(s, ids, n_ids, NULL), MINKE_ERR_CONTEXT_FULL);
        CHECK(minke_session_pos(s) == 0);
        CHECK(strstr(minke_last_error(), "do not fit") != NULL);
        minke_session_free(s);
        sp.n_ctx = (uint32_t)n_ids + 3;
        CHECK_ST(minke_session_new(model, &sp, &s), MINKE_OK);
        CHECK(minke_session_n_ctx(s) == n_ids + 3);
        CHECK_ST(minke_generate(s, smp, ids, n_ids, &gp, NULL, NULL, &res), MINKE_OK);
        CHECK(res.stop_reason == MINKE_STOP_CONTEXT_FULL);
        CHECK_ST(minke_session_decode(s, ids[0], NULL), MINKE_ERR_CONTEXT_FULL);
        minke_sampler_free(smp);
        minke_session_free(s);
    }
}

/* use_mmap = false reads the file into memory: the same model, bit for bit. */
static void check_read_in(const char *path, const minke_model *mapped) {
    minke_model_params mp;
    minke_model *read_in = NULL;
    const minke_model *models[2] = {mapped, NULL};
    float *first = NULL;
    const uint32_t ids[4] = {1, 504, 3458, 28};
    size_t nv = minke_model_n_vocab(mapped);

    minke_model_default_params(&mp, sizeof mp);
    mp.use_mmap = false;
    CHECK_ST(minke_model_open(path, &mp, &read_in), MINKE_OK);
    if (!read_in)
        return;
    models[1] = read_in;
    first = malloc(nv * sizeof *first);
    CHECK(first != NULL);
    for (int i = 0; i < 2 && first; i++) {
        minke_session *s = NULL;
        const float *logits = NULL;
        CHECK_ST(minke_session_new(models[i], NULL, &s), MINKE_OK);
        CHECK_ST(minke_session_prefill(s, ids, 4, &logits), MINKE_OK);
        if (logits && i == 0)
            memcpy(first, logits, nv * sizeof *first);
        if (logits && i == 1)
            CHECK(memcmp(first, logits, nv * sizeof *first) == 0);
        minke_session_free(s);
    }
    free(first);
    minke_model_free(read_in);
}

int main(int argc, char **argv)
{
    minke_model *model = NULL;
    const minke_tokenizer *tok = NULL;
    minke_model_params mp;

    const char *vocab = "tests/fixtures/tokenizer/deepseek_coder/ggml-vocab-deepseek-coder.gguf";

    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [VOCAB_GGUF]\n", argv[0]);
        return 2;
    }
    if (argc > 2)
        vocab = argv[2];
    check_versions();
    CHECK_ST(minke_model_default_params(&mp, sizeof mp), MINKE_OK);
    CHECK(mp.size == sizeof mp && mp.use_mmap && !mp.validate && mp.n_threads == 0);
    mp.validate = true;
    mp.n_threads = 2;
    CHECK_ST(minke_model_open(argv[1], &mp, &model), MINKE_OK);
    if (!model)
        return check_summary("test_api");
    CHECK(strcmp(minke_model_arch(model), "LlamaForCausalLM") == 0);
    CHECK(minke_model_n_vocab(model) == 49152);
    CHECK(minke_model_n_layers(model) == 30 && minke_model_n_embd(model) == 576);
    CHECK(minke_model_n_ctx_train(model) >= 2048);
    CHECK(minke_model_weight_bytes(model) > 50u * 1000 * 1000);
    CHECK_ST(minke_model_tokenizer(model, &tok), MINKE_OK);
    if (tok) {
        check_tokenizer(tok);
        check_tokenizer_alone(argv[1], tok, vocab);
        check_memory(model);
        check_generation(model, tok);
    }
    {
        minke_session *s = NULL;
        CHECK_ST(minke_session_new(model, NULL, &s), MINKE_OK);
        CHECK(minke_session_n_threads(s) == 2);
        minke_session_free(s);
    }
    check_read_in(argv[1], model);
    minke_model_free(model);
    return check_summary("test_api");
}
