// HandleCleaner.java: frees native memory of handles the app forgot to close.
package dev.minke;

import java.lang.ref.PhantomReference;
import java.lang.ref.ReferenceQueue;
import java.util.Collections;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The safety net behind {@link AutoCloseable#close()}: when a handle
 * becomes unreachable without having been closed, a daemon thread runs its
 * clean-up action. It is {@code java.lang.ref.Cleaner} in miniature, built
 * on {@link PhantomReference} because Android has that Cleaner only from
 * API level 33. Closing explicitly stays the rule: the garbage collector
 * does not see native memory (a session's KV cache is megabytes it does
 * not count), so it may run late.
 */
final class HandleCleaner {
    private static final ReferenceQueue<Object> QUEUE = new ReferenceQueue<>();
    // Registrations must stay reachable until they are enqueued or cleaned.
    private static final Set<Registration> LIVE =
            Collections.synchronizedSet(new HashSet<Registration>());
    private static final AtomicLong COLLECTED = new AtomicLong();
    private static Thread thread;

    private HandleCleaner() {}

    /** A handle's registration: {@link #clean()} runs the action at most once. */
    static final class Registration extends PhantomReference<Object> {
        private final Runnable action;

        private Registration(Object owner, Runnable action) {
            super(owner, QUEUE);
            this.action = action;
        }

        /**
         * Runs the action now, unless it already ran, and forgets the owner;
         * true if this call ran it.
         */
        boolean clean() {
            if (!LIVE.remove(this)) {
                return false;
            }
            clear();
            action.run();
            return true;
        }
    }

    /**
     * Runs {@code action} once {@code owner} is unreachable, unless {@link
     * Registration#clean()} ran it first. The action must not refer to the
     * owner, or the owner never becomes unreachable.
     */
    static Registration register(Object owner, Runnable action) {
        Registration r = new Registration(owner, action);
        LIVE.add(r);
        startThread();
        return r;
    }

    /** How many actions ran because their owner was collected (for tests). */
    static long collected() {
        return COLLECTED.get();
    }

    private static synchronized void startThread() {
        if (thread != null) {
            return;
        }
        thread = new Thread(HandleCleaner::drain, "minke-cleaner");
        thread.setDaemon(true);
        thread.start();
    }

    private static void drain() {
        while (true) {
            try {
                Registration r = (Registration) QUEUE.remove();
                if (r.clean()) {
                    COLLECTED.incrementAndGet();
                }
            } catch (InterruptedException e) {
                // A daemon thread: nobody interrupts it but the VM at exit.
                return;
            } catch (RuntimeException | Error e) {
                // A failing free must not stop the next ones; frees do not
                // throw, so this is a bug worth printing.
                e.printStackTrace();
            }
        }
    }
}
