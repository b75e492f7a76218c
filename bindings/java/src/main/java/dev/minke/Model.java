// Model.java: an open model (minke_model): weights, config, tokenizer.
package dev.minke;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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
     *     {@link Status#ERR_TOKENIZER} (with {@link ModelParams#validate}),
     *     or {@link Status#ERR_ABORTED} (the {@link ModelParams#progress}
     *     callback returned false; what it threw is rethrown as it was)
     */
    public static Model open(String path, ModelParams params) {
        byte[] p = Utf8.encode(path, "path");
        if (params == null) {
            throw new NullPointerException("params");
        }
        Callbacks.Progress progress =
                params.progress == null ? null : new Callbacks.Progress(params.progress);
        long m;
        try {
            m = Native.modelOpen(p, params, progress);
        } catch (MinkeException e) {
            if (progress != null && progress.thrown != null) {
                Callbacks.rethrow(progress.thrown);
            }
            throw e;
        }
        return new Model(m);
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

    /** Attention (query) heads. */
    public int nHeads() {
        long m = acquire();
        try {
            return Native.modelShape(m, Native.SHAPE_HEADS);
        } finally {
            release();
        }
    }

    /** Key/value heads: fewer than {@link #nHeads()} under grouped-query attention. */
    public int nHeadsKv() {
        long m = acquire();
        try {
            return Native.modelShape(m, Native.SHAPE_HEADS_KV);
        } finally {
            release();
        }
    }

    /** Width of the feed-forward layer (for DeepSeek, of the dense layers). */
    public int nFf() {
        long m = acquire();
        try {
            return Native.modelShape(m, Native.SHAPE_FF);
        } finally {
            release();
        }
    }

    /** Routed experts of a mixture-of-experts model; 0 for a dense one. */
    public int nExperts() {
        long m = acquire();
        try {
            return Native.modelShape(m, Native.SHAPE_EXPERTS);
        } finally {
            release();
        }
    }

    /** Experts each token runs through (shared ones not counted); 0 for a dense model. */
    public int nExpertsUsed() {
        long m = acquire();
        try {
            return Native.modelShape(m, Native.SHAPE_EXPERTS_USED);
        } finally {
            release();
        }
    }

    /** Parameters: elements of all tensors (all experts included). */
    public long nParams() {
        long m = acquire();
        try {
            return Native.modelNParams(m);
        } finally {
            release();
        }
    }

    /** One line naming the model, e.g. {@code "llama 135M Q4_1"}. */
    public String desc() {
        long m = acquire();
        try {
            return Utf8.decode(Native.modelDesc(m));
        } finally {
            release();
        }
    }

    /** The number formats of the model's tensors, most parameters first. */
    public List<TensorType> tensorTypes() {
        long m = acquire();
        try {
            int n = Native.modelNTensorTypes(m);
            List<TensorType> types = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                long[] counts = new long[2];
                byte[] name = Native.modelTensorType(m, i, counts);
                types.add(new TensorType(Utf8.decode(name), counts[0], counts[1]));
            }
            return Collections.unmodifiableList(types);
        } finally {
            release();
        }
    }

    /**
     * The model file's metadata, key to value as text, in the file's order
     * (a GGUF file's; a {@code .minke} file's or a checkpoint folder's
     * sorted by key). Numbers are printed, arrays abridged to their first 8
     * elements and their length (see {@code minke_model_meta_value_at()}).
     */
    public Map<String, String> metadata() {
        long m = acquire();
        try {
            int n = Native.modelMetaCount(m);
            Map<String, String> meta = new LinkedHashMap<>();
            for (int i = 0; i < n; i++) {
                byte[][] kv = Native.modelMetaAt(m, i);
                meta.put(Utf8.decode(kv[0]), Utf8.decode(kv[1]));
            }
            return Collections.unmodifiableMap(meta);
        } finally {
            release();
        }
    }

    /**
     * The value of metadata {@code key} (e.g. {@code
     * "llama.context_length"}) as text, or {@code null} if there is none.
     */
    public String meta(String key) {
        byte[] k = Utf8.encode(key, "key");
        long m = acquire();
        try {
            byte[] v = Native.modelMetaValue(m, k);
            return v == null ? null : Utf8.decode(v);
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
