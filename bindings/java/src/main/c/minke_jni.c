/*
 * minke_jni.c: the JNI library's entry (JNI_OnLoad: look up the Java
 * classes, register the natives of dev.minke.Native), the helpers every
 * native uses, and the natives of the library, the model and the
 * tokenizer. Sessions, samplers and generation are in minke_jni_session.c,
 * a session's state and cancellation in minke_jni_state.c, the model's
 * metadata, custom chat templates and the log in minke_jni_info.c.
 *
 * Every native takes raw pointers that the Java side keeps open for the
 * length of the call (dev.minke.Handle), and throws MinkeException with
 * minke_last_error()'s message when a call fails.
 */
#include "minke_jni.h"

#include <stdlib.h>
#include <string.h>

struct mj_ids mj;
JavaVM *mj_vm;

/* ------------------------------------------------------------------------ */
/* Helpers */

int mj_failed(JNIEnv *env, minke_status st)
{
    const char *msg;
    jbyteArray bytes;
    jobject e;

    if (st == MINKE_OK)
        return 0;
    /* Read the message before anything else can call into minke. */
    msg = minke_last_error();
    bytes = mj_j_bytes(env, msg, strlen(msg));
    if (bytes == NULL)
        return 1;
    e = (*env)->NewObject(env, mj.minke_exception, mj.minke_exception_new, (jint)st, bytes);
    if (e != NULL)
        (*env)->Throw(env, (jthrowable)e);
    return 1;
}

void mj_throw_oom(JNIEnv *env, const char *what)
{
    (*env)->ThrowNew(env, mj.out_of_memory, what);
}

char *mj_c_string(JNIEnv *env, jbyteArray utf8)
{
    jsize n = (*env)->GetArrayLength(env, utf8);
    char *s = malloc((size_t)n + 1);
    if (s == NULL) {
        mj_throw_oom(env, "minke: a string for the C API");
        return NULL;
    }
    (*env)->GetByteArrayRegion(env, utf8, 0, n, (jbyte *)s);
    s[n] = '\0';
    return s;
}

uint32_t *mj_c_ids(JNIEnv *env, jintArray ids, size_t *n)
{
    jsize len = (*env)->GetArrayLength(env, ids);
    /* jint and uint32_t have one size; the ids' bits are copied as they are
     * (a negative Java int is an id the C API refuses as out of range). */
    uint32_t *c = malloc(len > 0 ? (size_t)len * sizeof *c : sizeof *c);
    if (c == NULL) {
        mj_throw_oom(env, "minke: token ids for the C API");
        return NULL;
    }
    (*env)->GetIntArrayRegion(env, ids, 0, len, (jint *)c);
    *n = (size_t)len;
    return c;
}

jbyteArray mj_j_bytes(JNIEnv *env, const char *bytes, size_t n)
{
    jbyteArray a;
    if (n > INT32_MAX) {
        mj_throw_oom(env, "minke: text longer than a Java array can hold");
        return NULL;
    }
    a = (*env)->NewByteArray(env, (jsize)n);
    if (a != NULL)
        (*env)->SetByteArrayRegion(env, a, 0, (jsize)n, (const jbyte *)bytes);
    return a;
}

jintArray mj_j_ids(JNIEnv *env, const uint32_t *ids, size_t n)
{
    jintArray a;
    if (n > INT32_MAX) {
        mj_throw_oom(env, "minke: more ids than a Java array can hold");
        return NULL;
    }
    a = (*env)->NewIntArray(env, (jsize)n);
    if (a != NULL)
        (*env)->SetIntArrayRegion(env, a, 0, (jsize)n, (const jint *)ids);
    return a;
}

jbyteArray mj_sized_text(JNIEnv *env, mj_text_fn f, const void *args, size_t guess)
{
    size_t size = guess + 1, n = 0;
    jbyteArray out = NULL;
    char *buf = malloc(size);
    minke_status st;

    if (buf == NULL) {
        mj_throw_oom(env, "minke: a text buffer");
        return NULL;
    }
    st = f(args, buf, size, &n);
    if (st == MINKE_ERR_BUFFER_TOO_SMALL) {
        free(buf);
        size = n + 1;
        buf = malloc(size);
        if (buf == NULL) {
            mj_throw_oom(env, "minke: a text buffer");
            return NULL;
        }
        st = f(args, buf, size, &n);
    }
    if (!mj_failed(env, st))
        out = mj_j_bytes(env, buf, n);
    free(buf);
    return out;
}

