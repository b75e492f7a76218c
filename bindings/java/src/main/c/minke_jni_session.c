/*
 * minke_jni_session.c: the natives of sessions, samplers, generation with
 * a streaming callback, scores, best-of-N with a ranking callback, and
 * LoRA adapters. A session's state and cancellation are in
 * minke_jni_state.c.
 *
 * Callbacks: the C library calls a trampoline here, which calls a
 * dev.minke.Callbacks object on the same thread. That object catches what
 * the app's callback throws and answers "stop" (false, or NaN for a
 * ranker); a JNI failure in the trampoline itself (no memory for the
 * piece's bytes) leaves its exception pending and answers "stop" too. No
 * exception unwinds through the C library, and a pending one propagates
 * when the native returns.
 */
#include "minke_jni.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SESSION(h) MJ_SESSION(h)
#define SAMPLER(h) MJ_PTR(minke_sampler, h)
#define MODEL(h) MJ_PTR(const minke_model, h)

/* ------------------------------------------------------------------------ */
/* Params: the C library's defaults into the Java object, and back */

static int read_session_params(JNIEnv *env, jobject params, minke_session_params *p)
{
    if (mj_failed(env, minke_session_default_params(p, sizeof *p)))
        return -1;
    p->n_ctx = (uint32_t)(*env)->GetIntField(env, params, mj.session_n_ctx);
    p->n_threads = (uint32_t)(*env)->GetIntField(env, params, mj.session_n_threads);
    p->n_batch = (uint32_t)(*env)->GetIntField(env, params, mj.session_n_batch);
    p->kv_type = (uint32_t)(*env)->GetIntField(env, params, mj.session_kv_type);
    p->logits_all = (*env)->GetBooleanField(env, params, mj.session_logits_all) == JNI_TRUE;
    p->flags = (uint32_t)(*env)->GetIntField(env, params, mj.session_flags);
    return 0;
}

static void native_session_default_params(JNIEnv *env, jclass cls, jobject params)
{
    minke_session_params p;
    (void)cls;
    if (mj_failed(env, minke_session_default_params(&p, sizeof p)))
        return;
    (*env)->SetIntField(env, params, mj.session_n_ctx, (jint)p.n_ctx);
    (*env)->SetIntField(env, params, mj.session_n_threads, (jint)p.n_threads);
    (*env)->SetIntField(env, params, mj.session_n_batch, (jint)p.n_batch);
    (*env)->SetIntField(env, params, mj.session_kv_type, (jint)p.kv_type);
    (*env)->SetBooleanField(env, params, mj.session_logits_all,
                            p.logits_all ? JNI_TRUE : JNI_FALSE);
    (*env)->SetIntField(env, params, mj.session_flags, (jint)p.flags);
}

static int read_sampler_params(JNIEnv *env, jobject params, minke_sampler_params *p)
{
    if (mj_failed(env, minke_sampler_default_params(p, sizeof *p)))
        return -1;
    p->temperature = (*env)->GetFloatField(env, params, mj.sampler_temperature);
    p->top_k = (uint32_t)(*env)->GetIntField(env, params, mj.sampler_top_k);
    p->top_p = (*env)->GetFloatField(env, params, mj.sampler_top_p);
    p->min_p = (*env)->GetFloatField(env, params, mj.sampler_min_p);
    p->repeat_penalty = (*env)->GetFloatField(env, params, mj.sampler_repeat_penalty);
    p->frequency_penalty = (*env)->GetFloatField(env, params, mj.sampler_frequency_penalty);
    p->presence_penalty = (*env)->GetFloatField(env, params, mj.sampler_presence_penalty);
    p->penalty_last_n = (uint32_t)(*env)->GetIntField(env, params, mj.sampler_penalty_last_n);
    p->seed = (uint64_t)(*env)->GetLongField(env, params, mj.sampler_seed);
    return 0;
}

