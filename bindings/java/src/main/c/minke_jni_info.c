/*
 * minke_jni_info.c: the natives that describe a model (shape, formats,
 * metadata) and a tokenizer's spellings and custom chat templates; a
 * session's thread count; the kernel set; and the library's log, sent to
 * a Java Logger on whichever thread logs.
 *
 * The log callback may run on a thread the JVM has never seen (one of
 * minke's): it attaches it as a daemon for the call and detaches it
 * after, so a thread minke ends is never left attached. On a Java thread
 * it runs inside whatever native call logged, so it keeps any exception
 * that call has pending, and never lets one of its own escape.
 */
#include "minke_jni.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

MJ_THREAD_LOCAL int mj_in_critical;

#define MODEL(h) MJ_PTR(const minke_model, h)
#define TOK(h) MJ_PTR(const minke_tokenizer, h)

/* ------------------------------------------------------------------------ */
/* Model */

static jint native_model_shape(JNIEnv *env, jclass cls, jlong model, jint which)
{
    const minke_model *m = MODEL(model);
    (void)env;
    (void)cls;
    switch (which) { /* Native.SHAPE_* */
    case 0:
        return (jint)minke_model_n_heads(m);
    case 1:
        return (jint)minke_model_n_heads_kv(m);
    case 2:
        return (jint)minke_model_n_ff(m);
    case 3:
        return (jint)minke_model_n_experts(m);
    case 4:
        return (jint)minke_model_n_experts_used(m);
    default:
        return 0;
    }
}

static jlong native_model_n_params(JNIEnv *env, jclass cls, jlong model)
{
    (void)env;
    (void)cls;
    return (jlong)minke_model_n_params(MODEL(model));
}

static minke_status desc_into(const void *args, char *buf, size_t size, size_t *n)
{
    return minke_model_desc(args, buf, size, n);
}

static jbyteArray native_model_desc(JNIEnv *env, jclass cls, jlong model)
{
    (void)cls;
    return mj_sized_text(env, desc_into, MODEL(model), 64);
}

static jint native_model_n_tensor_types(JNIEnv *env, jclass cls, jlong model)
{
    (void)env;
    (void)cls;
    return (jint)minke_model_n_tensor_types(MODEL(model));
}

static jbyteArray native_model_tensor_type(JNIEnv *env, jclass cls, jlong model, jint i,
                                           jlongArray counts)
{
    const char *name = NULL;
    uint64_t nt = 0, np = 0;
    jlong c[2];
    (void)cls;
    if (mj_failed(env, minke_model_tensor_type(MODEL(model), (size_t)i, &name, &nt, &np)))
        return NULL;
    c[0] = (jlong)nt;
    c[1] = (jlong)np;
    (*env)->SetLongArrayRegion(env, counts, 0, 2, c);
    return mj_j_bytes(env, name, strlen(name));
}

static jint native_model_meta_count(JNIEnv *env, jclass cls, jlong model)
{
    (void)env;
    (void)cls;
    return (jint)minke_model_meta_count(MODEL(model));
}

struct meta_args {
    const minke_model *model;
    size_t i;
    const char *key;
};

static minke_status meta_key_into(const void *args, char *buf, size_t size, size_t *n)
{
    const struct meta_args *a = args;
    return minke_model_meta_key_at(a->model, a->i, buf, size, n);
}

static minke_status meta_value_at_into(const void *args, char *buf, size_t size, size_t *n)
{
    const struct meta_args *a = args;
    return minke_model_meta_value_at(a->model, a->i, buf, size, n);
}