jintArray mj_sized_ids(JNIEnv *env, mj_ids_fn f, const void *args, size_t guess)
{
    size_t cap = guess > 0 ? guess : 1, n = 0;
    jintArray out = NULL;
    uint32_t *ids = malloc(cap * sizeof *ids);
    minke_status st;

    if (ids == NULL) {
        mj_throw_oom(env, "minke: a token id buffer");
        return NULL;
    }
    st = f(args, ids, cap, &n);
    if (st == MINKE_ERR_BUFFER_TOO_SMALL) {
        free(ids);
        cap = n > 0 ? n : 1;
        ids = malloc(cap * sizeof *ids);
        if (ids == NULL) {
            mj_throw_oom(env, "minke: a token id buffer");
            return NULL;
        }
        st = f(args, ids, cap, &n);
    }
    if (!mj_failed(env, st))
        out = mj_j_ids(env, ids, n);
    free(ids);
    return out;
}

/* ------------------------------------------------------------------------ */
/* Library */

static jbyteArray native_version(JNIEnv *env, jclass cls)
{
    const char *v = minke_version();
    (void)cls;
    return mj_j_bytes(env, v, strlen(v));
}

static jint native_abi_version(JNIEnv *env, jclass cls)
{
    (void)env;
    (void)cls;
    return (jint)minke_abi_version();
}

static jbyteArray native_status_name(JNIEnv *env, jclass cls, jint status)
{
    const char *name = minke_status_name((uint32_t)status);
    (void)cls;
    return mj_j_bytes(env, name, strlen(name));
}

/* ------------------------------------------------------------------------ */
/* Model */

static void native_model_default_params(JNIEnv *env, jclass cls, jobject params)
{
    minke_model_params p;
    (void)cls;
    if (mj_failed(env, minke_model_default_params(&p, sizeof p)))
        return;
    (*env)->SetIntField(env, params, mj.model_n_threads, (jint)p.n_threads);
    (*env)->SetBooleanField(env, params, mj.model_use_mmap, p.use_mmap ? JNI_TRUE : JNI_FALSE);
    (*env)->SetBooleanField(env, params, mj.model_validate, p.validate ? JNI_TRUE : JNI_FALSE);
}

/* The load-progress callback: Callbacks.Progress.onProgress on the
 * thread that called Model.open (it catches what the app throws). */
struct progress_ctx {
    JNIEnv *env;
    jobject progress; /* Callbacks.Progress */
};

static bool on_progress(float fraction, void *user_data)
{
    struct progress_ctx *c = user_data;
    jboolean go;
    if ((*c->env)->ExceptionCheck(c->env))
        return false;
    go = (*c->env)->CallBooleanMethod(c->env, c->progress, mj.progress_on_progress,
                                      (jfloat)fraction);
    /* An exception the adapter could not catch stays pending: stop. */
    return !(*c->env)->ExceptionCheck(c->env) && go == JNI_TRUE;
}

static jlong native_model_open(JNIEnv *env, jclass cls, jbyteArray path, jobject params,
                               jobject progress)
{
    minke_model_params p;
    minke_model *m = NULL;
    char *c_path;
    minke_status st;
    struct progress_ctx ctx;
    (void)cls;

    if (mj_failed(env, minke_model_default_params(&p, sizeof p)))
        return 0;
    p.n_threads = (uint32_t)(*env)->GetIntField(env, params, mj.model_n_threads);
    p.use_mmap = (*env)->GetBooleanField(env, params, mj.model_use_mmap) == JNI_TRUE;
    p.validate = (*env)->GetBooleanField(env, params, mj.model_validate) == JNI_TRUE;
    if (progress != NULL) {
        ctx.env = env;
        ctx.progress = progress;
        p.progress = on_progress;
        p.progress_user_data = &ctx;
    }
    c_path = mj_c_string(env, path);
    if (c_path == NULL)
        return 0;
    st = minke_model_open(c_path, &p, &m);
    free(c_path);
    if ((*env)->ExceptionCheck(env)) {
        minke_model_free(m);
        return 0;
    }
    if (mj_failed(env, st))
        return 0;
    return MJ_HANDLE(m);
}