static void native_sampler_default_params(JNIEnv *env, jclass cls, jobject params)
{
    minke_sampler_params p;
    (void)cls;
    if (mj_failed(env, minke_sampler_default_params(&p, sizeof p)))
        return;
    (*env)->SetFloatField(env, params, mj.sampler_temperature, p.temperature);
    (*env)->SetIntField(env, params, mj.sampler_top_k, (jint)p.top_k);
    (*env)->SetFloatField(env, params, mj.sampler_top_p, p.top_p);
    (*env)->SetFloatField(env, params, mj.sampler_min_p, p.min_p);
    (*env)->SetFloatField(env, params, mj.sampler_repeat_penalty, p.repeat_penalty);
    (*env)->SetFloatField(env, params, mj.sampler_frequency_penalty, p.frequency_penalty);
    (*env)->SetFloatField(env, params, mj.sampler_presence_penalty, p.presence_penalty);
    (*env)->SetIntField(env, params, mj.sampler_penalty_last_n, (jint)p.penalty_last_n);
    (*env)->SetLongField(env, params, mj.sampler_seed, (jlong)p.seed);
}

/* minke_generate_params with the stop strings it points to. */
struct generate_params {
    minke_generate_params p;
    char **stop; /* (p.n_stop) */
};

static void free_generate_params(struct generate_params *g)
{
    size_t i;
    if (g->stop != NULL)
        for (i = 0; i < g->p.n_stop; i++)
            free(g->stop[i]);
    free(g->stop);
    g->stop = NULL;
}

/* 0 on success; -1 with an exception pending (and `g` freed). */
static int read_generate_params(JNIEnv *env, jobject params, struct generate_params *g)
{
    jobjectArray stop;
    size_t i, n;

    g->stop = NULL;
    if (mj_failed(env, minke_generate_default_params(&g->p, sizeof g->p)))
        return -1;
    g->p.max_tokens = (uint32_t)(*env)->GetIntField(env, params, mj.generate_max_tokens);
    g->p.stop_at_eos = (*env)->GetBooleanField(env, params, mj.generate_stop_at_eos) == JNI_TRUE;
    g->p.n_keep = (size_t)(uint32_t)(*env)->GetIntField(env, params, mj.generate_n_keep);
    g->p.context_shift =
        (*env)->GetBooleanField(env, params, mj.generate_context_shift) == JNI_TRUE;
    g->p.n_draft = (uint32_t)(*env)->GetIntField(env, params, mj.generate_n_draft);
    stop = (jobjectArray)(*env)->GetObjectField(env, params, mj.generate_stop_utf8);
    n = (size_t)(*env)->GetArrayLength(env, stop);
    g->p.n_stop = 0;
    if (n == 0) {
        (*env)->DeleteLocalRef(env, stop);
        return 0;
    }
    g->stop = calloc(n, sizeof *g->stop);
    if (g->stop == NULL) {
        (*env)->DeleteLocalRef(env, stop);
        mj_throw_oom(env, "minke: stop strings");
        return -1;
    }
    for (i = 0; i < n; i++) {
        jobject s = (*env)->GetObjectArrayElement(env, stop, (jsize)i);
        g->stop[i] = mj_c_string(env, (jbyteArray)s);
        (*env)->DeleteLocalRef(env, s);
        g->p.n_stop = i + 1;
        if (g->stop[i] == NULL) {
            (*env)->DeleteLocalRef(env, stop);
            free_generate_params(g);
            return -1;
        }
    }
    g->p.stop = (const char *const *)g->stop;
    (*env)->DeleteLocalRef(env, stop);
    return 0;
}

static void native_generate_default_params(JNIEnv *env, jclass cls, jobject params)
{
    minke_generate_params p;
    (void)cls;
    if (mj_failed(env, minke_generate_default_params(&p, sizeof p)))
        return;
    (*env)->SetIntField(env, params, mj.generate_max_tokens, (jint)p.max_tokens);
    (*env)->SetBooleanField(env, params, mj.generate_stop_at_eos,
                            p.stop_at_eos ? JNI_TRUE : JNI_FALSE);
    (*env)->SetIntField(env, params, mj.generate_n_keep, (jint)p.n_keep);
    (*env)->SetBooleanField(env, params, mj.generate_context_shift,
                            p.context_shift ? JNI_TRUE : JNI_FALSE);
    (*env)->SetIntField(env, params, mj.generate_n_draft, (jint)p.n_draft);
}

/* ------------------------------------------------------------------------ */
/* Session */

