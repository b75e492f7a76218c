// GenerateParams.java: when generation stops (minke_generate_params).
package dev.minke;

import java.util.Arrays;

/**
 * When {@link Session#generate} stops. A new object holds the C library's
 * defaults ({@code minke_generate_default_params()}); the setters return
 * {@code this} to chain.
 */
public final class GenerateParams {
    // Read and written by native code by these names.
    int maxTokens;
    boolean stopAtEos;
    byte[][] stopUtf8 = new byte[0][];
    int nKeep;
    boolean contextShift;
    int nDraft;

    /** Read by {@link Session#generate}, which takes it for the call. */
    private Session draft;
    private String[] stop = new String[0];

    /** The most tokens {@link #nDraft(int)} may guess a step ({@code MINKE_MAX_DRAFT}). */
    public static final int MAX_DRAFT = 32;

    /** The library's defaults. */
    public GenerateParams() {
        Native.generateDefaultParams(this);
    }

    /** Most tokens to generate (default 256). */
    public int maxTokens() {
        return maxTokens;
    }

    public GenerateParams maxTokens(int n) {
        maxTokens = Checks.nonNegative(n, "maxTokens");
        return this;
    }

    /** Whether end-of-generation tokens stop it (default {@code true}). */
    public boolean stopAtEos() {
        return stopAtEos;
    }

    public GenerateParams stopAtEos(boolean on) {
        stopAtEos = on;
        return this;
    }

    /** The stop strings (default none). */
    public String[] stop() {
        return stop.clone();
    }

    /**
     * Generation stops when the text contains one of these, which is not
     * emitted. An empty string is refused when generating: every text
     * contains it.
     */
    public GenerateParams stop(String... strings) {
        byte[][] utf8 = new byte[strings.length][];
        for (int i = 0; i < strings.length; i++) {
            utf8[i] = Utf8.encode(strings[i], "stop string");
        }
        stop = Arrays.copyOf(strings, strings.length);
        stopUtf8 = utf8;
        return this;
    }

    /**
     * Whether generation goes on when the context fills (default {@code
     * false}: it stops with {@link StopReason#CONTEXT_FULL}).
     */
    public boolean contextShift() {
        return contextShift;
    }

    /**
     * When the context fills, keep its first {@link #nKeep()} positions,
     * drop half of the rest (as {@link Session#shift} does) and go on, as
     * often as it fills: a chat that never ends, at the price of forgetting
     * its middle. The prompt may then be longer than the context: what does
     * not fit is dropped in the same way as it is read. {@link
     * GenerateResult#nDiscarded()} says how many positions were dropped.
     */
    public GenerateParams contextShift(boolean on) {
        contextShift = on;
        return this;
    }

    /** With {@link #contextShift(boolean)}: the positions kept at the start (default 0). */
    public int nKeep() {
        return nKeep;
    }

    /**
     * The positions a context shift keeps at the start of the context (a
     * system prompt). At most the context length less 2; more is refused
     * when generating ({@link Status#ERR_INVALID_ARG}).
     */
    public GenerateParams nKeep(int n) {
        nKeep = Checks.nonNegative(n, "nKeep");
        return this;
    }

    /** Tokens guessed a step by speculative decoding (default 0: none). */
    public int nDraft() {
        return nDraft;
    }

    /**
     * Speculative decoding: each step, guess up to {@code n} tokens cheaply
     * and have the model check them all in one batch, keeping those it
     * agrees with. The output is what it would be without: token for token
     * when greedy, from the same distribution at a temperature; only the
     * speed changes. It pays where the answer repeats its input
     * (summarizing, rewriting, extracting, editing code); {@link
     * GenerateResult#nAccepted()} says how it went. The guesses come from
     * prompt lookup, or from a {@link #draft(Session)} model. 0 turns it
     * off. {@link Session#bestOfN} does not speculate and ignores it.
     *
     * @throws IllegalArgumentException if {@code n} is negative or above
     *     {@link #MAX_DRAFT}
     */
    public GenerateParams nDraft(int n) {
        if (n < 0 || n > MAX_DRAFT) {
            throw new IllegalArgumentException(
                    "nDraft must be 0 to " + MAX_DRAFT + ", got " + n);
        }
        nDraft = n;
        return this;
    }

    /** The draft model's session, or null for prompt lookup (the default). */
    public Session draft() {
        return draft;
    }

    /**
     * Where {@link #nDraft(int)}'s guesses come from. Null (the default):
     * prompt lookup, no second model: the last few tokens are looked for
     * earlier in the session and what followed them there is proposed.
     * Otherwise a session of a smaller draft model with the same
     * vocabulary, which proposes what it would generate. {@link
     * Session#generate} takes it for the call as it takes the session (a
     * call on it from another thread meanwhile is an {@link
     * IllegalStateException}) and replaces its contents; a prefix it
     * already holds is reused, so keep one draft session for a whole
     * conversation, with the context of the generating session. A draft
     * of another vocabulary, or one set while {@link #nDraft()} is 0, is
     * refused when generating ({@link Status#ERR_INVALID_ARG}); the
     * generating session itself, with an {@link IllegalArgumentException}.
     */
    public GenerateParams draft(Session session) {
        draft = session;
        return this;
    }
}
