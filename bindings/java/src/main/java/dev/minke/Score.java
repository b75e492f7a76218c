// Score.java: log-probabilities of a continuation.
package dev.minke;

/** The result of {@link Session#score}: natural-log probabilities of a continuation. */
public final class Score {
    private final double total;
    private final double[] logprobs;

    Score(double total, double[] logprobs) {
        this.total = total;
        this.logprobs = logprobs;
    }

    /** The log-probability of the whole continuation: the sum of {@link #logprobs()}. */
    public double total() {
        return total;
    }

    /** One log-probability per continuation token; a copy. */
    public double[] logprobs() {
        return logprobs.clone();
    }
}
