// PieceCallback.java: receives generated text as it comes.
package dev.minke;

/**
 * Receives each piece of generated text as soon as it is whole UTF-8 (a
 * piece never ends inside a character, so emoji arrive intact). Return
 * {@code true} to go on, {@code false} to stop generation, which then ends
 * with {@link StopReason#CANCELLED}. Anything it throws also stops
 * generation, and the generating call rethrows it.
 *
 * <p>It runs on the thread that called {@link Session#generate}, inside
 * that call: it must not use the session or sampler generating (they are
 * busy: an {@link IllegalStateException}), but may use anything else.
 */
@FunctionalInterface
public interface PieceCallback {
    boolean onPiece(String piece);
}
