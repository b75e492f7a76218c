// KvType.java: element type of a session's KV cache (minke_kv_type).
package dev.minke;

/** Element type of the KV cache, mirroring {@code minke_kv_type}. */
public enum KvType {
    /** Half precision: half the memory of F32, accuracy to spare (the default). */
    F16(0),
    /** Single precision. */
    F32(1),
    /**
     * 8-bit blocks (ggml's Q8_0: 32 values and a half-precision scale in
     * 34 bytes): about half the memory of F16; perplexity within 0.5% of
     * F16.
     */
    Q8_0(2),
    /** A type this binding does not know (a newer library's default); cannot be set. */
    UNKNOWN(-1);

    private final int code;

    KvType(int code) {
        this.code = code;
    }

    /** The C value. */
    public int code() {
        return code;
    }

    /** The type of a C value; {@link #UNKNOWN} for one this binding does not know. */
    public static KvType of(int code) {
        for (KvType t : values()) {
            if (t.code == code && t != UNKNOWN) {
                return t;
            }
        }
        return UNKNOWN;
    }
}
