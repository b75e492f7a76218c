// LoadProgress.java: told how much of a model is loaded.
package dev.minke;

/**
 * Told how much of {@link Model#open(String, ModelParams)} is done: 0
 * first, then fractions that never decrease, 1 last when the model is
 * ready. Set with {@link ModelParams#progress(LoadProgress)}. It runs on
 * the thread that called {@code open}. Returning {@code false} cancels the
 * load: {@code open} throws {@link MinkeException} ({@link
 * Status#ERR_ABORTED}). Throwing cancels it too, and {@code open}
 * rethrows what was thrown.
 */
@FunctionalInterface
public interface LoadProgress {
    boolean onProgress(float fraction);
}
