// LogLevel.java: how much a log message matters (minke_log_level).
package dev.minke;

/** How much a message of the library's log matters, least first. */
public enum LogLevel {
    /** Detail: sizes chosen, every call that failed with its message. */
    DEBUG(1),
    /** What the library did: a model opened (what it is, how long it took). */
    INFO(2),
    /** A choice made for the caller, or a part of a model it cannot use. */
    WARN(3),
    /** A failure. */
    ERROR(4);

    final int code;

    LogLevel(int code) {
        this.code = code;
    }

    static LogLevel of(int code) {
        for (LogLevel l : values()) {
            if (l.code == code) {
                return l;
            }
        }
        return ERROR; // a level newer than this binding
    }
}