static jlong native_session_bytes(JNIEnv *env, jclass cls, jlong model, jobject params)
{
    minke_session_params p;
    uint64_t bytes = 0;
    (void)cls;
    if (read_session_params(env, params, &p) != 0 ||
        mj_failed(env, minke_session_bytes(MODEL(model), &p, &bytes)))
        return 0;
    return (jlong)bytes;
}

static jint native_session_max_ctx(JNIEnv *env, jclass cls, jlong model, jobject params,
                                   jlong budget)
{
    minke_session_params p;
    uint32_t n_ctx = 0;
    (void)cls;
    if (budget < 0)
        budget = 0;
    if (read_session_params(env, params, &p) != 0 ||
        mj_failed(env, minke_session_max_ctx(MODEL(model), &p, (uint64_t)budget, &n_ctx)))
        return 0;
    return (jint)n_ctx;
}

static jlong native_session_new(JNIEnv *env, jclass cls, jlong model, jobject params)
{
    minke_session_params p;
    struct mj_session *s;
    (void)cls;
    if (read_session_params(env, params, &p) != 0)
        return 0;
    s = malloc(sizeof *s);
    if (s == NULL) {
        mj_throw_oom(env, "minke: a session");
        return 0;
    }
    s->session = NULL;
    MJ_FLAG_STORE(&s->cancel, 0);
    if (mj_failed(env, minke_session_new(MODEL(model), &p, &s->session)) ||
        mj_failed(env, minke_session_set_abort_callback(s->session, mj_cancel_requested, s))) {
        minke_session_free(s->session);
        free(s);
        return 0;
    }
    return MJ_HANDLE(s);
}

static void native_session_free(JNIEnv *env, jclass cls, jlong session)
{
    struct mj_session *s = MJ_PTR(struct mj_session, session);
    (void)env;
    (void)cls;
    minke_session_free(s->session);
    free(s);
}

static void native_session_prefill(JNIEnv *env, jclass cls, jlong session, jintArray tokens)
{
    size_t n = 0;
    uint32_t *ids = mj_c_ids(env, tokens, &n);
    (void)cls;
    if (ids == NULL)
        return;
    mj_failed(env, minke_session_prefill(SESSION(session), ids, n, NULL));
    free(ids);
}

static void native_session_decode(JNIEnv *env, jclass cls, jlong session, jint token)
{
    (void)cls;
    mj_failed(env, minke_session_decode(SESSION(session), (uint32_t)token, NULL));
}

/* Copies the logits into `out` unless it is NULL (the Java side makes it
 * big enough); returns the vocabulary size. */
static jint native_session_logits(JNIEnv *env, jclass cls, jlong session, jfloatArray out)
{
    const float *logits = NULL;
    size_t n = 0;
    (void)cls;
    if (mj_failed(env, minke_session_logits(SESSION(session), &logits, &n)))
        return 0;
    if (out != NULL)
        (*env)->SetFloatArrayRegion(env, out, 0, (jsize)n, logits);
    return (jint)n;
}

static void native_session_rewind(JNIEnv *env, jclass cls, jlong session, jint pos)
{
    (void)cls;
    mj_failed(env, minke_session_rewind(SESSION(session), (uint32_t)pos));
}

static void native_session_shift(JNIEnv *env, jclass cls, jlong session, jint keep,
                                 jint discard)
{
    (void)cls;
    mj_failed(env, minke_session_shift(SESSION(session), (uint32_t)keep, (uint32_t)discard));
}

static jint native_session_pos(JNIEnv *env, jclass cls, jlong session)
{
    (void)env;
    (void)cls;
    return (jint)minke_session_pos(SESSION(session));
}

static jint native_session_n_ctx(JNIEnv *env, jclass cls, jlong session)
{
    (void)env;
    (void)cls;
    return (jint)minke_session_n_ctx(SESSION(session));
}

static jint native_session_n_threads(JNIEnv *env, jclass cls, jlong session)
{
    (void)env;
    (void)cls;
    return (jint)minke_session_n_threads(SESSION(session));
}

