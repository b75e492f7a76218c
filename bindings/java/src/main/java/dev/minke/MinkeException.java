// MinkeException.java: a failed minke call, with its status and message.
package dev.minke;

import java.nio.charset.StandardCharsets;

/**
 * A minke call failed: {@link #status()} says how (the C {@code
 * minke_status}), and the message is the library's, from {@code
 * minke_last_error()}, e.g. {@code "MINKE_ERR_IO: minke_model_open:
 * nope.gguf: No such file or directory (os error 2)"}.
 *
 * <p>Unchecked, as the failures it reports (a bad file, a full context)
 * are the caller's to prevent or to handle where it makes sense. Misuse of
 * the Java objects themselves (a closed handle, a session used by two
 * threads at once) is an {@link IllegalStateException} instead.
 */
public class MinkeException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int code;

    /** An error with C status {@code code} and the library's message. */
    public MinkeException(int code, String message) {
        super(Status.of(code).cName() + ": " + message);
        this.code = code;
    }

    // Called from native code: the message arrives as UTF-8 bytes, as JNI's
    // own string functions speak "modified" UTF-8, not UTF-8.
    MinkeException(int code, byte[] utf8Message) {
        this(code, new String(utf8Message, StandardCharsets.UTF_8));
    }

    /** The status; {@link Status#UNKNOWN} for a code newer than this binding. */
    public Status status() {
        return Status.of(code);
    }

    /** The raw C status value. */
    public int code() {
        return code;
    }
}
