// Ranker.java: scores a best-of-N candidate.
package dev.minke;

/**
 * Scores one candidate of {@link Session#bestOfN}: higher is better. It
 * gets the candidate's text and its generated token ids (an
 * end-of-generation token that ended it included). Returning NaN aborts
 * best-of-N with a {@link MinkeException} ({@link Status#ERR_INVALID_ARG});
 * throwing aborts it too, and {@code bestOfN} rethrows what was thrown.
 *
 * <p>It runs on the thread that called {@code bestOfN}, and may use other
 * handles, such as a reward model's session ({@link Session#reward}), but
 * not the session running best-of-N.
 */
@FunctionalInterface
public interface Ranker {
    double rank(String text, int[] tokens);
}