static jdouble native_session_score(JNIEnv *env, jclass cls, jlong session, jintArray prompt,
                                    jintArray cont, jdoubleArray logprobs)
{
    size_t n_prompt = 0, n_cont = 0;
    uint32_t *p = NULL, *c = NULL;
    double *lp = NULL, total = 0;
    (void)cls;

    if ((p = mj_c_ids(env, prompt, &n_prompt)) == NULL ||
        (c = mj_c_ids(env, cont, &n_cont)) == NULL)
        goto done;
    lp = malloc(n_cont > 0 ? n_cont * sizeof *lp : sizeof *lp);
    if (lp == NULL) {
        mj_throw_oom(env, "minke: log-probabilities");
        goto done;
    }
    if (mj_failed(env, minke_session_score(SESSION(session), p, n_prompt, c, n_cont, lp, &total)))
        goto done;
    (*env)->SetDoubleArrayRegion(env, logprobs, 0, (jsize)n_cont, lp);
done:
    free(lp);
    free(c);
    free(p);
    return total;
}

static jfloatArray native_session_reward(JNIEnv *env, jclass cls, jlong session,
                                         jintArray tokens)
{
    size_t n = 0, n_labels = 0;
    float *scores = NULL;
    jfloatArray out = NULL;
    minke_status st;
    uint32_t *ids = mj_c_ids(env, tokens, &n);
    (void)cls;

    if (ids == NULL)
        return NULL;
    /* Ask for the count first: nothing runs when the room is too small. */
    st = minke_session_reward(SESSION(session), ids, n, NULL, 0, &n_labels);
    if (st == MINKE_ERR_BUFFER_TOO_SMALL) {
        scores = malloc(n_labels * sizeof *scores);
        if (scores == NULL) {
            mj_throw_oom(env, "minke: reward scores");
            goto done;
        }
        st = minke_session_reward(SESSION(session), ids, n, scores, n_labels, &n_labels);
    }
    if (mj_failed(env, st))
        goto done;
    out = (*env)->NewFloatArray(env, (jsize)n_labels);
    if (out != NULL && n_labels > 0)
        (*env)->SetFloatArrayRegion(env, out, 0, (jsize)n_labels, scores);
done:
    free(scores);
    free(ids);
    return out;
}

static void native_session_set_adapter(JNIEnv *env, jclass cls, jlong session, jlong lora,
                                       jfloat scale)
{
    (void)cls;
    mj_failed(env, minke_session_set_adapter(SESSION(session), MJ_PTR(const minke_lora, lora),
                                             scale));
}

/* ------------------------------------------------------------------------ */
/* Sampler */

static jlong native_sampler_new(JNIEnv *env, jclass cls, jlong model, jobject params)
{
    minke_sampler_params p;
    minke_sampler *s = NULL;
    (void)cls;
    if (read_sampler_params(env, params, &p) != 0 ||
        mj_failed(env, minke_sampler_new(MODEL(model), &p, &s)))
        return 0;
    return MJ_HANDLE(s);
}

static void native_sampler_free(JNIEnv *env, jclass cls, jlong sampler)
{
    (void)env;
    (void)cls;
    minke_sampler_free(SAMPLER(sampler));
}

static jint native_sampler_sample(JNIEnv *env, jclass cls, jlong sampler, jfloatArray logits)
{
    uint32_t token = 0;
    minke_status st;
    jsize n = (*env)->GetArrayLength(env, logits);
    float *l;
    (void)cls;

    if (n == 0) {
        /* No array to pin: the C API reports the wrong length itself. */
        static const float none = 0;
        mj_failed(env, minke_sampler_sample(SAMPLER(sampler), &none, 0, &token));
        return (jint)token;
    }
    /* Sampling is short and calls nothing back: read the array in place. */
    l = (*env)->GetPrimitiveArrayCritical(env, logits, NULL);
    if (l == NULL) {
        mj_throw_oom(env, "minke: logits");
        return 0;
    }
    mj_in_critical = 1; /* no JNI, so no log callback, until released */
    st = minke_sampler_sample(SAMPLER(sampler), l, (size_t)n, &token);
    (*env)->ReleasePrimitiveArrayCritical(env, logits, l, JNI_ABORT);
    mj_in_critical = 0;
    mj_failed(env, st);
    return (jint)token;
}

