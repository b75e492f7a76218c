// ModelParams.java: how a model is opened (minke_model_params).
package dev.minke;

/**
 * How {@link Model#open(String, ModelParams)} opens a model. A new object
 * holds the C library's defaults ({@code minke_model_default_params()});
 * the setters return {@code this} to chain.
 */
public final class ModelParams {
    // Read and written by native code by these names.
    int nThreads;
    boolean useMmap;
    boolean validate;
    // Java only: Model.open hands it to native code.
    LoadProgress progress;

    /** The library's defaults. */
    public ModelParams() {
        Native.modelDefaultParams(this);
    }

    /** Threads a session uses when its own params say 0; 0 (default): one per core. */
    public int nThreads() {
        return nThreads;
    }

    public ModelParams nThreads(int n) {
        nThreads = Checks.nonNegative(n, "nThreads");
        return this;
    }

    /**
     * Whether the weights are mapped in place (default {@code true}: opening
     * costs nothing, but the file must not change while the model is open).
     * {@code false} reads the file into memory once.
     */
    public boolean useMmap() {
        return useMmap;
    }

    public ModelParams useMmap(boolean on) {
        useMmap = on;
        return this;
    }

    /**
     * Whether to check at open what is otherwise checked on first use: the
     * tokenizer must build, the configuration be in range (default {@code
     * false}).
     */
    public boolean validate() {
        return validate;
    }

    public ModelParams validate(boolean on) {
        validate = on;
        return this;
    }

    /** What is told of the load's progress, or {@code null} (the default). */
    public LoadProgress progress() {
        return progress;
    }

    /**
     * Tells {@code progress} how much of the load is done; it may cancel
     * it. {@code null} removes it.
     */
    public ModelParams progress(LoadProgress progress) {
        this.progress = progress;
        return this;
    }
}
