// SessionParams.java: how a session is sized (minke_session_params).
package dev.minke;

/**
 * How a {@link Session} is sized. A new object holds the C library's
 * defaults ({@code minke_session_default_params()}); the setters return
 * {@code this} to chain.
 */
public final class SessionParams {
    /** {@code MINKE_SESSION_ALLOW_LONG_CONTEXT}. */
    private static final int ALLOW_LONG_CONTEXT = 1;

    // Read and written by native code by these names.
    int nCtx;
    int nThreads;
    int nBatch;
    int kvType;
    boolean logitsAll;
    int flags;

    /** The library's defaults. */
    public SessionParams() {
        Native.sessionDefaultParams(this);
    }

    /**
     * Context length in tokens, prompt and generation together (default
     * 2048), clamped to the model's trained context unless {@link
     * #allowLongContext(boolean)}. Memory grows linearly with it: see
     * {@link Session#bytes}.
     */
    public int nCtx() {
        return nCtx;
    }

    public SessionParams nCtx(int n) {
        nCtx = Checks.nonNegative(n, "nCtx");
        return this;
    }

    /** Worker threads, the caller's included; 0 (default): the model's. */
    public int nThreads() {
        return nThreads;
    }

    public SessionParams nThreads(int n) {
        nThreads = Checks.nonNegative(n, "nThreads");
        return this;
    }

    /** Most prompt tokens run through the layers at once (default 64). */
    public int nBatch() {
        return nBatch;
    }

    public SessionParams nBatch(int n) {
        nBatch = Checks.nonNegative(n, "nBatch");
        return this;
    }

    /** Element type of the KV cache (default {@link KvType#F16}). */
    public KvType kvType() {
        return KvType.of(kvType);
    }

    public SessionParams kvType(KvType type) {
        if (type == null || type == KvType.UNKNOWN) {
            throw new IllegalArgumentException("kvType must be a known type, got " + type);
        }
        kvType = type.code();
        return this;
    }

    /**
     * Keep the logits of every prompt position, for {@link Session#score}
     * (default {@code false}).
     */
    public boolean logitsAll() {
        return logitsAll;
    }

    public SessionParams logitsAll(boolean on) {
        logitsAll = on;
        return this;
    }

    /**
     * Keep an {@code nCtx} beyond the model's trained context (default
     * {@code false}: it is clamped). Positions past training give poor text
     * unless the model's RoPE scaling covers them.
     */
    public boolean allowLongContext() {
        return (flags & ALLOW_LONG_CONTEXT) != 0;
    }

    public SessionParams allowLongContext(boolean on) {
        flags = on ? flags | ALLOW_LONG_CONTEXT : flags & ~ALLOW_LONG_CONTEXT;
        return this;
    }
}
