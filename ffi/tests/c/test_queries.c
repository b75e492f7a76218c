/*
 * test_queries.c: what the C API tells about a model, a tokenizer and
 * the machine, and the callbacks it takes (issue 20): model sizes,
 * description, parameter and format counts, GGUF metadata; end-of-turn,
 * token spellings, chat template text and custom templates; the kernel
 * set; a session's thread count changed mid-conversation with the same
 * logits; the log callback (levels, threads, set from inside itself); the
 * load-progress callback (fractions, cancelling, an old-sized params
 * struct). Misuse of each: NULLs, bad indices, short buffers.
 *
 *   test_queries MODEL
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- the model --------------------------------------------------------- */

static void check_model(const minke_model *m)
{
    char buf[256];
    size_t n = 0, i, types, total_tensors = 0, meta;
    uint64_t params_sum = 0, nt = 0, np = 0;
    const char *name = NULL;

    /* SmolLM2-135M: 9 heads, 3 key/value heads, FFN 1536, dense. */
    CHECK(minke_model_n_heads(m) == 9);
    CHECK(minke_model_n_heads_kv(m) == 3);
    CHECK(minke_model_n_ff(m) == 1536);
    CHECK(minke_model_n_experts(m) == 0);
    CHECK(minke_model_n_experts_used(m) == 0);
    CHECK(minke_model_n_params(m) == 134515008u);

    CHECK_ST(minke_model_desc(m, buf, sizeof buf, &n), MINKE_OK);
    CHECK(strcmp(buf, "llama 135M Q4_1") == 0 && n == strlen(buf));
    CHECK_ST(minke_model_desc(m, NULL, 0, &n), MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK(n == strlen("llama 135M Q4_1"));
    CHECK_ST(minke_model_desc(m, buf, 5, &n), MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK(buf[0] == '\0');

    /* Formats, most parameters first; they add up to the model. */
    types = minke_model_n_tensor_types(m);
    CHECK(types >= 2);
    for (i = 0; i < types; i++) {
        CHECK_ST(minke_model_tensor_type(m, i, &name, &nt, &np), MINKE_OK);
        CHECK(name != NULL && name[0] != '\0');
        if (i == 0)
            CHECK(strcmp(name, "q4_1") == 0);
        total_tensors += nt;
        params_sum += np;
    }
    CHECK(params_sum == minke_model_n_params(m));
    CHECK(total_tensors > 100);
    CHECK_ST(minke_model_tensor_type(m, 0, NULL, NULL, NULL), MINKE_OK);
    CHECK_ST(minke_model_tensor_type(m, types, &name, &nt, &np), MINKE_ERR_INVALID_ARG);
    CHECK(strstr(minke_last_error(), "does not exist") != NULL);

    /* GGUF metadata, in file order, as text. */
    meta = minke_model_meta_count(m);
    CHECK(meta > 10);
    CHECK_ST(minke_model_meta_key_at(m, 0, buf, sizeof buf, &n), MINKE_OK);
    CHECK(strcmp(buf, "general.architecture") == 0);
    CHECK_ST(minke_model_meta_value_at(m, 0, buf, sizeof buf, &n), MINKE_OK);
    CHECK(strcmp(buf, "llama") == 0 && n == 5);
    CHECK_ST(minke_model_meta_value(m, "llama.context_length", buf, sizeof buf, &n), MINKE_OK);
    CHECK(strcmp(buf, "8192") == 0);
    CHECK((uint32_t)atoi(buf) == minke_model_n_ctx_train(m));
    CHECK_ST(minke_model_meta_value(m, "tokenizer.ggml.tokens", buf, sizeof buf, &n), MINKE_OK);
    CHECK(strstr(buf, "(49152 items)]") != NULL);
    CHECK_ST(minke_model_meta_value(m, "no.such.key", buf, sizeof buf, &n), MINKE_ERR_INVALID_ARG);
    CHECK(n == 0 && strstr(minke_last_error(), "no.such.key") != NULL);
    CHECK_ST(minke_model_meta_value(m, "\xff", buf, sizeof buf, &n), MINKE_ERR_UTF8);
    CHECK_ST(minke_model_meta_key_at(m, meta, buf, sizeof buf, &n), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_model_meta_value_at(m, meta, buf, sizeof buf, &n), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_model_meta_key_at(m, 0, buf, 3, &n), MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK(n == strlen("general.architecture"));

    /* Misuse. */
    CHECK(minke_model_n_heads(NULL) == 0 && minke_model_n_heads_kv(NULL) == 0);
    CHECK(minke_model_n_ff(NULL) == 0 && minke_model_n_experts(NULL) == 0);
    CHECK(minke_model_n_experts_used(NULL) == 0 && minke_model_n_params(NULL) == 0);
    CHECK(minke_model_n_tensor_types(NULL) == 0 && minke_model_meta_count(NULL) == 0);
    CHECK_ST(minke_model_desc(NULL, buf, sizeof buf, &n), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_model_desc(m, buf, sizeof buf, NULL), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_model_desc(m, NULL, 8, &n), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_model_meta_value(m, NULL, buf, sizeof buf, &n), MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_model_tensor_type(NULL, 0, &name, &nt, &np), MINKE_ERR_NULL_ARG);
}

/* ---- the tokenizer and chat templates --------------------------------- */

static void check_tokenizer(const minke_model *m, const minke_tokenizer *tok)
{
    static char tpl[64 * 1024], from_meta[64 * 1024];
    char buf[512];
    size_t n = 0, n_ids = 0, n_text = 0, i, specials = 0;
    uint32_t im_end = 0, ids[256], text_ids[256];
    int32_t eot = minke_tokenizer_eot(tok);
    minke_chat_message msgs[2] = {{"system", "Be brief."}, {"user", "Hi <|im_end|>"}};
    const char *custom = "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"
                         "{% if add_generation_prompt %}[assistant]{% endif %}{{ eos_token }}";

    CHECK_ST(minke_tokenizer_token_to_id(tok, "<|im_end|>", &im_end), MINKE_OK);
    CHECK(eot == (int32_t)im_end);
    CHECK(minke_tokenizer_is_eog(tok, (uint32_t)eot));
    CHECK(minke_tokenizer_eot(NULL) == -1);

    /* Spellings: the inverse of token_to_id. */
    CHECK_ST(minke_tokenizer_id_to_token(tok, im_end, buf, sizeof buf, &n), MINKE_OK);
    CHECK(strcmp(buf, "<|im_end|>") == 0);
    for (i = 300; i < 310; i++) {
        uint32_t back = 0;
        CHECK_ST(minke_tokenizer_id_to_token(tok, (uint32_t)i, buf, sizeof buf, &n), MINKE_OK);
        CHECK_ST(minke_tokenizer_token_to_id(tok, buf, &back), MINKE_OK);
        CHECK(back == i);
    }
    CHECK_ST(minke_tokenizer_id_to_token(tok, minke_tokenizer_n_vocab(tok), buf, sizeof buf, &n),
             MINKE_ERR_TOKEN_OUT_OF_RANGE);
    CHECK_ST(minke_tokenizer_id_to_token(tok, im_end, buf, 4, &n), MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK(n == strlen("<|im_end|>"));
    CHECK_ST(minke_tokenizer_id_to_token(NULL, 1, buf, sizeof buf, &n), MINKE_ERR_NULL_ARG);

    /* The model's template text, as the metadata holds it. */
    CHECK_ST(minke_tokenizer_chat_template(tok, NULL, 0, &n), MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK(n > 100 && n < sizeof tpl);
    CHECK_ST(minke_tokenizer_chat_template(tok, tpl, sizeof tpl, &n), MINKE_OK);
    CHECK_ST(minke_model_meta_value(m, "tokenizer.chat_template", from_meta, sizeof from_meta,
                                    &n),
             MINKE_OK);
    CHECK(strcmp(tpl, from_meta) == 0);
    CHECK(strstr(tpl, "<|im_start|>") != NULL);

    /* A custom template. */
    CHECK_ST(minke_tokenizer_apply_template(tok, custom, msgs, 2, true, buf, sizeof buf, &n),
             MINKE_OK);
    CHECK(strcmp(buf, "[system] Be brief.\n[user] Hi <|im_end|>\n[assistant]<|im_end|>") == 0);
    /* Encoded: only the template's own end of turn is a control token. */
    CHECK_ST(minke_tokenizer_encode_chat_template(tok, custom, msgs, 2, true, ids, 256, &n_ids),
             MINKE_OK);
    for (i = 0; i < n_ids; i++)
        specials += minke_tokenizer_is_special(tok, ids[i]) ? 1 : 0;
    CHECK(specials == 1 && ids[n_ids - 1] == im_end);
    /* The model's own template, given as a custom one, renders the same. */
    CHECK_ST(minke_tokenizer_apply_template(tok, tpl, msgs, 2, true, from_meta, sizeof from_meta,
                                            &n),
             MINKE_OK);
    CHECK_ST(minke_tokenizer_apply_chat_template(tok, msgs, 2, true, buf, sizeof buf, &n),
             MINKE_OK);
    CHECK(strcmp(buf, from_meta) == 0);
    CHECK_ST(minke_tokenizer_encode_chat(tok, msgs, 2, true, text_ids, 256, &n_text), MINKE_OK);
    CHECK_ST(minke_tokenizer_encode_chat_template(tok, tpl, msgs, 2, true, ids, 256, &n_ids),
             MINKE_OK);
    CHECK(n_ids == n_text && memcmp(ids, text_ids, n_ids * sizeof ids[0]) == 0);

    /* Bad templates are named errors; limits hold. */
    CHECK_ST(minke_tokenizer_apply_template(tok, "{% if %}", msgs, 2, true, buf, sizeof buf, &n),
             MINKE_ERR_TOKENIZER);
    CHECK(starts_with(minke_last_error(), "minke_tokenizer_apply_template: "));
    CHECK_ST(minke_tokenizer_apply_template(
                 tok, "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                 msgs, 2, false, buf, sizeof buf, &n),
             MINKE_ERR_TOKENIZER);
    CHECK(strstr(minke_last_error(), "fuel") != NULL);
    CHECK_ST(minke_tokenizer_apply_template(tok, NULL, msgs, 2, true, buf, sizeof buf, &n),
             MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_tokenizer_apply_template(tok, "\xc3", msgs, 2, true, buf, sizeof buf, &n),
             MINKE_ERR_UTF8);
    CHECK_ST(minke_tokenizer_apply_template(tok, custom, msgs, 2, true, buf, 3, &n),
             MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK_ST(minke_tokenizer_encode_chat_template(tok, custom, NULL, 2, true, ids, 256, &n_ids),
             MINKE_ERR_NULL_ARG);
    CHECK_ST(minke_tokenizer_encode_chat_template(tok, custom, msgs, 2, true, ids, 1, &n_ids),
             MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK_ST(minke_tokenizer_chat_template(NULL, buf, sizeof buf, &n), MINKE_ERR_NULL_ARG);
}

/* ---- the machine and threads ------------------------------------------ */

static void check_kernels(void)
{
    const char *k = minke_kernels_name();
    const char *known[] = {"scalar", "avx2", "avx512", "avx512-vnni", "neon", "neon-dotprod"};
    size_t i;
    int found = 0;
    for (i = 0; i < sizeof known / sizeof known[0]; i++)
        found |= strcmp(k, known[i]) == 0;
    CHECK_MSG(found, k);
    CHECK(minke_kernels_name() == k); /* chosen once */
}

/* Greedy: prefill `prompt`, then 8 tokens, changing threads as `plan`
 * says (0: keep); the logits of every step into `out` (8 * vocab). */
static void greedy(const minke_model *m, const uint32_t *prompt, size_t n_prompt,
                   const uint32_t *plan, float *out)
{
    minke_session_params sp;
    minke_session *s = NULL;
    const float *logits = NULL;
    uint32_t vocab = minke_model_n_vocab(m), tok, i, j;

    minke_session_default_params(&sp, sizeof sp);
    sp.n_ctx = 64;
    sp.n_threads = plan[0];
    CHECK_ST(minke_session_new(m, &sp, &s), MINKE_OK);
    if (s == NULL)
        return;
    CHECK_ST(minke_session_prefill(s, prompt, n_prompt, &logits), MINKE_OK);
    for (i = 0; i < 8; i++) {
        memcpy(out + (size_t)i * vocab, logits, vocab * sizeof *logits);
        for (tok = 0, j = 1; j < vocab; j++)
            if (logits[j] > logits[tok])
                tok = j;
        if (plan[i + 1] != 0) {
            CHECK_ST(minke_session_set_n_threads(s, plan[i + 1]), MINKE_OK);
            CHECK(minke_session_n_threads(s) == plan[i + 1]);
        }
        CHECK_ST(minke_session_decode(s, tok, &logits), MINKE_OK);
    }
    CHECK(minke_session_pos(s) == n_prompt + 8);
    minke_session_free(s);
}

static void check_threads(const minke_model *m, const minke_tokenizer *tok)
{
    uint32_t prompt[32];
    size_t n = 0, size = (size_t)8 * minke_model_n_vocab(m) * sizeof(float);
    const uint32_t one[9] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
    const uint32_t changing[9] = {1, 3, 2, 0, 4, 1, 0, 2, 0};
    float *a = malloc(size), *b = malloc(size);
    minke_session *s = NULL;

    CHECK_ST(minke_tokenizer_encode(tok, "The capital of France is", true, prompt, 32, &n),
             MINKE_OK);
    if (a == NULL || b == NULL) {
        CHECK(0);
        free(a);
        free(b);
        return;
    }
    greedy(m, prompt, n, one, a);
    greedy(m, prompt, n, changing, b);
    CHECK(memcmp(a, b, size) == 0);

    CHECK_ST(minke_session_new(m, NULL, &s), MINKE_OK);
    CHECK_ST(minke_session_set_n_threads(s, 0), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_session_set_n_threads(s, 3), MINKE_OK);
    CHECK(minke_session_n_threads(s) == 3);
    CHECK_ST(minke_session_set_n_threads(s, 2), MINKE_OK);
    CHECK(minke_session_n_threads(s) == 2);
    CHECK_ST(minke_session_set_n_threads(NULL, 2), MINKE_ERR_NULL_ARG);
    minke_session_free(s);
    free(a);
    free(b);
}

/* ---- the log ----------------------------------------------------------- */

typedef struct {
    pthread_mutex_t lock;
    int count[5];
    char info[512];   /* the first INFO message */
    char debug[512];  /* the last DEBUG message */
    minke_status set_inside; /* what minke_log_set answered from inside */
    int try_set_inside;
} log_seen;

static void on_log(minke_log_level level, const char *text, void *user_data)
{
    log_seen *s = user_data;
    pthread_mutex_lock(&s->lock);
    if ((int)level >= 1 && (int)level <= 4)
        s->count[level]++;
    if (level == MINKE_LOG_INFO && s->info[0] == '\0')
        snprintf(s->info, sizeof s->info, "%s", text);
    if (level == MINKE_LOG_DEBUG)
        snprintf(s->debug, sizeof s->debug, "%s", text);
    pthread_mutex_unlock(&s->lock);
    if (s->try_set_inside) {
        s->try_set_inside = 0;
        s->set_inside = minke_log_set(NULL, MINKE_LOG_DEBUG, NULL);
    }
}

typedef struct {
    const char *path;
    minke_status st;
} open_job;

/* Opens and frees a model; the status in the job (checked by the main
 * thread: CHECK's counters are not shared between threads). */
static void *open_and_free(void *arg)
{
    open_job *job = arg;
    minke_model *m = NULL;
    job->st = minke_model_open(job->path, NULL, &m);
    minke_model_free(m);
    return NULL;
}

static void check_log(const char *path)
{
    static log_seen s;
    minke_model *m = NULL;
    pthread_t th[3];
    open_job jobs[3];
    int i;
    char desc[64];
    size_t n;

    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.lock, NULL);
    CHECK_ST(minke_log_set(on_log, 0, &s), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_log_set(on_log, 5, &s), MINKE_ERR_INVALID_ARG);

    /* INFO and above: a model opened says what it is. */
    CHECK_ST(minke_log_set(on_log, MINKE_LOG_INFO, &s), MINKE_OK);
    CHECK_ST(minke_model_open(path, NULL, &m), MINKE_OK);
    CHECK_ST(minke_model_desc(m, desc, sizeof desc, &n), MINKE_OK);
    CHECK_MSG(strstr(s.info, desc) != NULL, s.info);
    CHECK(s.count[MINKE_LOG_DEBUG] == 0);

    /* DEBUG: a failing call logs its message, named as minke_last_error. */
    CHECK_ST(minke_log_set(on_log, MINKE_LOG_DEBUG, &s), MINKE_OK);
    CHECK_ST(minke_model_meta_value(m, "no.such.key", desc, sizeof desc, &n),
             MINKE_ERR_INVALID_ARG);
    CHECK_MSG(strcmp(s.debug, minke_last_error()) == 0, s.debug);
    minke_model_free(m);

    /* From several threads at once: every open logged. */
    memset(s.count, 0, sizeof s.count);
    for (i = 0; i < 3; i++) {
        jobs[i].path = path;
        jobs[i].st = MINKE_ERR_INTERNAL;
        CHECK(pthread_create(&th[i], NULL, open_and_free, &jobs[i]) == 0);
    }
    for (i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK_ST(jobs[i].st, MINKE_OK);
    }
    CHECK(s.count[MINKE_LOG_INFO] == 3);

    /* The callback cannot change the callback. */
    s.try_set_inside = 1;
    s.set_inside = MINKE_OK;
    CHECK_ST(minke_model_meta_value(NULL, "x", desc, sizeof desc, &n), MINKE_ERR_NULL_ARG);
    CHECK(s.set_inside == MINKE_ERR_INVALID_ARG);

    /* Silenced: nothing more arrives. */
    CHECK_ST(minke_log_set(NULL, MINKE_LOG_DEBUG, NULL), MINKE_OK);
    memset(s.count, 0, sizeof s.count);
    jobs[0].path = path;
    open_and_free(&jobs[0]);
    CHECK_ST(jobs[0].st, MINKE_OK);
    CHECK(s.count[MINKE_LOG_INFO] == 0 && s.count[MINKE_LOG_DEBUG] == 0);
    pthread_mutex_destroy(&s.lock);
}

/* ---- load progress ----------------------------------------------------- */

typedef struct {
    float seen[4096];
    int n;
    int stop_at; /* answer false on this call (0-based); -1: never */
    int monotonic;
} progress_seen;

static bool on_progress(float x, void *user_data)
{
    progress_seen *p = user_data;
    if (p->n > 0 && x < p->seen[(p->n - 1) % 4096])
        p->monotonic = 0;
    p->seen[p->n % 4096] = x;
    p->n++;
    return p->n - 1 != p->stop_at;
}

static void check_progress(const char *path)
{
    static progress_seen p;
    minke_model_params mp;
    minke_model *m = NULL;
    int use_mmap, i;
    const int stops[3] = {0, 5, 100};

    for (use_mmap = 0; use_mmap < 2; use_mmap++) {
        CHECK_ST(minke_model_default_params(&mp, sizeof mp), MINKE_OK);
        CHECK(mp.progress == NULL && mp.progress_user_data == NULL);
        mp.use_mmap = use_mmap;
        mp.progress = on_progress;
        mp.progress_user_data = &p;
        memset(&p, 0, sizeof p);
        p.stop_at = -1;
        p.monotonic = 1;
        CHECK_ST(minke_model_open(path, &mp, &m), MINKE_OK);
        CHECK(m != NULL);
        CHECK(p.n > 100 && p.monotonic);
        CHECK(p.seen[0] == 0.0f && p.seen[(p.n - 1) % 4096] == 1.0f);
        minke_model_free(m);

        /* Stopped: MINKE_ERR_ABORTED, no model, no call after the stop. */
        for (i = 0; i < 3; i++) {
            memset(&p, 0, sizeof p);
            p.stop_at = stops[i];
            m = (minke_model *)&p;
            CHECK_ST(minke_model_open(path, &mp, &m), MINKE_ERR_ABORTED);
            CHECK(m == NULL);
            CHECK(p.n == stops[i] + 1);
            CHECK(starts_with(minke_last_error(), "minke_model_open: aborted: "));
        }
    }

    /* A caller built against the first, 12-byte struct: the fields past
     * its size are not read, however they are set. */
    memset(&p, 0, sizeof p);
    CHECK_ST(minke_model_default_params(&mp, sizeof mp), MINKE_OK);
    mp.size = 12;
    mp.progress = on_progress;
    mp.progress_user_data = &p;
    CHECK_ST(minke_model_open(path, &mp, &m), MINKE_OK);
    CHECK(p.n == 0);
    minke_model_free(m);
}

int main(int argc, char **argv)
{
    minke_model *m = NULL;
    const minke_tokenizer *tok = NULL;

    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL\n", argv[0]);
        return 2;
    }
    check_kernels();
    check_progress(argv[1]);
    check_log(argv[1]);
    CHECK_ST(minke_model_open(argv[1], NULL, &m), MINKE_OK);
    if (m == NULL)
        return check_summary("test_queries");
    CHECK_ST(minke_model_tokenizer(m, &tok), MINKE_OK);
    check_model(m);
    if (tok != NULL) {
        check_tokenizer(m, tok);
        check_threads(m, tok);
    }
    minke_model_free(m);
    return check_summary("test_queries");
}
