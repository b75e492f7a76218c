// Handle.java: the life of a native pointer: in use, closed, freed.
package dev.minke;

import java.util.concurrent.atomic.AtomicLong;

/**
 * A native minke object owned by a Java object. Every call on it runs
 * between {@link #acquire()} and {@link #release()}; {@link #close()}
 * marks it closed, and the native object is freed when the last call in
 * progress ends, so closing from another thread (or the {@link
 * HandleCleaner} running while a call is in progress) never frees memory
 * that a call is using. After close, calls throw {@link
 * IllegalStateException}; closing twice does nothing.
 *
 * <p>An exclusive handle (a session, a sampler: one thread at a time in
 * the C API) admits one call at a time: a second, from another thread or
 * from a callback of the first, is an {@link IllegalStateException}
 * instead of memory corruption.
 *
 * <p>A pin ({@link #pin()}, {@link #unpin()}) keeps the native object
 * alive without counting as a call, so it never makes a call fail: for
 * what may run beside a call, such as {@link Session#cancel()}.
 */
abstract class Handle implements AutoCloseable {
    /** Frees a native pointer; called once. */
    interface Free {
        void free(long pointer);
    }

    private final State state;
    private final HandleCleaner.Registration registration;

    Handle(String kind, long pointer, boolean exclusive, Free free) {
        state = new State(kind, pointer, exclusive, free);
        registration = HandleCleaner.register(this, state);
    }

    /** The pointer, for one call; pair with {@link #release()} in a {@code finally}. */
    final long acquire() {
        return state.acquire();
    }

    final void release() {
        state.release();
    }

    /**
     * The pointer, kept from being freed until {@link #unpin()}, even while
     * an exclusive call runs or after a close; 0 if it is already freed.
     * Only for what is safe beside a running call.
     */
    final long pin() {
        return state.pin();
    }

    final void unpin() {
        state.unpin();
    }

    /** Whether {@link #close()} has been called (or the handle was collected). */
    public final boolean isClosed() {
        return (state.word.get() & State.CLOSED) != 0;
    }

    /**
     * Frees the native object, or, if a call on it is running on another
     * thread, marks it to be freed when that call returns. Any later call
     * throws {@link IllegalStateException}. Closing twice does nothing.
     */
    @Override
    public void close() {
        registration.clean();
    }

    /**
     * The state machine, apart from the handle so that the cleaner can run
     * it without keeping the handle reachable. One atomic word: bit 0 says
     * closed, bits 1-31 count calls in progress (in steps of 2), bits 32-62
     * pins. The pointer is freed when the word becomes exactly {@link
     * #CLOSED}: closed, and nobody using it.
     */
    private static final class State implements Runnable {
        static final long CLOSED = 1;
        static final long CALL = 2;
        static final long PIN = 1L << 32;
        /** The bits that count calls. */
        static final long CALLS = PIN - CALL;

        final AtomicLong word = new AtomicLong();
        private final String kind;
        private final long pointer;
        private final boolean exclusive;
        private final Free free;

        State(String kind, long pointer, boolean exclusive, Free free) {
            this.kind = kind;
            this.pointer = pointer;
            this.exclusive = exclusive;
            this.free = free;
        }

        long acquire() {
            while (true) {
                long w = word.get();
                if ((w & CLOSED) != 0) {
                    throw new IllegalStateException(kind + " is closed");
                }
                if (exclusive && (w & CALLS) != 0) {
                    throw new IllegalStateException(kind + " is in use by another call: it is "
                            + "for one thread at a time, and a callback must not use the "
                            + "session or sampler that is calling it");
                }
                if (word.compareAndSet(w, w + CALL)) {
                    return pointer;
                }
            }
        }

        void release() {
            // The last call out after a close frees.
            if (word.addAndGet(-CALL) == CLOSED) {
                free.free(pointer);
            }
        }

        long pin() {
            while (true) {
                long w = word.get();
                if (w == CLOSED) {
                    return 0; // freed, or being freed
                }
                if (word.compareAndSet(w, w + PIN)) {
                    return pointer;
                }
            }
        }

        void unpin() {
            if (word.addAndGet(-PIN) == CLOSED) {
                free.free(pointer);
            }
        }

        /** Closes: frees now if no call is running, else leaves it to the last one. */
        @Override
        public void run() {
            // A loop, not getAndUpdate: that is Android API level 24+.
            long before;
            do {
                before = word.get();
            } while (!word.compareAndSet(before, before | CLOSED));
            if (before == 0) {
                free.free(pointer);
            }
        }
    }
}