/* {key, value} of entry i. */
static jobjectArray native_model_meta_at(JNIEnv *env, jclass cls, jlong model, jint i)
{
    struct meta_args a;
    jobjectArray kv;
    jbyteArray key, value;
    (void)cls;
    a.model = MODEL(model);
    a.i = (size_t)i;
    a.key = NULL;
    if ((key = mj_sized_text(env, meta_key_into, &a, 64)) == NULL)
        return NULL;
    if ((value = mj_sized_text(env, meta_value_at_into, &a, 64)) == NULL)
        return NULL;
    if ((kv = (*env)->NewObjectArray(env, 2, mj.byte_array, NULL)) == NULL)
        return NULL;
    (*env)->SetObjectArrayElement(env, kv, 0, key);
    (*env)->SetObjectArrayElement(env, kv, 1, value);
    (*env)->DeleteLocalRef(env, key);
    (*env)->DeleteLocalRef(env, value);
    return kv;
}

/* The value of `key`, or NULL with no exception when there is no such key. */
static jbyteArray native_model_meta_value(JNIEnv *env, jclass cls, jlong model, jbyteArray key)
{
    size_t size = 256, n = 0;
    jbyteArray out = NULL;
    char *c_key = mj_c_string(env, key), *buf;
    minke_status st;
    (void)cls;
    if (c_key == NULL)
        return NULL;
    buf = malloc(size);
    st = buf == NULL ? MINKE_ERR_RESOURCES
                     : minke_model_meta_value(MODEL(model), c_key, buf, size, &n);
    if (st == MINKE_ERR_BUFFER_TOO_SMALL) {
        free(buf);
        size = n + 1;
        buf = malloc(size);
        st = buf == NULL ? MINKE_ERR_RESOURCES
                         : minke_model_meta_value(MODEL(model), c_key, buf, size, &n);
    }
    if (buf == NULL)
        mj_throw_oom(env, "minke: a metadata value");
    else if (st == MINKE_OK)
        out = mj_j_bytes(env, buf, n);
    else if (st != MINKE_ERR_INVALID_ARG) /* no such key: null */
        mj_failed(env, st);
    free(buf);
    free(c_key);
    return out;
}

/* ------------------------------------------------------------------------ */
/* Tokenizer */

static jint native_tokenizer_eot(JNIEnv *env, jclass cls, jlong tok)
{
    (void)env;
    (void)cls;
    return minke_tokenizer_eot(TOK(tok));
}

struct id_args {
    const minke_tokenizer *tok;
    uint32_t id;
};

static minke_status id_to_token_into(const void *args, char *buf, size_t size, size_t *n)
{
    const struct id_args *a = args;
    return minke_tokenizer_id_to_token(a->tok, a->id, buf, size, n);
}

static jbyteArray native_tokenizer_id_to_token(JNIEnv *env, jclass cls, jlong tok, jint id)
{
    struct id_args a;
    (void)cls;
    a.tok = TOK(tok);
    a.id = (uint32_t)id;
    return mj_sized_text(env, id_to_token_into, &a, 32);
}

static minke_status chat_template_into(const void *args, char *buf, size_t size, size_t *n)
{
    return minke_tokenizer_chat_template(args, buf, size, n);
}

static jbyteArray native_tokenizer_chat_template(JNIEnv *env, jclass cls, jlong tok)
{
    (void)cls;
    return mj_sized_text(env, chat_template_into, TOK(tok), 4096);
}

struct template_args {
    const minke_tokenizer *tok;
    const char *tmpl;
    const struct mj_chat *chat;
    bool add_generation_prompt;
};

static minke_status apply_template_into(const void *args, char *buf, size_t size, size_t *n)
{
    const struct template_args *a = args;
    return minke_tokenizer_apply_template(a->tok, a->tmpl, a->chat->msgs, a->chat->n,
                                          a->add_generation_prompt, buf, size, n);
}

static minke_status encode_template_into(const void *args, uint32_t *ids, size_t cap, size_t *n)
{
    const struct template_args *a = args;
    return minke_tokenizer_encode_chat_template(a->tok, a->tmpl, a->chat->msgs, a->chat->n,
                                                a->add_generation_prompt, ids, cap, n);
}

/* Reads the template and the chat into `a`; 0, or -1 with an exception
 * pending and nothing to free. */
