/*
 * test_threads.c: one model shared by four sessions on four threads. Each
 * thread's greedy continuation must equal the one computed alone on the
 * main thread beforehand; each thread's minke_last_error() is its own.
 *
 *   test_threads MODEL
 */
#include "check.h"

#include <pthread.h>
#include <string.h>

#define N_THREADS 4
#define N_GEN 24

static const char *const PROMPTS[N_THREADS] = {
    "The capital of France is",
    "Once upon a time, in a small village,",
    "def fibonacci(n):",
    "Water boils at a temperature of",
};

typedef struct {
    const minke_model *model;
    const minke_tokenizer *tok;
    const char *prompt;
    uint32_t out[N_GEN];
    int ok;
    int own_error; /* last error stayed this thread's */
} job;

/* Greedy continuation of job->prompt into job->out; returns 1 on success. */
static int run(job *j)
{
    minke_session *s = NULL;
    minke_sampler *smp = NULL;
    minke_session_params sp;
    uint32_t ids[64];
    size_t n_ids = 0, i;
    const float *logits = NULL;
    int ok = 0;

    if (minke_tokenizer_encode(j->tok, j->prompt, true, ids, 64, &n_ids) != MINKE_OK)
        return 0;
    minke_session_default_params(&sp, sizeof sp);
    sp.n_ctx = 128;
    sp.n_threads = 1;
    if (minke_session_new(j->model, &sp, &s) != MINKE_OK ||
        minke_sampler_new(j->model, NULL, &smp) != MINKE_OK)
        goto done;
    if (minke_session_prefill(s, ids, n_ids, &logits) != MINKE_OK)
        goto done;
    for (i = 0; i < N_GEN; i++) {
        if (minke_sampler_sample(smp, logits, minke_model_n_vocab(j->model), &j->out[i]) != MINKE_OK)
            goto done;
        minke_sampler_accept(smp, j->out[i]);
        if (minke_session_decode(s, j->out[i], &logits) != MINKE_OK)
            goto done;
    }
    ok = 1;
done:
    minke_sampler_free(smp);
    minke_session_free(s);
    return ok;
}

static void *thread_main(void *arg)
{
    job *j = arg;
    char want[64];
    j->ok = run(j);
    /* An error on this thread; another thread's must not replace it. */
    minke_session_rewind(NULL, 0);
    sprintf(want, "minke_session_rewind: `session` is NULL");
    j->own_error = strcmp(minke_last_error(), want) == 0;
    return NULL;
}

int main(int argc, char **argv)
{
    minke_model *model = NULL;
    const minke_tokenizer *tok = NULL;
    job alone[N_THREADS], together[N_THREADS];
    pthread_t th[N_THREADS];
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL\n", argv[0]);
        return 2;
    }
    CHECK_ST(minke_model_open(argv[1], NULL, &model), MINKE_OK);
    CHECK_ST(minke_model_tokenizer(model, &tok), MINKE_OK);
    if (!model || !tok)
        return check_summary("test_threads");

    for (i = 0; i < N_THREADS; i++) {
        memset(&alone[i], 0, sizeof alone[i]);
        alone[i].model = model;
        alone[i].tok = tok;
        alone[i].prompt = PROMPTS[i];
        together[i] = alone[i];
        CHECK(run(&alone[i]));
    }
    for (i = 0; i < N_THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, thread_main, &together[i]) == 0);
    for (i = 0; i < N_THREADS; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    for (i = 0; i < N_THREADS; i++) {
        CHECK(together[i].ok);
        CHECK(together[i].own_error);
        CHECK(memcmp(alone[i].out, together[i].out, sizeof alone[i].out) == 0);
    }
    /* Different prompts gave different continuations (the test compares
     * something). */
    CHECK(memcmp(alone[0].out, alone[1].out, sizeof alone[0].out) != 0);
    minke_model_free(model);
    return check_summary("test_threads");
}
