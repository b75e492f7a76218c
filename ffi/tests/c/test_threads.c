/*
 * test_threads.c: one model shared by four sessions on four threads. Each
 * thread's greedy continuation must equal the one computed alone on the
 * main thread beforehand; each thread's minke_last_error() is its own.
 * Meanwhile two more threads churn: sessions (two worker threads each) and
 * samplers created, run a little, and freed, a second handle of the same
 * model opened and freed, over and over, while the others generate.
 *
 *   test_threads MODEL
 */
#include "check.h"

#include <pthread.h>
#include <string.h>

#define N_THREADS 4
#define N_GEN 24
#define N_CHURN 2
#define CHURN_ROUNDS 12

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

typedef struct {
    const minke_model *model;
    const char *path;
    int rounds_ok;
} churn_job;

/* Creates, uses and frees sessions, samplers and model handles. */
static void *churn_main(void *arg)
{
    churn_job *c = arg;
    uint32_t ids[4] = {1, 504, 3458, 28};
    int r;

    for (r = 0; r < CHURN_ROUNDS; r++) {
        minke_session *s = NULL;
        minke_sampler *smp = NULL;
        minke_model *m2 = NULL;
        minke_session_params sp;
        const float *logits = NULL;
        uint32_t tok = 0;
        int ok = 1;

        minke_session_default_params(&sp, sizeof sp);
        sp.n_ctx = 32 + 8 * (uint32_t)r;
        sp.n_threads = 2;
        ok &= minke_session_new(c->model, &sp, &s) == MINKE_OK;
        ok &= minke_sampler_new(c->model, NULL, &smp) == MINKE_OK;
        ok &= s && minke_session_prefill(s, ids, 4, &logits) == MINKE_OK;
        ok &= smp && logits &&
              minke_sampler_sample(smp, logits, minke_model_n_vocab(c->model), &tok) == MINKE_OK;
        ok &= s && minke_session_decode(s, tok, &logits) == MINKE_OK;
        minke_sampler_free(smp);
        minke_session_free(s);
        if (r % 4 == 0) {
            ok &= minke_model_open(c->path, NULL, &m2) == MINKE_OK;
            ok &= m2 && minke_session_new(m2, &sp, &s) == MINKE_OK;
            /* The handle goes first; the session keeps the weights. */
            minke_model_free(m2);
            ok &= s && minke_session_prefill(s, ids, 2, &logits) == MINKE_OK;
            minke_session_free(s);
        }
        c->rounds_ok += ok;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    minke_model *model = NULL;
    const minke_tokenizer *tok = NULL;
    job alone[N_THREADS], together[N_THREADS];
    pthread_t th[N_THREADS], churn_th[N_CHURN];
    churn_job churn[N_CHURN];
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
    for (i = 0; i < N_CHURN; i++) {
        churn[i].model = model;
        churn[i].path = argv[1];
        churn[i].rounds_ok = 0;
        CHECK(pthread_create(&churn_th[i], NULL, churn_main, &churn[i]) == 0);
    }
    for (i = 0; i < N_THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, thread_main, &together[i]) == 0);
    for (i = 0; i < N_THREADS; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    for (i = 0; i < N_CHURN; i++) {
        CHECK(pthread_join(churn_th[i], NULL) == 0);
        CHECK(churn[i].rounds_ok == CHURN_ROUNDS);
    }
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
