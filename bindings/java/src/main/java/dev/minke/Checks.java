// Checks.java: argument checks shared by the public classes.
package dev.minke;

/** The C API takes counts as unsigned 32-bit values: Java ints must not be negative. */
final class Checks {
    private Checks() {}

    static int nonNegative(int value, String what) {
        if (value < 0) {
            throw new IllegalArgumentException(what + " must not be negative, got " + value);
        }
        return value;
    }
}
