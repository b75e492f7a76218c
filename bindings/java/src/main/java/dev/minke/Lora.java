// Lora.java: a LoRA adapter (minke_lora).
package dev.minke;

/**
 * A LoRA adapter loaded from a PEFT folder ({@code adapter_config.json} and
 * {@code adapter_model.safetensors}). Attach it to sessions with {@link
 * Session#setAdapter}; it is checked against the model there. Read-only:
 * any number of threads and sessions may use it. Sessions keep what they
 * use alive, so it may be closed while they still apply it.
 */
public final class Lora extends Handle {
    private Lora(long pointer) {
        super("Lora", pointer, false, Native::loraFree);
    }

    /**
     * Loads the adapter in folder {@code path}.
     *
     * @throws MinkeException {@link Status#ERR_IO} (a file is missing),
     *     {@link Status#ERR_FORMAT} or {@link Status#ERR_UNSUPPORTED}
     */
    public static Lora open(String path) {
        return new Lora(Native.loraOpen(Utf8.encode(path, "path")));
    }
}