static void native_model_free(JNIEnv *env, jclass cls, jlong model)
{
    (void)env;
    (void)cls;
    minke_model_free(MJ_PTR(minke_model, model));
}

static jint native_model_n_vocab(JNIEnv *env, jclass cls, jlong model)
{
    (void)env;
    (void)cls;
    return (jint)minke_model_n_vocab(MJ_PTR(const minke_model, model));
}

static jint native_model_n_ctx_train(JNIEnv *env, jclass cls, jlong model)
{
    (void)env;
    (void)cls;
    return (jint)minke_model_n_ctx_train(MJ_PTR(const minke_model, model));
}

static jint native_model_n_layers(JNIEnv *env, jclass cls, jlong model)
{
    (void)env;
    (void)cls;
    return (jint)minke_model_n_layers(MJ_PTR(const minke_model, model));
}

static jint native_model_n_labels(JNIEnv *env, jclass cls, jlong model)
{
    (void)env;
    (void)cls;
    return (jint)minke_model_n_labels(MJ_PTR(const minke_model, model));
}

static jint native_model_n_embd(JNIEnv *env, jclass cls, jlong model)
{
    (void)env;
    (void)cls;
    return (jint)minke_model_n_embd(MJ_PTR(const minke_model, model));
}

static jlong native_model_weight_bytes(JNIEnv *env, jclass cls, jlong model)
{
    (void)env;
    (void)cls;
    return (jlong)minke_model_weight_bytes(MJ_PTR(const minke_model, model));
}

static jbyteArray native_model_arch(JNIEnv *env, jclass cls, jlong model)
{
    const char *arch = minke_model_arch(MJ_PTR(const minke_model, model));
    (void)cls;
    return mj_j_bytes(env, arch, strlen(arch));
}

static jlong native_model_tokenizer(JNIEnv *env, jclass cls, jlong model)
{
    const minke_tokenizer *t = NULL;
    (void)cls;
    if (mj_failed(env, minke_model_tokenizer(MJ_PTR(const minke_model, model), &t)))
        return 0;
    return MJ_HANDLE(t);
}

/* ------------------------------------------------------------------------ */
/* Tokenizer */

#define TOK(h) MJ_PTR(const minke_tokenizer, h)

static jlong native_tokenizer_open(JNIEnv *env, jclass cls, jbyteArray path)
{
    minke_tokenizer *t = NULL;
    minke_status st;
    char *c_path = mj_c_string(env, path);
    (void)cls;
    if (c_path == NULL)
        return 0;
    st = minke_tokenizer_open(c_path, &t);
    free(c_path);
    if (mj_failed(env, st))
        return 0;
    return MJ_HANDLE(t);
}

static void native_tokenizer_free(JNIEnv *env, jclass cls, jlong tok)
{
    (void)env;
    (void)cls;
    minke_tokenizer_free(MJ_PTR(minke_tokenizer, tok));
}

struct encode_args {
    const minke_tokenizer *tok;
    const char *text;
    uint32_t flags;
};

static minke_status encode_into(const void *args, uint32_t *ids, size_t cap, size_t *n)
{
    const struct encode_args *a = args;
    return minke_tokenizer_encode_ex(a->tok, a->text, a->flags, ids, cap, n);
}

static jintArray native_tokenizer_encode(JNIEnv *env, jclass cls, jlong tok, jbyteArray text,
                                         jint flags)
{
    struct encode_args a;
    jintArray out;
    char *c_text = mj_c_string(env, text);
    (void)cls;
    if (c_text == NULL)
        return NULL;
    a.tok = TOK(tok);
    a.text = c_text;
    a.flags = (uint32_t)flags;
    /* Rarely more ids than bytes; a few more for prefix tokens. */
    out = mj_sized_ids(env, encode_into, &a, strlen(c_text) + 8);
    free(c_text);
    return out;
}

struct decode_args {
    const minke_tokenizer *tok;
    const uint32_t *ids;
    size_t n;
};

static minke_status decode_into(const void *args, char *buf, size_t size, size_t *n)
{
    const struct decode_args *a = args;
    return minke_tokenizer_decode(a->tok, a->ids, a->n, buf, size, n);
}

