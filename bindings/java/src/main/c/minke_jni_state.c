/*
 * minke_jni_state.c: the natives of a session's state (save and restore,
 * in memory and in files), the tokens it holds, the logits of a position,
 * a sampler's state, and Session.cancel(): the flag in struct mj_session
 * (minke_jni.h) that the session's abort callback reads.
 */
#include "minke_jni.h"

#include <stdlib.h>

#define SESSION(h) MJ_SESSION(h)
#define SAMPLER(h) MJ_PTR(minke_sampler, h)

/* ------------------------------------------------------------------------ */
/* Cancellation */

bool mj_cancel_requested(void *user_data)
{
    struct mj_session *s = user_data;
    return MJ_FLAG_LOAD(&s->cancel) != 0;
}

/* Session.cancel(), from any thread: the running call stops at its next
 * layer with MINKE_ERR_ABORTED. */
static void native_session_cancel(JNIEnv *env, jclass cls, jlong session)
{
    (void)env;
    (void)cls;
    MJ_FLAG_STORE(&MJ_PTR(struct mj_session, session)->cancel, 1);
}

/* At the start of each call: a cancel() aimed at an earlier call is over. */
static void native_session_uncancel(JNIEnv *env, jclass cls, jlong session)
{
    (void)env;
    (void)cls;
    MJ_FLAG_STORE(&MJ_PTR(struct mj_session, session)->cancel, 0);
}

/* ------------------------------------------------------------------------ */
/* State, tokens, logits at a position */

/* A Java array holds at most this many bytes (a little under 2^31). */
#define MJ_MAX_ARRAY ((size_t)INT32_MAX - 8)

/* The session's state as a byte[]: written straight into the array, as a
 * state is the size of the KV cache (copying it through a C buffer would
 * hold it twice). The C call only copies memory and calls nothing back,
 * so holding the array critical over it is allowed. */
static jbyteArray native_session_state_get(JNIEnv *env, jclass cls, jlong session)
{
    size_t size = 0, written = 0;
    jbyteArray out;
    void *buf;
    minke_status st;
    (void)cls;

    if (mj_failed(env, minke_session_state_size(SESSION(session), &size)))
        return NULL;
    if (size > MJ_MAX_ARRAY) {
        mj_throw_oom(env, "minke: the session state is larger than a Java array can hold "
                          "(save it with saveStateFile)");
        return NULL;
    }
    out = (*env)->NewByteArray(env, (jsize)size);
    if (out == NULL)
        return NULL;
    buf = (*env)->GetPrimitiveArrayCritical(env, out, NULL);
    if (buf == NULL) {
        mj_throw_oom(env, "minke: the session state");
        return NULL;
    }
    mj_in_critical = 1; /* no JNI, so no log callback, until released */
    st = minke_session_state_get(SESSION(session), buf, size, &written);
    (*env)->ReleasePrimitiveArrayCritical(env, out, buf, 0);
    mj_in_critical = 0;
    if (mj_failed(env, st))
        return NULL;
    return out;
}

/* Restores a state from a byte[], read in place (see above). */
static void native_session_state_set(JNIEnv *env, jclass cls, jlong session, jbyteArray state)
{
    jsize n = (*env)->GetArrayLength(env, state);
    void *buf;
    minke_status st;
    (void)cls;

    if (n == 0) {
        /* No array to pin: the C API refuses the empty state itself. */
        static const uint8_t none = 0;
        mj_failed(env, minke_session_state_set(SESSION(session), &none, 0));
        return;
    }
    buf = (*env)->GetPrimitiveArrayCritical(env, state, NULL);
    if (buf == NULL) {
        mj_throw_oom(env, "minke: the session state");
        return;
    }
    mj_in_critical = 1; /* no JNI, so no log callback, until released */
    st = minke_session_state_set(SESSION(session), buf, (size_t)n);
    (*env)->ReleasePrimitiveArrayCritical(env, state, buf, JNI_ABORT);
    mj_in_critical = 0;
    mj_failed(env, st);
}

static void native_session_state_save_file(JNIEnv *env, jclass cls, jlong session,
                                           jbyteArray path)
{
    minke_status st;
    char *c_path = mj_c_string(env, path);
    (void)cls;
    if (c_path == NULL)
        return;
    st = minke_session_state_save_file(SESSION(session), c_path);
    free(c_path);
    mj_failed(env, st);
}

