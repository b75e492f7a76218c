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
     * The C name of a status code, from the library ({@code
     * minke_status_name()}): {@code "MINKE_ERR_IO"}, or {@code
     * "MINKE_ERR_UNKNOWN"} for a value it does not know.
     */
    public static String statusName(int code) {
        return Utf8.decode(Native.statusName(code));
    }
}
