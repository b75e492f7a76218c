// Model.java: an open model (minke_model): weights, config, tokenizer.
package dev.minke;

/**
 * An open model: a {@code .minke} file, a GGUF file or a Hugging Face
 * checkpoint folder, its weights mapped rather than copied. Read-only once
 * open: any number of threads may use it, and each makes its own {@link
 * Session}. Sessions keep the weights alive, so a model may be closed
 * before them; its {@link #tokenizer()} may not outlive it.
 *
 * <pre>{@code
 * try (Model model = Model.open(path)) {
 *     Tokenizer tok = model.tokenizer();
 *     ...
 * }
 * }</pre>
 */
public final class Model extends Handle {
    private Model(long pointer) {
        super("Model", pointer, false, Native::modelFree);
    }

    /** Opens {@code path} with the default params. */
    public static Model open(String path) {
        return open(path, new ModelParams());
    }

    /**
     * Opens {@code path}.
     *
     * @throws MinkeException {@link Status#ERR_IO} (cannot read it), {@link
     *     Status#ERR_FORMAT} (malformed), {@link Status#ERR_UNSUPPORTED}
     *     (architecture or tensor type), {@link Status#ERR_CONFIG}, or
     *     {@link Status#ERR_TOKENIZER} (with {@link ModelParams#validate})
     */
    public static Model open(String path, ModelParams params) {
        byte[] p = Utf8.encode(path, "path");
        if (params == null) {
            throw new NullPointerException("params");
        }
        return new Model(Native.modelOpen(p, params));
    }

    /** Vocabulary size: token ids are below it. */
    public int nVocab() {
        long m = acquire();
        try {
            return Native.modelNVocab(m);
        } finally {
            release();
        }
    }

    /** The context length the model was trained for. */
    public int nCtxTrain() {
        long m = acquire();
        try {
            return Native.modelNCtxTrain(m);
        } finally {
            release();
        }
    }

    /** Number of transformer layers. */
    public int nLayers() {
        long m = acquire();
        try {
            return Native.modelNLayers(m);
        } finally {
            release();
        }
    }

    /**
     * Number of labels of a reward (sequence-classification) model: the
     * scores {@link Session#reward} gives; 0 for a language model.
     */
    public int nLabels() {
        long m = acquire();
        try {
            return Native.modelNLabels(m);
        } finally {
            release();
        }
    }

    /** Width of the hidden state (embedding size). */
    public int nEmbd() {
        long m = acquire();
        try {
            return Native.modelNEmbd(m);
        } finally {
            release();
        }
    }

    /** Bytes of all weight tensors (mapped from the file, not allocated). */
    public long weightBytes() {
        long m = acquire();
        try {
            return Native.modelWeightBytes(m);
        } finally {
            release();
        }
    }

    /** The architecture's Hugging Face class name, e.g. {@code "LlamaForCausalLM"}. */
    public String arch() {
        long m = acquire();
        try {
            return Utf8.decode(Native.modelArch(m));
        } finally {
            release();
        }
    }

    /**
     * The model's tokenizer: a view that is valid while the model is open
     * (its calls throw {@link IllegalStateException} once the model is
     * closed). Closing the view does not close the model.
     *
     * @throws MinkeException {@link Status#ERR_TOKENIZER} if the model has
     *     none or minke cannot build it (the model still runs on token ids)
     */
    public Tokenizer tokenizer() {
        long m = acquire();
        try {
            return new Tokenizer(this, Native.modelTokenizer(m));
        } finally {
            release();
        }
    }
}