static void native_session_state_load_file(JNIEnv *env, jclass cls, jlong session,
                                           jbyteArray path)
{
    minke_status st;
    char *c_path = mj_c_string(env, path);
    (void)cls;
    if (c_path == NULL)
        return;
    st = minke_session_state_load_file(SESSION(session), c_path);
    free(c_path);
    mj_failed(env, st);
}

static minke_status session_tokens_into(const void *args, uint32_t *ids, size_t cap, size_t *n)
{
    return minke_session_tokens(args, ids, cap, n);
}

static jintArray native_session_tokens(JNIEnv *env, jclass cls, jlong session)
{
    const minke_session *s = SESSION(session);
    (void)cls;
    return mj_sized_ids(env, session_tokens_into, s, minke_session_pos(s));
}

static jfloatArray native_session_logits_at(JNIEnv *env, jclass cls, jlong session, jint pos)
{
    const float *logits = NULL;
    size_t n = 0;
    jfloatArray out;
    (void)cls;
    if (mj_failed(env, minke_session_logits_at(SESSION(session), (uint32_t)pos, &logits, &n)))
        return NULL;
    out = (*env)->NewFloatArray(env, (jsize)n);
    if (out != NULL)
        (*env)->SetFloatArrayRegion(env, out, 0, (jsize)n, logits);
    return out;
}

/* ------------------------------------------------------------------------ */
/* Sampler state */

/* A sampler's state as a byte[]. It is small (80 bytes and 4 per token
 * the penalties remember), so it goes through a C buffer: no critical
 * region, and a failure's DEBUG log line is not dropped. */
static jbyteArray native_sampler_state_get(JNIEnv *env, jclass cls, jlong sampler)
{
    size_t size = 0, written = 0;
    jbyteArray out = NULL;
    uint8_t *buf;
    (void)cls;

    if (mj_failed(env, minke_sampler_state_size(SAMPLER(sampler), &size)))
        return NULL;
    if (size > MJ_MAX_ARRAY) {
        mj_throw_oom(env, "minke: the sampler state is larger than a Java array can hold");
        return NULL;
    }
    buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) {
        mj_throw_oom(env, "minke: the sampler state");
        return NULL;
    }
    if (!mj_failed(env, minke_sampler_state_get(SAMPLER(sampler), buf, size, &written)))
        out = mj_j_bytes(env, (const char *)buf, written);
    free(buf);
    return out;
}

/* Restores a sampler's state from a byte[], copied out first (see above). */
static void native_sampler_state_set(JNIEnv *env, jclass cls, jlong sampler, jbyteArray state)
{
    jsize n = (*env)->GetArrayLength(env, state);
    /* Room for one byte at least, so that an empty state is a valid
     * pointer and the C API refuses it itself. */
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    (void)cls;

    if (buf == NULL) {
        mj_throw_oom(env, "minke: the sampler state");
        return;
    }
    (*env)->GetByteArrayRegion(env, state, 0, n, (jbyte *)buf);
    mj_failed(env, minke_sampler_state_set(SAMPLER(sampler), buf, (size_t)n));
    free(buf);
}

/* ------------------------------------------------------------------------ */
/* Registration */

#define NATIVE(name, sig, fn) {(char *)(name), (char *)(sig), MJ_FN_PTR(fn)}

static const JNINativeMethod state_natives[] = {
    NATIVE("sessionCancel", "(J)V", native_session_cancel),
    NATIVE("sessionUncancel", "(J)V", native_session_uncancel),
    NATIVE("sessionStateGet", "(J)[B", native_session_state_get),
    NATIVE("sessionStateSet", "(J[B)V", native_session_state_set),
    NATIVE("sessionStateSaveFile", "(J[B)V", native_session_state_save_file),
    NATIVE("sessionStateLoadFile", "(J[B)V", native_session_state_load_file),
    NATIVE("sessionTokens", "(J)[I", native_session_tokens),
    NATIVE("sessionLogitsAt", "(JI)[F", native_session_logits_at),
    NATIVE("samplerStateGet", "(J)[B", native_sampler_state_get),
    NATIVE("samplerStateSet", "(J[B)V", native_sampler_state_set),
};

jint mj_register_state(JNIEnv *env, jclass native)
{
    return (*env)->RegisterNatives(env, native, state_natives,
                                   (jint)(sizeof state_natives / sizeof state_natives[0]));
}