static jint native_sampler_sample_session(JNIEnv *env, jclass cls, jlong sampler, jlong session)
{
    const float *logits = NULL;
    size_t n = 0;
    uint32_t token = 0;
    (void)cls;
    if (mj_failed(env, minke_session_logits(SESSION(session), &logits, &n)) ||
        mj_failed(env, minke_sampler_sample(SAMPLER(sampler), logits, n, &token)))
        return 0;
    return (jint)token;
}

static void native_sampler_accept(JNIEnv *env, jclass cls, jlong sampler, jint token)
{
    (void)cls;
    mj_failed(env, minke_sampler_accept(SAMPLER(sampler), (uint32_t)token));
}

static void native_sampler_reset(JNIEnv *env, jclass cls, jlong sampler)
{
    (void)cls;
    mj_failed(env, minke_sampler_reset(SAMPLER(sampler)));
}

/* ------------------------------------------------------------------------ */
/* Generation */

/* Most generated ids a GenerateResult holds (GenerateResult.tokens() says
 * so): only a context shift lets a call generate more than its context. */
#define MJ_MAX_GENERATED_IDS ((size_t)1 << 24)

/* The Java object a callback reaches, on the thread that made the call. */
struct callback_ctx {
    JNIEnv *env;
    jobject sink;
};

static bool on_piece(const char *piece, size_t len, void *user_data)
{
    struct callback_ctx *c = user_data;
    JNIEnv *env = c->env;
    jboolean go;
    jbyteArray bytes = mj_j_bytes(env, piece, len);
    if (bytes == NULL)
        return false;
    go = (*env)->CallBooleanMethod(env, c->sink, mj.pieces_on_piece, bytes);
    /* This native frame lasts the whole generation: free each piece's
     * reference now (Android caps local references). */
    (*env)->DeleteLocalRef(env, bytes);
    return !(*env)->ExceptionCheck(env) && go == JNI_TRUE;
}

static jobject native_generate(JNIEnv *env, jclass cls, jlong session, jlong sampler,
                               jlong draft, jintArray prompt, jobject params, jobject sink)
{
    struct generate_params g;
    struct callback_ctx ctx;
    minke_generate_result r;
    minke_status st;
    size_t n = 0;
    uint32_t *ids;
    jobject out = NULL;
    (void)cls;

    if (mj_failed(env, minke_generate_default_result(&r, sizeof r)) ||
        read_generate_params(env, params, &g) != 0)
        return NULL;
    ids = mj_c_ids(env, prompt, &n);
    /* Room for every id it can generate: max_tokens, and without a context
     * shift no more than fit in the context. With one, max_tokens may be
     * "until the end of text" (INT_MAX): the first MJ_MAX_GENERATED_IDS
     * ids are kept, 64 MiB of address space, of which only what is written
     * is touched. */
    g.p.tokens_capacity = g.p.max_tokens;
    if (!g.p.context_shift &&
        g.p.tokens_capacity > (size_t)minke_session_n_ctx(SESSION(session)) + 1)
        g.p.tokens_capacity = (size_t)minke_session_n_ctx(SESSION(session)) + 1;
    if (g.p.tokens_capacity > MJ_MAX_GENERATED_IDS)
        g.p.tokens_capacity = MJ_MAX_GENERATED_IDS;
    g.p.tokens = ids == NULL ? NULL : malloc(g.p.tokens_capacity * sizeof *g.p.tokens + 1);
    if (ids == NULL || g.p.tokens == NULL) {
        if (ids != NULL)
            mj_throw_oom(env, "minke: generated token ids");
        free(ids);
        free_generate_params(&g);
        return NULL;
    }
    /* Session.generate took the draft session for the call (0: none). */
    g.p.draft = draft != 0 ? SESSION(draft) : NULL;
    ctx.env = env;
    ctx.sink = sink;
    st = minke_generate(SESSION(session), SAMPLER(sampler), ids, n, &g.p,
                        sink != NULL ? on_piece : NULL, &ctx, &r);
    free(ids);
    /* An exception from the callback's JNI calls goes first. */
    if (!(*env)->ExceptionCheck(env) && !mj_failed(env, st)) {
        jintArray tokens = mj_j_ids(env, g.p.tokens,
                                    r.n_tokens < g.p.tokens_capacity ? r.n_tokens
                                                                     : g.p.tokens_capacity);
        if (tokens != NULL)
            out = (*env)->NewObject(env, mj.generate_result, mj.generate_result_new,
                                    (jint)r.stop_reason, (jint)r.n_prompt_tokens,
                                    (jint)r.n_tokens, r.prefill_ms, r.decode_ms, tokens,
                                    (jint)r.n_discarded, (jint)r.n_drafted,
                                    (jint)r.n_accepted);
    }
    free(g.p.tokens);
    free_generate_params(&g);
    return out;
}

