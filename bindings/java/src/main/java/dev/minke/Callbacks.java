// Callbacks.java: what native code calls back during generate and best-of-N.
package dev.minke;

/**
 * Adapters between the C callbacks and the app's. Native code calls these
 * objects, never the app's directly: they decode the UTF-8 bytes, and
 * catch anything the app throws, keep it, and tell the C library to stop,
 * since an exception must not unwind through it. The caller then rethrows
 * the kept throwable.
 */
final class Callbacks {
    private Callbacks() {}

    /** Called by native code with each piece of generated text. */
    static final class Pieces {
        private final PieceCallback callback;
        Throwable thrown;

        Pieces(PieceCallback callback) {
            this.callback = callback;
        }

        // Called from native code; false stops generation.
        boolean onPiece(byte[] utf8) {
            try {
                return callback.onPiece(Utf8.decode(utf8));
            } catch (Throwable t) {
                thrown = t;
                return false;
            }
        }
    }

    /** Called by native code with each best-of-N candidate to score. */
    static final class Ranks {
        private final Ranker ranker;
        Throwable thrown;

        Ranks(Ranker ranker) {
            this.ranker = ranker;
        }

        // Called from native code; NaN aborts best-of-N.
        double rank(byte[] utf8, int[] tokens) {
            try {
                return ranker.rank(Utf8.decode(utf8), tokens);
            } catch (Throwable t) {
                thrown = t;
                return Double.NaN;
            }
        }
    }

    /** Called by native code with how much of a model is loaded. */
    static final class Progress {
        private final LoadProgress callback;
        Throwable thrown;

        Progress(LoadProgress callback) {
            this.callback = callback;
        }

        // Called from native code; false cancels the load.
        boolean onProgress(float fraction) {
            try {
                return callback.onProgress(fraction);
            } catch (Throwable t) {
                thrown = t;
                return false;
            }
        }
    }

    /**
     * Called by native code with each log message, on any thread. What the
     * logger throws is counted and dropped: there is no caller to give it
     * to.
     */
    static final class Log {
        private static final ThreadLocal<Boolean> INSIDE = new ThreadLocal<>();
        private final Logger logger;
        final java.util.concurrent.atomic.AtomicLong dropped =
                new java.util.concurrent.atomic.AtomicLong();

        Log(Logger logger) {
            this.logger = logger;
        }

        /** Whether this thread is running a logger now. */
        static boolean inside() {
            return INSIDE.get() != null;
        }

        // Called from native code.
        void log(int level, byte[] utf8) {
            INSIDE.set(Boolean.TRUE);
            try {
                logger.log(LogLevel.of(level), Utf8.decode(utf8));
            } catch (Throwable t) {
                dropped.incrementAndGet();
            } finally {
                INSIDE.remove();
            }
        }
    }

    /** Rethrows what a callback threw, as it was if it is unchecked. */
    static void rethrow(Throwable t) {
        if (t instanceof RuntimeException) {
            throw (RuntimeException) t;
        }
        if (t instanceof Error) {
            throw (Error) t;
        }
        // Only a checked exception thrown sneakily gets here.
        throw new RuntimeException(t);
    }
}
