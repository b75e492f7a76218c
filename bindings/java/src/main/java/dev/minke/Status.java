// Status.java: minke_status, the result code of every fallible C call.
package dev.minke;

/**
 * The result code of a minke call, mirroring the C enum {@code minke_status}
 * value for value. A {@link MinkeException} carries one. Codes are stable:
 * a library newer than this binding may return one it does not know, which
 * becomes {@link #UNKNOWN} (the exception keeps the raw {@link
 * MinkeException#code()}).
 */
public enum Status {
    /** Success. */
    OK(0),
    /** A pointer argument that must not be NULL was NULL (a bug in the binding). */
    ERR_NULL_ARG(1),
    /** An argument is out of range or inconsistent (an empty prompt, a bad setting...). */
    ERR_INVALID_ARG(2),
    /** A file could not be read (missing, unreadable). */
    ERR_IO(3),
    /** A model file is malformed (truncated, bad offsets or shapes). */
    ERR_FORMAT(4),
    /** A well-formed input asks for what minke does not support, or this CPU cannot run it. */
    ERR_UNSUPPORTED(5),
    /** An output buffer is too small (the binding sizes its buffers; not seen from Java). */
    ERR_BUFFER_TOO_SMALL(6),
    /** The session's context cannot hold the tokens: rewind it or start a new session. */
    ERR_CONTEXT_FULL(7),
    /** The model has no usable tokenizer or chat template, or tokenizing failed. */
    ERR_TOKENIZER(8),
    /** A string argument is not valid UTF-8. */
    ERR_UTF8(9),
    /** A bug in minke (a caught panic): the handles involved should only be closed. */
    ERR_INTERNAL(10),
    /** The model's configuration is missing a value or has one out of range. */
    ERR_CONFIG(11),
    /** A token id is not below the model's vocabulary size. */
    ERR_TOKEN_OUT_OF_RANGE(12),
    /** The system would not give what the call needs (memory, a worker thread). */
    ERR_RESOURCES(13),
    /** The call was stopped early: {@link Session#cancel()} (see there). */
    ERR_ABORTED(14),
    /**
     * A saved session state does not fit this session: truncated or
     * damaged, of another format version, or saved with another model,
     * LoRA adapter, KV cache type or a longer context.
     */
    ERR_STATE(15),
    /** A code this binding does not know (from a newer library). */
    UNKNOWN(-1);

    private final int code;

    Status(int code) {
        this.code = code;
    }

    /** The C value ({@code MINKE_ERR_IO} is 3); -1 for {@link #UNKNOWN}. */
    public int code() {
        return code;
    }

    /** The C name, as {@code minke_status_name()} spells it: {@code "MINKE_ERR_IO"}. */
    public String cName() {
        return this == UNKNOWN ? "MINKE_ERR_UNKNOWN" : "MINKE_" + name();
    }

    /** The status of a C value; {@link #UNKNOWN} for one this binding does not know. */
    public static Status of(int code) {
        for (Status s : values()) {
            if (s.code == code && s != UNKNOWN) {
                return s;
            }
        }
        return UNKNOWN;
    }
}
