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

    private String[] stop = new String[0];

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
}
