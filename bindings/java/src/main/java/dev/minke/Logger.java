// Logger.java: receives the library's log (Minke.setLogger).
package dev.minke;

/**
 * Receives the library's log messages, set with {@link
 * Minke#setLogger(Logger, LogLevel)}: one line of text each. It is called
 * on whichever thread logs: an app thread inside a minke call, or a
 * thread of minke's own, which is attached to the JVM for the call (as a
 * daemon). So it must be thread-safe, and should be quick. It must not
 * call {@code Minke.setLogger} (refused). What it throws is dropped: the
 * log must not stop the call that logged.
 */
@FunctionalInterface
public interface Logger {
    void log(LogLevel level, String message);
}
