// Utf8.java: Java strings to and from the C API's NUL-terminated UTF-8.
package dev.minke;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/** Conversions for text that crosses into C. */
final class Utf8 {
    private Utf8() {}

    /**
     * {@code s} as UTF-8 without a terminator (the native side adds it).
     * A NUL character would end the C string early, silently dropping what
     * follows, so it is refused. An unpaired surrogate becomes {@code '?'},
     * as {@link String#getBytes} does.
     *
     * @throws IllegalArgumentException if {@code s} holds U+0000
     */
    static byte[] encode(String s, String what) {
        Objects.requireNonNull(s, what);
        if (s.indexOf('\0') >= 0) {
            throw new IllegalArgumentException(what + " holds a NUL character (U+0000), "
                    + "which the C API reads as the end of the text");
        }
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String decode(byte[] utf8) {
        return new String(utf8, StandardCharsets.UTF_8);
    }
}