static double on_rank(const char *text, size_t text_len, const uint32_t *tokens,
                      size_t n_tokens, void *user_data)
{
    struct callback_ctx *c = user_data;
    JNIEnv *env = c->env;
    jdouble score;
    jbyteArray t = mj_j_bytes(env, text, text_len);
    jintArray ids;
    if (t == NULL)
        return NAN;
    ids = mj_j_ids(env, tokens, n_tokens);
    if (ids == NULL) {
        (*env)->DeleteLocalRef(env, t);
        return NAN;
    }
    score = (*env)->CallDoubleMethod(env, c->sink, mj.ranks_rank, t, ids);
    (*env)->DeleteLocalRef(env, ids);
    (*env)->DeleteLocalRef(env, t);
    return (*env)->ExceptionCheck(env) ? NAN : score;
}

struct candidate_args {
    const minke_candidates *c;
    size_t i;
};

static minke_status candidate_text_into(const void *args, char *buf, size_t size, size_t *n)
{
    const struct candidate_args *a = args;
    return minke_candidates_text(a->c, a->i, buf, size, n);
}

static minke_status candidate_tokens_into(const void *args, uint32_t *ids, size_t cap, size_t *n)
{
    const struct candidate_args *a = args;
    return minke_candidates_tokens(a->c, a->i, ids, cap, n);
}

/* Copies every candidate into a Java Candidate[]; NULL with an exception
 * pending. */
static jobjectArray copy_candidates(JNIEnv *env, const minke_candidates *c)
{
    struct candidate_args a;
    size_t count = minke_candidates_count(c);
    jobjectArray out = (*env)->NewObjectArray(env, (jsize)count, mj.candidate, NULL);
    if (out == NULL)
        return NULL;
    a.c = c;
    for (a.i = 0; a.i < count; a.i++) {
        jobject cand = NULL;
        jbyteArray text = mj_sized_text(env, candidate_text_into, &a, 256);
        jintArray ids = text == NULL ? NULL : mj_sized_ids(env, candidate_tokens_into, &a, 64);
        if (ids != NULL)
            cand = (*env)->NewObject(env, mj.candidate, mj.candidate_new, text, ids,
                                     minke_candidates_score(c, a.i),
                                     (jlong)minke_candidates_seed(c, a.i),
                                     (jint)minke_candidates_stop_reason(c, a.i));
        if (cand != NULL)
            (*env)->SetObjectArrayElement(env, out, (jsize)a.i, cand);
        if (text != NULL)
            (*env)->DeleteLocalRef(env, text);
        if (ids != NULL)
            (*env)->DeleteLocalRef(env, ids);
        if (cand == NULL)
            return NULL;
        (*env)->DeleteLocalRef(env, cand);
    }
    return out;
}

static jobjectArray native_best_of_n(JNIEnv *env, jclass cls, jlong session,
                                     jobject sampler_params, jobject generate_params,
                                     jintArray prompt, jint n, jobject sink)
{
    minke_sampler_params sp;
    struct generate_params g;
    struct callback_ctx ctx;
    minke_candidates *c = NULL;
    minke_status st;
    size_t n_prompt = 0;
    uint32_t *ids;
    jobjectArray out = NULL;
    (void)cls;

    if (read_sampler_params(env, sampler_params, &sp) != 0 ||
        read_generate_params(env, generate_params, &g) != 0)
        return NULL;
    ids = mj_c_ids(env, prompt, &n_prompt);
    if (ids == NULL) {
        free_generate_params(&g);
        return NULL;
    }
    ctx.env = env;
    ctx.sink = sink;
    st = minke_best_of_n(SESSION(session), &sp, &g.p, ids, n_prompt, (uint32_t)n,
                         sink != NULL ? on_rank : NULL, &ctx, &c);
    free(ids);
    free_generate_params(&g);
    if (!(*env)->ExceptionCheck(env) && !mj_failed(env, st))
        out = copy_candidates(env, c);
    minke_candidates_free(c);
    return out;
}