static int read_template(JNIEnv *env, jlong tok, jbyteArray tmpl, jobjectArray roles,
                         jobjectArray contents, jboolean add_generation_prompt,
                         struct template_args *a, struct mj_chat *c)
{
    char *t = mj_c_string(env, tmpl);
    if (t == NULL)
        return -1;
    if (mj_read_chat(env, roles, contents, c) != 0) {
        free(t);
        return -1;
    }
    a->tok = TOK(tok);
    a->tmpl = t;
    a->chat = c;
    a->add_generation_prompt = add_generation_prompt == JNI_TRUE;
    return 0;
}

static jbyteArray native_tokenizer_apply_template(JNIEnv *env, jclass cls, jlong tok,
                                                  jbyteArray tmpl, jobjectArray roles,
                                                  jobjectArray contents,
                                                  jboolean add_generation_prompt)
{
    struct template_args a;
    struct mj_chat c;
    jbyteArray out;
    (void)cls;
    if (read_template(env, tok, tmpl, roles, contents, add_generation_prompt, &a, &c) != 0)
        return NULL;
    out = mj_sized_text(env, apply_template_into, &a, mj_chat_guess(&c));
    mj_free_chat(&c);
    free((char *)a.tmpl);
    return out;
}

static jintArray native_tokenizer_encode_chat_template(JNIEnv *env, jclass cls, jlong tok,
                                                       jbyteArray tmpl, jobjectArray roles,
                                                       jobjectArray contents,
                                                       jboolean add_generation_prompt)
{
    struct template_args a;
    struct mj_chat c;
    jintArray out;
    (void)cls;
    if (read_template(env, tok, tmpl, roles, contents, add_generation_prompt, &a, &c) != 0)
        return NULL;
    out = mj_sized_ids(env, encode_template_into, &a, mj_chat_guess(&c));
    mj_free_chat(&c);
    free((char *)a.tmpl);
    return out;
}

/* ------------------------------------------------------------------------ */
/* Session, system */

static void native_session_set_n_threads(JNIEnv *env, jclass cls, jlong session, jint n)
{
    (void)cls;
    mj_failed(env, minke_session_set_n_threads(MJ_SESSION(session), (uint32_t)n));
}

static jbyteArray native_kernels_name(JNIEnv *env, jclass cls)
{
    const char *name = minke_kernels_name();
    (void)cls;
    return mj_j_bytes(env, name, strlen(name));
}

/* ------------------------------------------------------------------------ */
/* Log */

/* minke's log callback; user_data: a global reference to a Callbacks.Log,
 * which catches what the Logger throws. */
static void on_log(minke_log_level level, const char *text, void *user_data)
{
    JNIEnv *env = NULL;
    int attached = 0;
    jthrowable pending = NULL;
    jbyteArray bytes;

    if (mj_in_critical)
        return;
    switch ((*mj_vm)->GetEnv(mj_vm, (void **)&env, JNI_VERSION_1_6)) {
    case JNI_OK:
        break;
    case JNI_EDETACHED:
        if ((*mj_vm)->AttachCurrentThreadAsDaemon(mj_vm, (void **)&env, NULL) != JNI_OK)
            return;
        attached = 1;
        break;
    default:
        return;
    }
    /* The native call that logged may have an exception pending (a
     * callback of the app's threw): keep it aside, give it back after. */
    if ((*env)->ExceptionCheck(env)) {
        pending = (*env)->ExceptionOccurred(env);
        (*env)->ExceptionClear(env);
    }
    if ((*env)->PushLocalFrame(env, 4) == 0) {
        bytes = mj_j_bytes(env, text, strlen(text));
        if (bytes != NULL)
            (*env)->CallVoidMethod(env, (jobject)user_data, mj.log_log, (jint)level, bytes);
        /* Only what the adapter could not catch (an OutOfMemoryError
         * making the array or the String): dropped, as the Logger's are. */
        if ((*env)->ExceptionCheck(env))
            (*env)->ExceptionClear(env);
        (*env)->PopLocalFrame(env, NULL);
    } else {
        (*env)->ExceptionClear(env);
    }
    if (pending != NULL) {
        (*env)->Throw(env, pending);
        (*env)->DeleteLocalRef(env, pending);
    }
    if (attached)
        (*mj_vm)->DetachCurrentThread(mj_vm);
}