static jbyteArray native_tokenizer_decode(JNIEnv *env, jclass cls, jlong tok, jintArray ids)
{
    struct decode_args a;
    jbyteArray out;
    uint32_t *c_ids = mj_c_ids(env, ids, &a.n);
    (void)cls;
    if (c_ids == NULL)
        return NULL;
    a.tok = TOK(tok);
    a.ids = c_ids;
    out = mj_sized_text(env, decode_into, &a, 8 * a.n + 16);
    free(c_ids);
    return out;
}

struct piece_args {
    const minke_tokenizer *tok;
    uint32_t id;
};

static minke_status piece_into(const void *args, char *buf, size_t size, size_t *n)
{
    const struct piece_args *a = args;
    return minke_tokenizer_token_to_piece(a->tok, a->id, buf, size, n);
}

static jbyteArray native_tokenizer_token_to_piece(JNIEnv *env, jclass cls, jlong tok, jint id)
{
    struct piece_args a;
    (void)cls;
    a.tok = TOK(tok);
    a.id = (uint32_t)id;
    return mj_sized_text(env, piece_into, &a, 32);
}

static jint native_tokenizer_token_to_id(JNIEnv *env, jclass cls, jlong tok, jbyteArray piece)
{
    uint32_t id = 0;
    minke_status st;
    char *c_piece = mj_c_string(env, piece);
    (void)cls;
    if (c_piece == NULL)
        return 0;
    st = minke_tokenizer_token_to_id(TOK(tok), c_piece, &id);
    free(c_piece);
    mj_failed(env, st);
    return (jint)id;
}

static jint native_tokenizer_n_vocab(JNIEnv *env, jclass cls, jlong tok)
{
    (void)env;
    (void)cls;
    return (jint)minke_tokenizer_n_vocab(TOK(tok));
}

static jint native_tokenizer_bos(JNIEnv *env, jclass cls, jlong tok)
{
    (void)env;
    (void)cls;
    return minke_tokenizer_bos(TOK(tok));
}

static jint native_tokenizer_eos(JNIEnv *env, jclass cls, jlong tok)
{
    (void)env;
    (void)cls;
    return minke_tokenizer_eos(TOK(tok));
}

static jint native_tokenizer_pad(JNIEnv *env, jclass cls, jlong tok)
{
    (void)env;
    (void)cls;
    return minke_tokenizer_pad(TOK(tok));
}

static jboolean native_tokenizer_is_eog(JNIEnv *env, jclass cls, jlong tok, jint id)
{
    (void)env;
    (void)cls;
    return minke_tokenizer_is_eog(TOK(tok), (uint32_t)id) ? JNI_TRUE : JNI_FALSE;
}

static jboolean native_tokenizer_is_special(JNIEnv *env, jclass cls, jlong tok, jint id)
{
    (void)env;
    (void)cls;
    return minke_tokenizer_is_special(TOK(tok), (uint32_t)id) ? JNI_TRUE : JNI_FALSE;
}

static jboolean native_tokenizer_has_chat_template(JNIEnv *env, jclass cls, jlong tok)
{
    (void)env;
    (void)cls;
    return minke_tokenizer_has_chat_template(TOK(tok)) ? JNI_TRUE : JNI_FALSE;
}

static jintArray native_tokenizer_eog_ids(JNIEnv *env, jclass cls, jlong tok)
{
    const uint32_t *ids = NULL;
    size_t n = 0;
    (void)cls;
    if (mj_failed(env, minke_tokenizer_eog_ids(TOK(tok), &ids, &n)))
        return NULL;
    return mj_j_ids(env, ids, n);
}

void mj_free_chat(struct mj_chat *c)
{
    size_t i;
    if (c->strings != NULL)
        for (i = 0; i < 2 * c->n; i++)
            free(c->strings[i]);
    free(c->strings);
    free(c->msgs);
}

