/*
 * test_state.c: session state, the abort callback, logits at any held
 * position, the token ids of minke_generate() and a sampler's state
 * (issue 20), on the real model, misuse included.
 *
 *   test_state MODEL [OTHER_MODEL]
 *
 * OTHER_MODEL (default tests/fixtures/llama_gqa, from the repository
 * root) is any other model: its sessions must refuse MODEL's states.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROMPT                                                                           \
    "You are a careful assistant for a small museum of maritime history. Answer in "    \
    "short, plain sentences, name your sources when you can, and say so when you do "   \
    "not know. The museum keeps ship models, navigation instruments, logbooks and "     \
    "photographs from the nineteenth and twentieth centuries."

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static minke_session *new_session(const minke_model *m, uint32_t n_ctx, uint32_t kv,
                                  bool logits_all)
{
    minke_session_params sp;
    minke_session *s = NULL;
    minke_session_default_params(&sp, sizeof sp);
    sp.n_ctx = n_ctx;
    sp.kv_type = kv;
    sp.logits_all = logits_all;
    sp.n_threads = 2;
    CHECK_ST(minke_session_new(m, &sp, &s), MINKE_OK);
    return s;
}

static size_t encode(const minke_model *m, const char *text, uint32_t *ids, size_t cap)
{
    size_t n = 0;
    const minke_tokenizer *tok = NULL;
    CHECK_ST(minke_model_tokenizer(m, &tok), MINKE_OK);
    CHECK_ST(minke_tokenizer_encode(tok, text, true, ids, cap, &n), MINKE_OK);
    return n;
}

/* The state of `s` in a new buffer (size checked against the query). */
static uint8_t *get_state(const minke_session *s, size_t *len)
{
    size_t size = 0, need = 0, written = 0;
    uint8_t *buf;
    CHECK_ST(minke_session_state_size(s, &size), MINKE_OK);
    CHECK_ST(minke_session_state_get(s, NULL, 0, &need), MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK(need == size && size > 64);
    buf = malloc(size);
    CHECK_ST(minke_session_state_get(s, buf, size - 1, &written), MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK_ST(minke_session_state_get(s, buf, size, &written), MINKE_OK);
    CHECK(written == size);
    *len = size;
    return buf;
}

static bool same_logits(const minke_session *a, const minke_session *b)
{
    const float *la = NULL, *lb = NULL;
    size_t na = 0, nb = 0;
    CHECK_ST(minke_session_logits(a, &la, &na), MINKE_OK);
    CHECK_ST(minke_session_logits(b, &lb, &nb), MINKE_OK);
    return na == nb && na > 0 && memcmp(la, lb, na * sizeof *la) == 0;
}

static void check_round_trip(const minke_model *m, const minke_model *other)
{
    uint32_t ids[256], ta[300], tb[300];
    size_t n = encode(m, PROMPT, ids, 256), len = 0, na = 0, nb = 0;
    minke_session *a = new_session(m, 256, MINKE_KV_F16, false);
    minke_session *b = new_session(m, 512, MINKE_KV_F16, false);
    minke_session *f32 = new_session(m, 256, MINKE_KV_F32, false);
    minke_session *tiny = new_session(m, 16, MINKE_KV_F16, false);
    minke_session *o = new_session(other, 256, MINKE_KV_F16, false);
    uint8_t *st;
    double t0, prefill_ms, restore_ms;

    CHECK(n > 40);
    t0 = now_ms();
    CHECK_ST(minke_session_prefill(a, ids, n, NULL), MINKE_OK);
    prefill_ms = now_ms() - t0;
    st = get_state(a, &len);

    CHECK_ST(minke_session_prefill(b, ids, 3, NULL), MINKE_OK);
    t0 = now_ms();
    CHECK_ST(minke_session_state_set(b, st, len), MINKE_OK);
    restore_ms = now_ms() - t0;
    printf("test_state: %zu-token prompt: prefill %.1f ms, restore %.2f ms (%zu bytes)\n", n,
           prefill_ms, restore_ms, len);
    CHECK(minke_session_pos(b) == n);
    CHECK(same_logits(a, b));
    CHECK_ST(minke_session_tokens(a, ta, 300, &na), MINKE_OK);
    CHECK_ST(minke_session_tokens(b, tb, 300, &nb), MINKE_OK);
    CHECK(na == n && nb == n && memcmp(ta, tb, n * sizeof *ta) == 0 &&
          memcmp(ta, ids, n * sizeof *ta) == 0);
    CHECK_ST(minke_session_tokens(a, ta, n - 1, &na), MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK(na == n);
    /* The next tokens: the same bits in both. */
    CHECK_ST(minke_session_decode(a, ids[5], NULL), MINKE_OK);
    CHECK_ST(minke_session_decode(b, ids[5], NULL), MINKE_OK);
    CHECK(same_logits(a, b));

    /* Refused whole: the session keeps its position. */
    CHECK_ST(minke_session_state_set(b, st, len - 1), MINKE_ERR_STATE);
    CHECK_ST(minke_session_state_set(b, st, 10), MINKE_ERR_STATE);
    st[len / 2] ^= 0x40;
    CHECK_ST(minke_session_state_set(b, st, len), MINKE_ERR_STATE);
    CHECK(strstr(minke_last_error(), "minke_session_state_set") == minke_last_error());
    CHECK(strstr(minke_last_error(), "checksum") != NULL);
    st[len / 2] ^= 0x40;
    CHECK(minke_session_pos(b) == n + 1);
    CHECK_ST(minke_session_state_set(f32, st, len), MINKE_ERR_STATE);
    CHECK(strstr(minke_last_error(), "KV cache") != NULL);
    CHECK_ST(minke_session_state_set(tiny, st, len), MINKE_ERR_STATE);
    CHECK_ST(minke_session_state_set(o, st, len), MINKE_ERR_STATE);
    CHECK(strstr(minke_last_error(), "another model") != NULL);
    CHECK(minke_session_pos(o) == 0);

    /* Misuse. */
    CHECK_ST(minke_session_state_size(NULL, &len), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_state_size(a, NULL), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_state_get(a, NULL, (size_t)1 << 30, &len), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_state_get(a, st, (size_t)1 << 30, NULL), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_state_set(NULL, st, len), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_state_set(b, NULL, 5), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_state_set(b, NULL, 0), MINKE_ERR_STATE);
    CHECK_ST(minke_session_tokens(NULL, ta, 1, &na), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_tokens(a, NULL, 4, &na), MINKE_ERR_NULL_ARG);

    free(st);
    minke_session_free(a);
    minke_session_free(b);
    minke_session_free(f32);
    minke_session_free(tiny);
    minke_session_free(o);
}

static void check_files(const minke_model *m)
{
    char path[256], cut[256];
    uint32_t ids[256];
    size_t n = encode(m, PROMPT, ids, 256), len = 0;
    minke_session *a = new_session(m, 256, MINKE_KV_F16, false);
    minke_session *b = new_session(m, 256, MINKE_KV_F16, false);
    uint8_t *st;
    FILE *f;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

    snprintf(path, sizeof path, "%s/minke-test-state-%d.bin", dir, (int)getpid());
    snprintf(cut, sizeof cut, "%s/minke-test-state-cut-%d.bin", dir, (int)getpid());
    CHECK_ST(minke_session_prefill(a, ids, n, NULL), MINKE_OK);
    CHECK_ST(minke_session_state_save_file(a, path), MINKE_OK);
    CHECK_ST(minke_session_state_load_file(b, path), MINKE_OK);
    CHECK(same_logits(a, b) && minke_session_pos(b) == n);

    st = get_state(a, &len);
    f = fopen(cut, "wb");
    CHECK(f != NULL);
    if (f) {
        fwrite(st, 1, len - 100, f);
        fclose(f);
    }
    CHECK_ST(minke_session_state_load_file(b, cut), MINKE_ERR_STATE);
    CHECK(strstr(minke_last_error(), "truncated") != NULL);
    CHECK(minke_session_pos(b) == n);
    CHECK_ST(minke_session_state_load_file(b, "/nonexistent/minke.state"), MINKE_ERR_IO);
    CHECK_ST(minke_session_state_save_file(a, "/nonexistent/dir/minke.state"), MINKE_ERR_IO);
    CHECK_ST(minke_session_state_load_file(b, NULL), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_state_save_file(NULL, path), MINKE_ERR_NULL_ARG);
    remove(path);
    remove(cut);
    free(st);
    minke_session_free(a);
    minke_session_free(b);
}

/* The flag another thread raises, and how often the callback looked. */
struct flag {
    pthread_mutex_t lock;
    int raised;
    int asked;
    double raised_ms;
};

static bool abort_when_flagged(void *user_data)
{
    struct flag *f = user_data;
    int raised;
    pthread_mutex_lock(&f->lock);
    f->asked++;
    raised = f->raised;
    pthread_mutex_unlock(&f->lock);
    return raised != 0;
}

static void *raise_flag_later(void *arg)
{
    struct flag *f = arg;
    struct timespec wait = {0, 150 * 1000 * 1000};
    nanosleep(&wait, NULL);
    pthread_mutex_lock(&f->lock);
    f->raised_ms = now_ms();
    f->raised = 1;
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

static void check_abort(const minke_model *m)
{
    /* A prompt far longer than 150 ms of prefill. */
    size_t n = 2000, i, len = 0;
    uint32_t *ids = malloc(n * sizeof *ids), n_vocab = minke_model_n_vocab(m);
    minke_session *s = new_session(m, 2048, MINKE_KV_F16, false);
    pthread_t th;
    double latency;
    struct flag flag = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0.0};

    for (i = 0; i < n; i++)
        ids[i] = (uint32_t)((i * 7919u + 17u) % n_vocab);
    CHECK_ST(minke_session_set_abort_callback(s, abort_when_flagged, &flag), MINKE_OK);
    pthread_create(&th, NULL, raise_flag_later, &flag);
    CHECK_ST(minke_session_prefill(s, ids, n, NULL), MINKE_ERR_ABORTED);
    pthread_join(th, NULL);
    latency = now_ms() - flag.raised_ms;
    printf("test_state: abort honoured %.1f ms after the flag, at position %u of %zu\n",
           latency, minke_session_pos(s), n);
    CHECK(strstr(minke_last_error(), "minke_session_prefill") == minke_last_error());
    CHECK(latency < 1000.0);
    CHECK(minke_session_pos(s) < n && minke_session_pos(s) % 64 == 0);
    CHECK(flag.asked > 0);

    /* Without the callback the rest of the prompt runs. */
    CHECK_ST(minke_session_set_abort_callback(s, NULL, NULL), MINKE_OK);
    len = minke_session_pos(s);
    CHECK_ST(minke_session_prefill(s, ids + len, 100, NULL), MINKE_OK);
    CHECK(minke_session_pos(s) == len + 100);
    CHECK_ST(minke_session_set_abort_callback(NULL, NULL, NULL), MINKE_ERR_NULL_ARG);
    free(ids);
    minke_session_free(s);
}

static void check_logits_at(const minke_model *m)
{
    uint32_t ids[64];
    size_t n = encode(m, "The quick brown fox jumps over the lazy dog", ids, 64), nv = 0, nl = 0,
           i;
    minke_session *all = new_session(m, 128, MINKE_KV_F16, true);
    minke_session *one = new_session(m, 128, MINKE_KV_F16, false);
    const float *l = NULL, *last = NULL;

    CHECK(n > 5);
    CHECK_ST(minke_session_logits_at(all, 0, &l, &nv), MINKE_ERR_INVALID_ARG);
    CHECK(strstr(minke_last_error(), "none") != NULL);
    CHECK_ST(minke_session_prefill(all, ids, n, NULL), MINKE_OK);
    for (i = 0; i < n; i++) {
        /* Position i's logits equal a session's that stopped at i. */
        CHECK_ST(minke_session_logits_at(all, (uint32_t)i, &l, &nv), MINKE_OK);
        CHECK_ST(minke_session_rewind(one, 0), MINKE_OK);
        CHECK_ST(minke_session_prefill(one, ids, i + 1, &last), MINKE_OK);
        CHECK(nv == minke_model_n_vocab(m) && memcmp(l, last, nv * sizeof *l) == 0);
    }
    CHECK_ST(minke_session_logits_at(all, (uint32_t)n, &l, &nv), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_session_logits(all, &last, &nl), MINKE_OK);
    CHECK_ST(minke_session_logits_at(all, (uint32_t)n - 1, &l, &nv), MINKE_OK);
    CHECK(l == last);
    CHECK_ST(minke_session_logits_at(one, 0, &l, &nv), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_session_logits_at(NULL, 0, &l, &nv), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_session_logits_at(all, 0, NULL, &nv), MINKE_ERR_NULL_ARG);
    minke_session_free(all);
    minke_session_free(one);
}

static void check_generate_ids(const minke_model *m)
{
    uint32_t ids[64], gen[8], held[128];
    size_t n = encode(m, "The capital of France is", ids, 64), nh = 0;
    minke_session *s = new_session(m, 128, MINKE_KV_F16, false);
    minke_sampler *sm = NULL;
    minke_sampler_params smp;
    minke_generate_params gp;
    minke_generate_result r;

    minke_sampler_default_params(&smp, sizeof smp);
    smp.temperature = 0.0f;
    CHECK_ST(minke_sampler_new(m, &smp, &sm), MINKE_OK);
    minke_generate_default_params(&gp, sizeof gp);
    minke_generate_default_result(&r, sizeof r);
    gp.max_tokens = 12;
    gp.stop_at_eos = false;
    gp.tokens = gen;
    gp.tokens_capacity = 8;
    CHECK_ST(minke_generate(s, sm, ids, n, &gp, NULL, NULL, &r), MINKE_OK);
    CHECK(r.n_tokens == 12);
    /* The session holds the prompt and every generated token but the
     * last; the first 8 came back in `gen`. */
    CHECK_ST(minke_session_tokens(s, held, 128, &nh), MINKE_OK);
    CHECK(nh == n + 11 && memcmp(held + n, gen, 8 * sizeof *gen) == 0);

    gp.tokens = NULL;
    CHECK_ST(minke_generate(s, sm, ids, 1, &gp, NULL, NULL, &r), MINKE_ERR_NULL_ARG);
    /* A caller built against the first version of the struct. */
    gp.tokens_capacity = 0;
    gp.size = 32;
    CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
    CHECK_ST(minke_generate(s, sm, ids, n, &gp, NULL, NULL, &r), MINKE_OK);
    minke_sampler_free(sm);
    minke_session_free(s);
}

/* Samples `n` tokens at a temperature, decoding each: the ids to `out`. */
static void sample_on(minke_session *s, minke_sampler *sm, uint32_t *out, size_t n)
{
    const float *l = NULL;
    size_t nv = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK_ST(minke_session_logits(s, &l, &nv), MINKE_OK);
        CHECK_ST(minke_sampler_sample(sm, l, nv, &out[i]), MINKE_OK);
        CHECK_ST(minke_sampler_accept(sm, out[i]), MINKE_OK);
        CHECK_ST(minke_session_decode(s, out[i], &l), MINKE_OK);
    }
}

static minke_sampler *warm_sampler(const minke_model *m, uint64_t seed, uint32_t last_n)
{
    minke_sampler *sm = NULL;
    minke_sampler_params p;
    minke_sampler_default_params(&p, sizeof p);
    p.temperature = 0.9f;
    p.top_k = 40;
    p.repeat_penalty = 1.2f;
    p.penalty_last_n = last_n;
    p.seed = seed;
    CHECK_ST(minke_sampler_new(m, &p, &sm), MINKE_OK);
    return sm;
}

/* A conversation put aside mid-way, session and sampler, continues with
 * the same sampled tokens after both are restored elsewhere. */
static void check_sampler_state(const minke_model *m)
{
    uint32_t ids[64], ahead[24], again[24], t = 0;
    size_t n = encode(m, "Once upon a time", ids, 64), len = 0, slen = 0, need = 0, w = 0;
    minke_session *a = new_session(m, 128, MINKE_KV_F16, false);
    minke_session *b = new_session(m, 128, MINKE_KV_F16, false);
    minke_sampler *sa = warm_sampler(m, 11, 8), *sb = warm_sampler(m, 5, 8);
    minke_sampler *narrow = warm_sampler(m, 11, 4);
    uint8_t *state, *sstate;
    const float *l = NULL;

    CHECK_ST(minke_session_prefill(a, ids, n, &l), MINKE_OK);
    for (size_t i = 0; i < n; i++)
        CHECK_ST(minke_sampler_accept(sa, ids[i]), MINKE_OK);
    sample_on(a, sa, ahead, 6);
    state = get_state(a, &len);
    CHECK_ST(minke_sampler_state_size(sa, &slen), MINKE_OK);
    CHECK(slen == 80 + 4 * 8); /* the prompt and 6 tokens fill the window */
    sstate = malloc(slen);
    CHECK_ST(minke_sampler_state_get(sa, NULL, 0, &need), MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK(need == slen);
    CHECK_ST(minke_sampler_state_get(sa, sstate, slen, &w), MINKE_OK);
    CHECK(w == slen);
    sample_on(a, sa, ahead, 24);

    /* b: another seed, some tokens of its own, then a's state. */
    CHECK_ST(minke_sampler_accept(sb, 42), MINKE_OK);
    CHECK_ST(minke_sampler_sample(sb, l, minke_model_n_vocab(m), &t), MINKE_OK);
    CHECK_ST(minke_session_state_set(b, state, len), MINKE_OK);
    CHECK_ST(minke_sampler_state_set(sb, sstate, slen), MINKE_OK);
    sample_on(b, sb, again, 24);
    CHECK(memcmp(ahead, again, sizeof ahead) == 0);

    /* Misuse: another penalty window, a damaged byte, NULLs. */
    CHECK_ST(minke_sampler_state_set(narrow, sstate, slen), MINKE_ERR_STATE);
    CHECK(strstr(minke_last_error(), "minke_sampler_state_set") == minke_last_error());
    CHECK(strstr(minke_last_error(), "penalty window") != NULL);
    sstate[90] ^= 4;
    CHECK_ST(minke_sampler_state_set(sb, sstate, slen), MINKE_ERR_STATE);
    CHECK(strstr(minke_last_error(), "checksum") != NULL);
    CHECK_ST(minke_sampler_state_set(sb, NULL, slen), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_sampler_state_set(NULL, sstate, slen), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_sampler_state_get(sb, NULL, 1000, &w), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_sampler_state_size(sb, NULL), MINKE_ERR_NULL_ARG);
    free(sstate);
    free(state);
    minke_sampler_free(narrow);
    minke_sampler_free(sb);
    minke_sampler_free(sa);
    minke_session_free(b);
    minke_session_free(a);
}

int main(int argc, char **argv)
{
    minke_model *m = NULL, *other = NULL;
    const char *other_path = argc > 2 ? argv[2] : "tests/fixtures/llama_gqa";
    if (argc < 2) {
        fprintf(stderr, "usage: test_state MODEL [OTHER_MODEL]\n");
        return 2;
    }
    CHECK_ST(minke_model_open(argv[1], NULL, &m), MINKE_OK);
    CHECK_ST(minke_model_open(other_path, NULL, &other), MINKE_OK);
    if (m && other) {
        check_round_trip(m, other);
        check_files(m);
        check_abort(m);
        check_logits_at(m);
        check_generate_ids(m);
        check_sampler_state(m);
    }
    minke_model_free(m);
    minke_model_free(other);
    return check_summary("test_state");
}
