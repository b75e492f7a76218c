// GenerateResult.java: what a generate call did (minke_generate_result).
package dev.minke;

/**
 * What {@link Session#generate} did: why it stopped, the generated ids,
 * counts and timings.
 */
public final class GenerateResult {
    private final StopReason stopReason;
    private final int nPromptTokens;
    private final int nTokens;
    private final double prefillMs;
    private final double decodeMs;
    private final int[] tokens;
    private final int nDiscarded;
    private final int nDrafted;
    private final int nAccepted;

    // Made by native code.
    GenerateResult(int stopReason, int nPromptTokens, int nTokens, double prefillMs,
            double decodeMs, int[] tokens, int nDiscarded, int nDrafted, int nAccepted) {
        this.stopReason = StopReason.of(stopReason);
        this.nPromptTokens = nPromptTokens;
        this.nTokens = nTokens;
        this.prefillMs = prefillMs;
        this.decodeMs = decodeMs;
        this.tokens = tokens;
        this.nDiscarded = nDiscarded;
        this.nDrafted = nDrafted;
        this.nAccepted = nAccepted;
    }

    public StopReason stopReason() {
        return stopReason;
    }

    /** Tokens of the prompt. */
    public int nPromptTokens() {
        return nPromptTokens;
    }

    /** Tokens generated (an end-of-generation token that stopped it included). */
    public int nTokens() {
        return nTokens;
    }

    /**
     * The generated ids, {@link #nTokens()} of them (an end-of-generation
     * token that stopped it included; with a context shift, the first
     * 16,777,216 at most); a copy. The session holds all but the last
     * ({@link Session#tokens()}), less what context shifts dropped.
     */
    public int[] tokens() {
        return tokens.clone();
    }

    /**
     * Positions the context shifts of this call dropped ({@link
     * GenerateParams#contextShift(boolean)}), all from {@link
     * GenerateParams#nKeep()} on: the session's {@link Session#pos()} is that
     * much less than it would be without them. 0 without a context shift.
     */
    public int nDiscarded() {
        return nDiscarded;
    }

    /**
     * Guesses of speculative decoding the model checked ({@link
     * GenerateParams#nDraft(int)}; 0 without; guesses past where generation
     * stopped are not counted).
     */
    public int nDrafted() {
        return nDrafted;
    }

    /**
     * Guesses the model agreed with, each a token that took no decoding
     * step of its own: {@code nAccepted() / nDrafted()} is the acceptance
     * rate.
     */
    public int nAccepted() {
        return nAccepted;
    }

    /** Time to run the prompt, in milliseconds. */
    public double prefillMs() {
        return prefillMs;
    }

    /** Time of the generation loop, in milliseconds. */
    public double decodeMs() {
        return decodeMs;
    }

    @Override
    public String toString() {
        return "GenerateResult[" + stopReason + ", " + nPromptTokens + " prompt tokens, "
                + nTokens + " generated, " + nDiscarded + " discarded, " + nAccepted + " of "
                + nDrafted + " guesses accepted, prefill " + prefillMs
                + " ms, decode " + decodeMs + " ms]";
    }
}