int mj_read_chat(JNIEnv *env, jobjectArray roles, jobjectArray contents, struct mj_chat *c)
{
    size_t i, n = (size_t)(*env)->GetArrayLength(env, roles);
    c->n = n;
    c->msgs = calloc(n > 0 ? n : 1, sizeof *c->msgs);
    c->strings = calloc(n > 0 ? 2 * n : 1, sizeof *c->strings);
    if (c->msgs == NULL || c->strings == NULL) {
        mj_free_chat(c);
        mj_throw_oom(env, "minke: chat messages");
        return -1;
    }
    for (i = 0; i < n; i++) {
        jobject role = (*env)->GetObjectArrayElement(env, roles, (jsize)i);
        jobject content = (*env)->GetObjectArrayElement(env, contents, (jsize)i);
        c->strings[2 * i] = mj_c_string(env, (jbyteArray)role);
        c->strings[2 * i + 1] =
            c->strings[2 * i] == NULL ? NULL : mj_c_string(env, (jbyteArray)content);
        (*env)->DeleteLocalRef(env, role);
        (*env)->DeleteLocalRef(env, content);
        if (c->strings[2 * i + 1] == NULL) {
            mj_free_chat(c);
            return -1;
        }
        c->msgs[i].role = c->strings[2 * i];
        c->msgs[i].content = c->strings[2 * i + 1];
    }
    return 0;
}

size_t mj_chat_guess(const struct mj_chat *c)
{
    size_t i, bytes = 64;
    for (i = 0; i < c->n; i++)
        bytes += strlen(c->msgs[i].role) + strlen(c->msgs[i].content) + 32;
    return bytes;
}

struct chat_args {
    const minke_tokenizer *tok;
    const struct mj_chat *chat;
    bool add_generation_prompt;
};

static minke_status template_into(const void *args, char *buf, size_t size, size_t *n)
{
    const struct chat_args *a = args;
    return minke_tokenizer_apply_chat_template(a->tok, a->chat->msgs, a->chat->n,
                                               a->add_generation_prompt, buf, size, n);
}

static minke_status encode_chat_into(const void *args, uint32_t *ids, size_t cap, size_t *n)
{
    const struct chat_args *a = args;
    return minke_tokenizer_encode_chat(a->tok, a->chat->msgs, a->chat->n,
                                       a->add_generation_prompt, ids, cap, n);
}

static jbyteArray native_tokenizer_apply_chat_template(JNIEnv *env, jclass cls, jlong tok,
                                                       jobjectArray roles, jobjectArray contents,
                                                       jboolean add_generation_prompt)
{
    struct mj_chat c;
    struct chat_args a;
    jbyteArray out;
    (void)cls;
    if (mj_read_chat(env, roles, contents, &c) != 0)
        return NULL;
    a.tok = TOK(tok);
    a.chat = &c;
    a.add_generation_prompt = add_generation_prompt == JNI_TRUE;
    out = mj_sized_text(env, template_into, &a, mj_chat_guess(&c));
    mj_free_chat(&c);
    return out;
}

static jintArray native_tokenizer_encode_chat(JNIEnv *env, jclass cls, jlong tok,
                                              jobjectArray roles, jobjectArray contents,
                                              jboolean add_generation_prompt)
{
    struct mj_chat c;
    struct chat_args a;
    jintArray out;
    (void)cls;
    if (mj_read_chat(env, roles, contents, &c) != 0)
        return NULL;
    a.tok = TOK(tok);
    a.chat = &c;
    a.add_generation_prompt = add_generation_prompt == JNI_TRUE;
    out = mj_sized_ids(env, encode_chat_into, &a, mj_chat_guess(&c));
    mj_free_chat(&c);
    return out;
}

/* ------------------------------------------------------------------------ */
/* Registration */

#define NATIVE(name, sig, fn) {(char *)(name), (char *)(sig), MJ_FN_PTR(fn)}