/* ------------------------------------------------------------------------ */
/* LoRA */

static jlong native_lora_open(JNIEnv *env, jclass cls, jbyteArray path)
{
    minke_lora *l = NULL;
    minke_status st;
    char *c_path = mj_c_string(env, path);
    (void)cls;
    if (c_path == NULL)
        return 0;
    st = minke_lora_open(c_path, &l);
    free(c_path);
    if (mj_failed(env, st))
        return 0;
    return MJ_HANDLE(l);
}

static void native_lora_free(JNIEnv *env, jclass cls, jlong lora)
{
    (void)env;
    (void)cls;
    minke_lora_free(MJ_PTR(minke_lora, lora));
}

/* ------------------------------------------------------------------------ */
/* Registration */

#define NATIVE(name, sig, fn) {(char *)(name), (char *)(sig), MJ_FN_PTR(fn)}

static const JNINativeMethod session_natives[] = {
    NATIVE("sessionDefaultParams", "(Ldev/minke/SessionParams;)V", native_session_default_params),
    NATIVE("sessionBytes", "(JLdev/minke/SessionParams;)J", native_session_bytes),
    NATIVE("sessionMaxCtx", "(JLdev/minke/SessionParams;J)I", native_session_max_ctx),
    NATIVE("sessionNew", "(JLdev/minke/SessionParams;)J", native_session_new),
    NATIVE("sessionFree", "(J)V", native_session_free),
    NATIVE("sessionPrefill", "(J[I)V", native_session_prefill),
    NATIVE("sessionDecode", "(JI)V", native_session_decode),
    NATIVE("sessionLogits", "(J[F)I", native_session_logits),
    NATIVE("sessionRewind", "(JI)V", native_session_rewind),
    NATIVE("sessionShift", "(JII)V", native_session_shift),
    NATIVE("sessionPos", "(J)I", native_session_pos),
    NATIVE("sessionNCtx", "(J)I", native_session_n_ctx),
    NATIVE("sessionNThreads", "(J)I", native_session_n_threads),
    NATIVE("sessionScore", "(J[I[I[D)D", native_session_score),
    NATIVE("sessionReward", "(J[I)[F", native_session_reward),
    NATIVE("sessionSetAdapter", "(JJF)V", native_session_set_adapter),
    NATIVE("samplerDefaultParams", "(Ldev/minke/SamplerParams;)V", native_sampler_default_params),
    NATIVE("samplerNew", "(JLdev/minke/SamplerParams;)J", native_sampler_new),
    NATIVE("samplerFree", "(J)V", native_sampler_free),
    NATIVE("samplerSample", "(J[F)I", native_sampler_sample),
    NATIVE("samplerSampleSession", "(JJ)I", native_sampler_sample_session),
    NATIVE("samplerAccept", "(JI)V", native_sampler_accept),
    NATIVE("samplerReset", "(J)V", native_sampler_reset),
    NATIVE("generateDefaultParams", "(Ldev/minke/GenerateParams;)V",
           native_generate_default_params),
    NATIVE("generate",
           "(JJJ[ILdev/minke/GenerateParams;Ldev/minke/Callbacks$Pieces;)"
           "Ldev/minke/GenerateResult;",
           native_generate),
    NATIVE("bestOfN",
           "(JLdev/minke/SamplerParams;Ldev/minke/GenerateParams;[IILdev/minke/Callbacks$Ranks;)"
           "[Ldev/minke/Candidate;",
           native_best_of_n),
    NATIVE("loraOpen", "([B)J", native_lora_open),
    NATIVE("loraFree", "(J)V", native_lora_free),
};

jint mj_register_session(JNIEnv *env, jclass native)
{
    return (*env)->RegisterNatives(env, native, session_natives,
                                   (jint)(sizeof session_natives / sizeof session_natives[0]));
}
