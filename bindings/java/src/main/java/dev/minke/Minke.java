// Minke.java: the library as a whole: versions, status names.
package dev.minke;

/**
 * The native library as a whole. Loading it: {@code
 * System.loadLibrary("minke_jni")} (on Android, from the app's native
 * libraries; on a desktop JVM, from {@code java.library.path}), or from the
 * path in the system property {@code minke.jni.library}. It happens when a
 * class of this package first needs it, and fails with an {@link
 * UnsatisfiedLinkError} if the library's ABI version is not {@link
 * #ABI_VERSION}.
 */
public final class Minke {
    /** The {@code MINKE_ABI_VERSION} this binding is written for. */
    public static final int ABI_VERSION = 1;

    private Minke() {}

    /** The version of the library loaded, e.g. {@code "0.1.0"} ({@code minke_version()}). */
    public static String version() {
        return Utf8.decode(Native.version());
    }

    /** The ABI version of the library loaded ({@code minke_abi_version()}). */
    public static int abiVersion() {
        return Native.abiVersion();
    }

    /**
     * The name of the kernel set that runs the arithmetic on this CPU, e.g.
     * {@code "avx2"}, {@code "neon-dotprod"} or {@code "scalar"} (the one
     * the {@code MINKE_ISA} environment variable names, if set); {@code ""}
     * if none can run.
     */
    public static String kernelsName() {
        return Utf8.decode(Native.kernelsName());
    }

    // The logger minke calls now, or null; guarded by Minke.class.
    private static Callbacks.Log log;

    /** {@link #setLogger(Logger, LogLevel)} at {@link LogLevel#INFO}. */
    public static void setLogger(Logger logger) {
        setLogger(logger, LogLevel.INFO);
    }

    /**
     * Sends the library's log messages of {@code minLevel} and above to
     * {@code logger}, replacing the one set before; {@code null} silences
     * the library again (the default). Process-wide and thread-safe: when
     * it returns, the logger it replaced is running on no thread and is
     * never called again.
     *
     * @throws MinkeException {@link Status#ERR_INVALID_ARG} when called
     *     from inside a logger
     */
    public static void setLogger(Logger logger, LogLevel minLevel) {
        if (minLevel == null) {
            throw new NullPointerException("minLevel");
        }
        if (Callbacks.Log.inside()) {
            // Checked before the lock: a setLogger holding it waits for
            // this logger to return.
            throw new MinkeException(Status.ERR_INVALID_ARG.code(),
                    "Minke.setLogger: called from inside a Logger");
        }
        synchronized (Minke.class) {
            Callbacks.Log next = logger == null ? null : new Callbacks.Log(logger);
            Native.logSet(next, minLevel.code);
            log = next;
        }
    }

    /** Exceptions the current logger threw (and that were dropped). */
    static synchronized long loggerExceptions() {
        return log == null ? 0 : log.dropped.get();
    }

    /**
     * The C name of a status code, from the library ({@code
     * minke_status_name()}): {@code "MINKE_ERR_IO"}, or {@code
     * "MINKE_ERR_UNKNOWN"} for a value it does not know.
     */
    public static String statusName(int code) {
        return Utf8.decode(Native.statusName(code));
    }
}