static const JNINativeMethod model_natives[] = {
    NATIVE("version", "()[B", native_version),
    NATIVE("abiVersion", "()I", native_abi_version),
    NATIVE("statusName", "(I)[B", native_status_name),
    NATIVE("modelDefaultParams", "(Ldev/minke/ModelParams;)V", native_model_default_params),
    NATIVE("modelOpen", "([BLdev/minke/ModelParams;Ldev/minke/Callbacks$Progress;)J",
           native_model_open),
    NATIVE("modelFree", "(J)V", native_model_free),
    NATIVE("modelNVocab", "(J)I", native_model_n_vocab),
    NATIVE("modelNCtxTrain", "(J)I", native_model_n_ctx_train),
    NATIVE("modelNLayers", "(J)I", native_model_n_layers),
    NATIVE("modelNLabels", "(J)I", native_model_n_labels),
    NATIVE("modelNEmbd", "(J)I", native_model_n_embd),
    NATIVE("modelWeightBytes", "(J)J", native_model_weight_bytes),
    NATIVE("modelArch", "(J)[B", native_model_arch),
    NATIVE("modelTokenizer", "(J)J", native_model_tokenizer),
    NATIVE("tokenizerOpen", "([B)J", native_tokenizer_open),
    NATIVE("tokenizerFree", "(J)V", native_tokenizer_free),
    NATIVE("tokenizerEncode", "(J[BI)[I", native_tokenizer_encode),
    NATIVE("tokenizerDecode", "(J[I)[B", native_tokenizer_decode),
    NATIVE("tokenizerTokenToPiece", "(JI)[B", native_tokenizer_token_to_piece),
    NATIVE("tokenizerTokenToId", "(J[B)I", native_tokenizer_token_to_id),
    NATIVE("tokenizerNVocab", "(J)I", native_tokenizer_n_vocab),
    NATIVE("tokenizerBos", "(J)I", native_tokenizer_bos),
    NATIVE("tokenizerEos", "(J)I", native_tokenizer_eos),
    NATIVE("tokenizerPad", "(J)I", native_tokenizer_pad),
    NATIVE("tokenizerIsEog", "(JI)Z", native_tokenizer_is_eog),
    NATIVE("tokenizerIsSpecial", "(JI)Z", native_tokenizer_is_special),
    NATIVE("tokenizerHasChatTemplate", "(J)Z", native_tokenizer_has_chat_template),
    NATIVE("tokenizerApplyChatTemplate", "(J[[B[[BZ)[B", native_tokenizer_apply_chat_template),
    NATIVE("tokenizerEncodeChat", "(J[[B[[BZ)[I", native_tokenizer_encode_chat),
    NATIVE("tokenizerEogIds", "(J)[I", native_tokenizer_eog_ids),
};

jint mj_register_model(JNIEnv *env, jclass native)
{
    return (*env)->RegisterNatives(env, native, model_natives,
                                   (jint)(sizeof model_natives / sizeof model_natives[0]));
}

/* ------------------------------------------------------------------------ */
/* Loading */

/* Looks up a class as a global reference; NULL with NoClassDefFoundError
 * pending. */
static jclass global_class(JNIEnv *env, const char *name)
{
    jclass local = (*env)->FindClass(env, name);
    jclass global;
    if (local == NULL)
        return NULL;
    global = (jclass)(*env)->NewGlobalRef(env, local);
    (*env)->DeleteLocalRef(env, local);
    return global;
}

/* The fields of a params class; 0 on success. */
#define FIELD(var, cls, name, sig)                                  \
    do {                                                            \
        (var) = (*env)->GetFieldID(env, (cls), (name), (sig));      \
        if ((var) == NULL)                                          \
            return -1;                                              \
    } while (0)

static int look_up_params(JNIEnv *env)
{
    jclass c;
    if ((c = (*env)->FindClass(env, "dev/minke/ModelParams")) == NULL)
        return -1;
    FIELD(mj.model_n_threads, c, "nThreads", "I");
    FIELD(mj.model_use_mmap, c, "useMmap", "Z");
    FIELD(mj.model_validate, c, "validate", "Z");
    (*env)->DeleteLocalRef(env, c);

    if ((c = (*env)->FindClass(env, "dev/minke/SessionParams")) == NULL)
        return -1;
    FIELD(mj.session_n_ctx, c, "nCtx", "I");
    FIELD(mj.session_n_threads, c, "nThreads", "I");
    FIELD(mj.session_n_batch, c, "nBatch", "I");
    FIELD(mj.session_kv_type, c, "kvType", "I");
    FIELD(mj.session_logits_all, c, "logitsAll", "Z");
    FIELD(mj.session_flags, c, "flags", "I");
    (*env)->DeleteLocalRef(env, c);

    if ((c = (*env)->FindClass(env, "dev/minke/SamplerParams")) == NULL)
        return -1;
    FIELD(mj.sampler_temperature, c, "temperature", "F");
    FIELD(mj.sampler_top_k, c, "topK", "I");
    FIELD(mj.sampler_top_p, c, "topP", "F");
    FIELD(mj.sampler_min_p, c, "minP", "F");
    FIELD(mj.sampler_repeat_penalty, c, "repeatPenalty", "F");
    FIELD(mj.sampler_frequency_penalty, c, "frequencyPenalty", "F");
    FIELD(mj.sampler_presence_penalty, c, "presencePenalty", "F");
    FIELD(mj.sampler_penalty_last_n, c, "penaltyLastN", "I");
    FIELD(mj.sampler_seed, c, "seed", "J");
    (*env)->DeleteLocalRef(env, c);

    if ((c = (*env)->FindClass(env, "dev/minke/GenerateParams")) == NULL)
        return -1;
    FIELD(mj.generate_max_tokens, c, "maxTokens", "I");
    FIELD(mj.generate_stop_at_eos, c, "stopAtEos", "Z");
    FIELD(mj.generate_stop_utf8, c, "stopUtf8", "[[B");
    FIELD(mj.generate_n_keep, c, "nKeep", "I");
    FIELD(mj.generate_context_shift, c, "contextShift", "Z");
    FIELD(mj.generate_n_draft, c, "nDraft", "I");
    (*env)->DeleteLocalRef(env, c);
    return 0;
}

