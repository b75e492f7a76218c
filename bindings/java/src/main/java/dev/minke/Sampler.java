// Sampler.java: chooses tokens from logits (minke_sampler).
package dev.minke;

import java.util.Objects;

/**
 * A sampler: its settings, random generator and penalty history. All its
 * memory is allocated when made: sampling allocates nothing. One thread at
 * a time (a second call while one runs is an {@link
 * IllegalStateException}).
 */
public final class Sampler extends Handle {
    /** A greedy sampler (the default params) for {@code model}'s vocabulary. */
    public Sampler(Model model) {
        this(model, new SamplerParams());
    }

    /**
     * A sampler for {@code model}'s vocabulary.
     *
     * @throws MinkeException {@link Status#ERR_INVALID_ARG} for a setting
     *     out of range (the message names it)
     */
    public Sampler(Model model, SamplerParams params) {
        super("Sampler", create(model, params), true, Native::samplerFree);
    }

    private static long create(Model model, SamplerParams params) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(params, "params");
        long m = model.acquire();
        try {
            return Native.samplerNew(m, params);
        } finally {
            model.release();
        }
    }

    /**
     * Chooses a token from {@code logits} (one per vocabulary entry). It does
     * not record it: {@link #accept} the one you keep.
     *
     * @throws MinkeException {@link Status#ERR_INVALID_ARG} if the length is
     *     not the vocabulary size
     */
    public int sample(float[] logits) {
        Objects.requireNonNull(logits, "logits");
        long s = acquire();
        try {
            return Native.samplerSample(s, logits);
        } finally {
            release();
        }
    }

    /**
     * Chooses a token from {@code session}'s logits after its last token,
     * read in place (no copy into Java). It does not record it: {@link
     * #accept} the one you keep.
     */
    public int sample(Session session) {
        Objects.requireNonNull(session, "session");
        long s = acquire();
        try {
            long ss = session.acquire();
            try {
                return Native.samplerSampleSession(s, ss);
            } finally {
                session.release();
            }
        } finally {
            release();
        }
    }

    /**
     * Records {@code token} as part of the context (prompt or generated) for
     * the penalties.
     *
     * @throws MinkeException {@link Status#ERR_TOKEN_OUT_OF_RANGE}
     */
    public void accept(int token) {
        long s = acquire();
        try {
            Native.samplerAccept(s, token);
        } finally {
            release();
        }
    }

    /** Forgets the penalty history and restarts the random generator from the seed. */
    public void reset() {
        long s = acquire();
        try {
            Native.samplerReset(s);
        } finally {
            release();
        }
    }

    /**
     * What the sampler carries from token to token: its random generator's
     * position and the tokens its penalties remember, with a checksum (80
     * bytes and 4 per remembered token). Saved beside a session's {@link
     * Session#saveState()}, it makes a restored conversation sample exactly
     * what the saved one would have. The settings ({@link SamplerParams})
     * are not part of it.
     */
    public byte[] saveState() {
        long s = acquire();
        try {
            return Native.samplerStateGet(s);
        } finally {
            release();
        }
    }

    /**
     * Restores a state from {@link #saveState()}, of this sampler or another
     * with the same vocabulary and {@link SamplerParams#penaltyLastN(int)}
     * (and penalties on or off alike): the random generator continues where
     * the saved one was, whatever this sampler's seed, and the penalties
     * remember the same tokens.
     *
     * @throws MinkeException {@link Status#ERR_STATE} (truncated or damaged,
     *     of another format version, or of another vocabulary or penalty
     *     window); the sampler is then unchanged
     */
    public void restoreState(byte[] state) {
        Objects.requireNonNull(state, "state");
        long s = acquire();
        try {
            Native.samplerStateSet(s, state);
        } finally {
            release();
        }
    }
}
