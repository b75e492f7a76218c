// Candidate.java: one answer of best-of-N, with its score.
package dev.minke;

/**
 * One answer of {@link Session#bestOfN}: its text, generated token ids,
 * score, the seed that produced it and why it stopped. A plain value: the
 * native candidates are copied out and freed before {@code bestOfN}
 * returns.
 */
public final class Candidate {
    private final String text;
    private final int[] tokens;
    private final double score;
    private final long seed;
    private final StopReason stopReason;

    // Made by native code.
    Candidate(byte[] text, int[] tokens, double score, long seed, int stopReason) {
        this.text = Utf8.decode(text);
        this.tokens = tokens;
        this.score = score;
        this.seed = seed;
        this.stopReason = StopReason.of(stopReason);
    }

    public String text() {
        return text;
    }

    /** The generated ids (an end-of-generation token that ended it included); a copy. */
    public int[] tokens() {
        return tokens.clone();
    }

    /** The ranker's score, or the mean log-probability per token without one. */
    public double score() {
        return score;
    }

    /**
     * The sampler seed that produced it: a fresh sampler with this seed and
     * the same params generates it again.
     */
    public long seed() {
        return seed;
    }

    public StopReason stopReason() {
        return stopReason;
    }

    @Override
    public String toString() {
        return "Candidate[score " + score + ", seed " + seed + ", " + stopReason + ": " + text
                + "]";
    }
}