static int look_up(JNIEnv *env)
{
    jclass c;
    if ((mj.minke_exception = global_class(env, "dev/minke/MinkeException")) == NULL ||
        (mj.out_of_memory = global_class(env, "java/lang/OutOfMemoryError")) == NULL ||
        (mj.byte_array = global_class(env, "[B")) == NULL ||
        (mj.generate_result = global_class(env, "dev/minke/GenerateResult")) == NULL ||
        (mj.candidate = global_class(env, "dev/minke/Candidate")) == NULL)
        return -1;
    if ((mj.minke_exception_new =
             (*env)->GetMethodID(env, mj.minke_exception, "<init>", "(I[B)V")) == NULL ||
        (mj.generate_result_new =
             (*env)->GetMethodID(env, mj.generate_result, "<init>", "(IIIDD[IIII)V")) == NULL ||
        (mj.candidate_new =
             (*env)->GetMethodID(env, mj.candidate, "<init>", "([B[IDJI)V")) == NULL)
        return -1;
    if ((c = (*env)->FindClass(env, "dev/minke/Callbacks$Pieces")) == NULL ||
        (mj.pieces_on_piece = (*env)->GetMethodID(env, c, "onPiece", "([B)Z")) == NULL)
        return -1;
    (*env)->DeleteLocalRef(env, c);
    if ((c = (*env)->FindClass(env, "dev/minke/Callbacks$Ranks")) == NULL ||
        (mj.ranks_rank = (*env)->GetMethodID(env, c, "rank", "([B[I)D")) == NULL)
        return -1;
    (*env)->DeleteLocalRef(env, c);
    if ((c = (*env)->FindClass(env, "dev/minke/Callbacks$Progress")) == NULL ||
        (mj.progress_on_progress = (*env)->GetMethodID(env, c, "onProgress", "(F)Z")) == NULL)
        return -1;
    (*env)->DeleteLocalRef(env, c);
    if ((c = (*env)->FindClass(env, "dev/minke/Callbacks$Log")) == NULL ||
        (mj.log_log = (*env)->GetMethodID(env, c, "log", "(I[B)V")) == NULL)
        return -1;
    (*env)->DeleteLocalRef(env, c);
    return look_up_params(env);
}

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved)
{
    JNIEnv *env = NULL;
    jclass native;
    (void)reserved;

    mj_vm = vm;
    /* A libminke.so of another ABI is refused by dev.minke.Native, which
     * compares minke_abi_version() first, with both numbers in the message. */
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_6) != JNI_OK)
        return JNI_ERR;
    if (look_up(env) != 0)
        return JNI_ERR;
    native = (*env)->FindClass(env, "dev/minke/Native");
    if (native == NULL)
        return JNI_ERR;
    if (mj_register_model(env, native) != 0 || mj_register_session(env, native) != 0 ||
        mj_register_state(env, native) != 0 || mj_register_info(env, native) != 0)
        return JNI_ERR;
    (*env)->DeleteLocalRef(env, native);
    return JNI_VERSION_1_6;
}
