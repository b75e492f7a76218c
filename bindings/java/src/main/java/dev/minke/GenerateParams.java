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
}
