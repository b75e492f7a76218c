/*
 * minke_jni.h: what the C files of the JNI binding share: the Java
 * classes, fields and methods they use (looked up once, in JNI_OnLoad),
 * and helpers that move arrays and UTF-8 text across and turn a
 * minke_status into a Java exception.
 *
 * Text crosses only as byte arrays of UTF-8, never through NewStringUTF
 * or GetStringUTFChars: those speak JNI's "modified" UTF-8, which spells
 * U+0000 and every character beyond U+FFFF (emoji) differently.
 */
#ifndef MINKE_JNI_H
#define MINKE_JNI_H

#include <jni.h>
#include <minke.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The Java side (Minke.ABI_VERSION) is written for this ABI. */
#if MINKE_ABI_VERSION != 1
#error "bindings/java is written for MINKE_ABI_VERSION 1"
#endif

/* Handles travel to Java as jlong and back. */
#define MJ_HANDLE(p) ((jlong)(intptr_t)(p))
#define MJ_PTR(type, h) ((type *)(intptr_t)(h))

/* A native method for RegisterNatives, whose JNINativeMethod.fnPtr is a
 * void *: ISO C leaves function-to-object pointer casts undefined, every
 * JNI platform defines them, and __extension__ says so to -Wpedantic. */
#if defined(__GNUC__)
#define MJ_FN_PTR(fn) (__extension__(void *)(fn))
#else
#define MJ_FN_PTR(fn) ((void *)(fn))
#endif

/* A flag one thread raises and another reads, with no data behind it:
 * relaxed atomics suffice. The builtins keep the binding C99. */
#if defined(__GNUC__)
typedef int mj_flag;
#define MJ_FLAG_STORE(f, v) __atomic_store_n((f), (v), __ATOMIC_RELAXED)
#define MJ_FLAG_LOAD(f) __atomic_load_n((f), __ATOMIC_RELAXED)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
typedef atomic_int mj_flag;
#define MJ_FLAG_STORE(f, v) atomic_store_explicit((f), (v), memory_order_relaxed)
#define MJ_FLAG_LOAD(f) atomic_load_explicit((f), memory_order_relaxed)
#else
#error "bindings/java needs GCC/Clang atomic builtins or C11 atomics"
#endif

/*
 * A session as Java holds it: the C session, and the flag Session.cancel()
 * raises from any thread while a call runs. The session's abort callback,
 * set once at creation, reads the flag before every layer; each call
 * lowers it first (Session.java orders that against cancel()). Java frees
 * this only when no call and no cancel() is using it.
 */
struct mj_session {
    minke_session *session;
    mj_flag cancel;
};

/* The C session of a Java Session's handle. */
#define MJ_SESSION(h) (MJ_PTR(struct mj_session, h)->session)

/* The abort callback of every session (user_data: its struct mj_session):
 * whether Session.cancel() raised the flag. Calls no Java. */
bool mj_cancel_requested(void *user_data);

/* Java classes (global references), fields and methods native code uses. */
struct mj_ids {
    jclass minke_exception;
    jmethodID minke_exception_new; /* (int code, byte[] message) */
    jclass out_of_memory;
    jclass byte_array;

    jfieldID model_n_threads, model_use_mmap, model_validate;
    jfieldID session_n_ctx, session_n_threads, session_n_batch, session_kv_type,
        session_logits_all, session_flags;
    jfieldID sampler_temperature, sampler_top_k, sampler_top_p, sampler_min_p,
        sampler_repeat_penalty, sampler_frequency_penalty, sampler_presence_penalty,
        sampler_penalty_last_n, sampler_seed;
    jfieldID generate_max_tokens, generate_stop_at_eos, generate_stop_utf8, generate_n_keep,
        generate_context_shift, generate_n_draft;

