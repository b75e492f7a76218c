// StopReason.java: why generation stopped (minke_stop_reason).
package dev.minke;

/** Why {@link Session#generate} stopped, mirroring {@code minke_stop_reason}. */
public enum StopReason {
    /** An end-of-generation token ({@link Tokenizer#isEog}). */
    EOS(0),
    /** One of the stop strings appeared (it is not emitted). */
    STRING(1),
    /** {@code maxTokens} were generated. */
    MAX_TOKENS(2),
    /** The session's context is full. */
    CONTEXT_FULL(3),
    /** The callback returned {@code false} (or threw). */
    CANCELLED(4),
    /** A reason this binding does not know (from a newer library). */
    UNKNOWN(-1);

    private final int code;

    StopReason(int code) {
        this.code = code;
    }

    /** The C value. */
    public int code() {
        return code;
    }

    /** The reason of a C value; {@link #UNKNOWN} for one this binding does not know. */
    public static StopReason of(int code) {
        for (StopReason r : values()) {
            if (r.code == code && r != UNKNOWN) {
                return r;
            }
        }
        return UNKNOWN;
    }
}
