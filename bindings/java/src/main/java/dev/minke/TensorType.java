// TensorType.java: one number format of a model's tensors.
package dev.minke;

/** One number format of a model's tensors ({@link Model#tensorTypes()}). */
public final class TensorType {
    private final String name;
    private final long nTensors;
    private final long nParams;

    TensorType(String name, long nTensors, long nParams) {
        this.name = name;
        this.nTensors = nTensors;
        this.nParams = nParams;
    }

    /** Its name: {@code "q4_1"}, {@code "f32"}, {@code "q4_0x16"}... */
    public String name() {
        return name;
    }

    /** Tensors in this format. */
    public long nTensors() {
        return nTensors;
    }

    /** Their elements. */
    public long nParams() {
        return nParams;
    }

    @Override
    public String toString() {
        return name + " (" + nTensors + " tensors, " + nParams + " params)";
    }
}