    jclass generate_result;
    jmethodID generate_result_new; /* (stop reason, prompt, generated, prefill ms, decode ms,
                                     tokens, discarded, drafted, accepted) */
    jclass candidate;
    jmethodID candidate_new; /* (text, tokens, score, seed, stop reason) */
    jmethodID pieces_on_piece; /* Callbacks.Pieces.onPiece(byte[]) -> boolean */
    jmethodID ranks_rank;      /* Callbacks.Ranks.rank(byte[], int[]) -> double */
    jmethodID progress_on_progress; /* Callbacks.Progress.onProgress(float) -> boolean */
    jmethodID log_log;              /* Callbacks.Log.log(int level, byte[] text) */
};

extern struct mj_ids mj;

/* The JVM, for threads the log callback runs on that have no JNIEnv. */
extern JavaVM *mj_vm;

/* A variable of each thread's own. */
#if defined(__GNUC__)
#define MJ_THREAD_LOCAL __thread
#else
#define MJ_THREAD_LOCAL _Thread_local
#endif

/* Raised by this thread around a GetPrimitiveArrayCritical region, where
 * it may make no JNI call: the log callback drops the messages logged
 * meanwhile (a failing call's DEBUG line; its MinkeException still
 * carries the message). */
extern MJ_THREAD_LOCAL int mj_in_critical;

/* Throws MinkeException(st, minke_last_error()) unless st is MINKE_OK;
 * returns whether it threw. Call it right after the failing minke call:
 * the message is the calling thread's last one. */
int mj_failed(JNIEnv *env, minke_status st);

/* Throws OutOfMemoryError naming what could not be allocated. */
void mj_throw_oom(JNIEnv *env, const char *what);

/* A malloc'd NUL-terminated copy of a byte array of UTF-8, or NULL with an
 * exception pending. Free it with free(). */
char *mj_c_string(JNIEnv *env, jbyteArray utf8);

/* A malloc'd copy of a Java int[] of token ids (room for one id at least,
 * so that an empty array is a valid pointer and the C API reports the
 * empty input itself), or NULL with an exception pending. */
uint32_t *mj_c_ids(JNIEnv *env, jintArray ids, size_t *n);

/* New Java arrays, or NULL with an exception pending. */
jbyteArray mj_j_bytes(JNIEnv *env, const char *bytes, size_t n);
jintArray mj_j_ids(JNIEnv *env, const uint32_t *ids, size_t n);

/* A C call whose text output is sized snprintf-style: it writes into
 * (buf, size) and the length it needs to *n. */
typedef minke_status (*mj_text_fn)(const void *args, char *buf, size_t size, size_t *n);
/* Same for token ids. */
typedef minke_status (*mj_ids_fn)(const void *args, uint32_t *ids, size_t capacity, size_t *n);

/* Runs f with room for `guess` bytes, then again with the room it asked
 * for; the text as a byte[], or NULL with an exception pending. */
jbyteArray mj_sized_text(JNIEnv *env, mj_text_fn f, const void *args, size_t guess);
/* The same for token ids. */
jintArray mj_sized_ids(JNIEnv *env, mj_ids_fn f, const void *args, size_t guess);

/* A conversation for the C API: messages whose strings this owns. */
struct mj_chat {
    minke_chat_message *msgs; /* (n) */
    char **strings;           /* (2 * n): role, content, role, ... */
    size_t n;
};

/* Fills `c` from two parallel arrays of UTF-8 byte arrays; 0 on success,
 * -1 with an exception pending (and `c` freed). */
int mj_read_chat(JNIEnv *env, jobjectArray roles, jobjectArray contents, struct mj_chat *c);
void mj_free_chat(struct mj_chat *c);
/* A rough size for what a template makes of a chat: its text and some
 * markup per message. */
size_t mj_chat_guess(const struct mj_chat *c);

/* Each file's natives, registered on dev.minke.Native by JNI_OnLoad. */
jint mj_register_model(JNIEnv *env, jclass native);
jint mj_register_session(JNIEnv *env, jclass native);
jint mj_register_state(JNIEnv *env, jclass native);
jint mj_register_info(JNIEnv *env, jclass native);

#endif /* MINKE_JNI_H */
