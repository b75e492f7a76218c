// SamplerParams.java: sampling settings (minke_sampler_params).
package dev.minke;

/**
 * Sampling settings. A new object holds the C library's defaults ({@code
 * minke_sampler_default_params()}: greedy, no penalties); the setters
 * return {@code this} to chain. Values out of range are refused when a
 * {@link Sampler} is made, with a message naming the setting.
 */
public final class SamplerParams {
    // Read and written by native code by these names.
    float temperature;
    int topK;
    float topP;
    float minP;
    float repeatPenalty;
    float frequencyPenalty;
    float presencePenalty;
    int penaltyLastN;
    long seed;

    /** The library's defaults: greedy decoding, no penalties. */
    public SamplerParams() {
        Native.samplerDefaultParams(this);
    }

    /** 0 (default): greedy; otherwise logits are divided by it before the draw. */
    public float temperature() {
        return temperature;
    }

    public SamplerParams temperature(float t) {
        temperature = t;
        return this;
    }

    /** Keep the {@code k} most likely tokens; 0 (default): all. */
    public int topK() {
        return topK;
    }

    public SamplerParams topK(int k) {
        topK = Checks.nonNegative(k, "topK");
        return this;
    }

    /** Keep the fewest tokens whose probability reaches {@code p}, in (0, 1]; 1 (default): all. */
    public float topP() {
        return topP;
    }

    public SamplerParams topP(float p) {
        topP = p;
        return this;
    }

    /** Drop tokens less likely than {@code p} times the likeliest; 0 (default): none. */
    public float minP() {
        return minP;
    }

    public SamplerParams minP(float p) {
        minP = p;
        return this;
    }

    /** Divide positive (multiply negative) logits of recent tokens by this; 1 (default): off. */
    public float repeatPenalty() {
        return repeatPenalty;
    }

    public SamplerParams repeatPenalty(float r) {
        repeatPenalty = r;
        return this;
    }

    /** Subtract {@code f * count} from recent tokens' logits (default 0). */
    public float frequencyPenalty() {
        return frequencyPenalty;
    }

    public SamplerParams frequencyPenalty(float f) {
        frequencyPenalty = f;
        return this;
    }

    /** Subtract {@code p} from recent tokens' logits (default 0). */
    public float presencePenalty() {
        return presencePenalty;
    }

    public SamplerParams presencePenalty(float p) {
        presencePenalty = p;
        return this;
    }

    /** How many recent tokens the penalties look at (default 64). */
    public int penaltyLastN() {
        return penaltyLastN;
    }

    public SamplerParams penaltyLastN(int n) {
        penaltyLastN = Checks.nonNegative(n, "penaltyLastN");
        return this;
    }

    /**
     * Seed of the random generator, read as unsigned 64 bits: the same seed
     * gives the same tokens on every platform (default 0).
     */
    public long seed() {
        return seed;
    }

    public SamplerParams seed(long s) {
        seed = s;
        return this;
    }
}