/* Minke.setLogger holds Minke.class around this: one call at a time. */
static void native_log_set(JNIEnv *env, jclass cls, jobject sink, jint min_level)
{
    static jobject current; /* the global reference minke holds */
    jobject next = NULL;
    minke_status st;
    (void)cls;
    if (sink != NULL && (next = (*env)->NewGlobalRef(env, sink)) == NULL) {
        mj_throw_oom(env, "minke: the logger");
        return;
    }
    st = minke_log_set(next != NULL ? on_log : NULL, (uint32_t)min_level, next);
    if (st != MINKE_OK) {
        if (next != NULL)
            (*env)->DeleteGlobalRef(env, next);
        mj_failed(env, st);
        return;
    }
    /* minke_log_set returned: the old callback runs nowhere, and never again. */
    if (current != NULL)
        (*env)->DeleteGlobalRef(env, current);
    current = next;
}

static void *log_from_thread(void *arg)
{
    size_t n = 0;
    (void)arg;
    /* Fails (no model), which logs the failure at DEBUG. */
    minke_model_meta_value(NULL, "from a native thread", NULL, 0, &n);
    return NULL;
}

static void native_log_from_native_thread(JNIEnv *env, jclass cls)
{
    pthread_t th;
    (void)cls;
    if (pthread_create(&th, NULL, log_from_thread, NULL) != 0) {
        mj_throw_oom(env, "minke: a thread");
        return;
    }
    pthread_join(th, NULL);
}

/* ------------------------------------------------------------------------ */
/* Registration */

#define NATIVE(name, sig, fn) {(char *)(name), (char *)(sig), MJ_FN_PTR(fn)}

static const JNINativeMethod info_natives[] = {
    NATIVE("modelShape", "(JI)I", native_model_shape),
    NATIVE("modelNParams", "(J)J", native_model_n_params),
    NATIVE("modelDesc", "(J)[B", native_model_desc),
    NATIVE("modelNTensorTypes", "(J)I", native_model_n_tensor_types),
    NATIVE("modelTensorType", "(JI[J)[B", native_model_tensor_type),
    NATIVE("modelMetaCount", "(J)I", native_model_meta_count),
    NATIVE("modelMetaAt", "(JI)[[B", native_model_meta_at),
    NATIVE("modelMetaValue", "(J[B)[B", native_model_meta_value),
    NATIVE("tokenizerEot", "(J)I", native_tokenizer_eot),
    NATIVE("tokenizerIdToToken", "(JI)[B", native_tokenizer_id_to_token),
    NATIVE("tokenizerChatTemplate", "(J)[B", native_tokenizer_chat_template),
    NATIVE("tokenizerApplyTemplate", "(J[B[[B[[BZ)[B", native_tokenizer_apply_template),
    NATIVE("tokenizerEncodeChatTemplate", "(J[B[[B[[BZ)[I",
           native_tokenizer_encode_chat_template),
    NATIVE("sessionSetNThreads", "(JI)V", native_session_set_n_threads),
    NATIVE("kernelsName", "()[B", native_kernels_name),
    NATIVE("logSet", "(Ldev/minke/Callbacks$Log;I)V", native_log_set),
    NATIVE("logFromNativeThread", "()V", native_log_from_native_thread),
};

jint mj_register_info(JNIEnv *env, jclass native)
{
    return (*env)->RegisterNatives(env, native, info_natives,
                                   (jint)(sizeof info_natives / sizeof info_natives[0]));
}
