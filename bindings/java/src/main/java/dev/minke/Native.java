// Native.java: the JNI entry points (src/main/c), one per C call or so.
package dev.minke;

/**
 * The native methods, all static, over raw pointers ({@code long}). The
 * public classes check arguments and handle state, then call these. Text
 * crosses as UTF-8 byte arrays in both directions: JNI's own string
 * functions speak "modified" UTF-8, which spells characters outside the
 * Basic Multilingual Plane (emoji) differently from UTF-8. Failures throw
 * {@link MinkeException} from native code.
 *
 * <p>The C side registers these with {@code RegisterNatives} when the
 * library loads, so a signature that does not match fails at once, not on
 * first use.
 */
final class Native {
    /** System property: load the JNI library from this path instead of by name. */
    static final String LIBRARY_PROPERTY = "minke.jni.library";

    static {
        String path = System.getProperty(LIBRARY_PROPERTY);
        if (path != null && !path.isEmpty()) {
            System.load(path);
        } else {
            System.loadLibrary("minke_jni");
        }
        int abi = abiVersion();
        if (abi != Minke.ABI_VERSION) {
            throw new UnsatisfiedLinkError("libminke has ABI version " + abi
                    + ", this binding was written for " + Minke.ABI_VERSION);
        }
    }

    private Native() {}

    // Library.
    static native byte[] version();
    static native int abiVersion();
    static native byte[] statusName(int status);
    static native byte[] kernelsName();
    /** minke_log_set; null silences. The native side holds the sink until replaced. */
    static native void logSet(Callbacks.Log sink, int minLevel);
    /**
     * For the tests: makes a failing minke call on a new native thread the
     * JVM has never seen (so the logger runs on a thread attached for it),
     * and joins it.
     */
    static native void logFromNativeThread();

    // Model.
    static native void modelDefaultParams(ModelParams params);
    static native long modelOpen(byte[] path, ModelParams params, Callbacks.Progress progress);
    static native void modelFree(long model);
    static native int modelNVocab(long model);
    static native int modelNCtxTrain(long model);
    static native int modelNLayers(long model);
    static native int modelNLabels(long model);
    static native int modelNEmbd(long model);
    static native long modelWeightBytes(long model);
    static native byte[] modelArch(long model);
    static native long modelTokenizer(long model);
    // modelShape's `which`: minke_model_n_heads, _n_heads_kv, _n_ff,
    // _n_experts, _n_experts_used.
    static final int SHAPE_HEADS = 0;
    static final int SHAPE_HEADS_KV = 1;
    static final int SHAPE_FF = 2;
    static final int SHAPE_EXPERTS = 3;
    static final int SHAPE_EXPERTS_USED = 4;
    static native int modelShape(long model, int which);
    static native long modelNParams(long model);
    static native byte[] modelDesc(long model);
    static native int modelNTensorTypes(long model);
    /** The name; counts gets {n_tensors, n_params}. */
    static native byte[] modelTensorType(long model, int i, long[] counts);
    static native int modelMetaCount(long model);
    /** {key, value}. */
    static native byte[][] modelMetaAt(long model, int i);
    /** null if there is no such key. */
    static native byte[] modelMetaValue(long model, byte[] key);

    // Tokenizer.
    static native long tokenizerOpen(byte[] path);
    static native void tokenizerFree(long tok);
    static native int[] tokenizerEncode(long tok, byte[] text, int flags);
    static native byte[] tokenizerDecode(long tok, int[] ids);
    static native byte[] tokenizerTokenToPiece(long tok, int id);
    static native int tokenizerTokenToId(long tok, byte[] piece);
    static native int tokenizerNVocab(long tok);
    static native int tokenizerBos(long tok);
    static native int tokenizerEos(long tok);
    static native int tokenizerPad(long tok);
    static native boolean tokenizerIsEog(long tok, int id);
    static native boolean tokenizerIsSpecial(long tok, int id);
    static native boolean tokenizerHasChatTemplate(long tok);
    static native byte[] tokenizerApplyChatTemplate(
            long tok, byte[][] roles, byte[][] contents, boolean addGenerationPrompt);
    static native int[] tokenizerEncodeChat(
            long tok, byte[][] roles, byte[][] contents, boolean addGenerationPrompt);
    static native int[] tokenizerEogIds(long tok);
    static native int tokenizerEot(long tok);
    static native byte[] tokenizerIdToToken(long tok, int id);
    static native byte[] tokenizerChatTemplate(long tok);
    static native byte[] tokenizerApplyTemplate(long tok, byte[] template, byte[][] roles,
            byte[][] contents, boolean addGenerationPrompt);
    static native int[] tokenizerEncodeChatTemplate(long tok, byte[] template, byte[][] roles,
            byte[][] contents, boolean addGenerationPrompt);

    // Session.
    static native void sessionDefaultParams(SessionParams params);
    static native long sessionBytes(long model, SessionParams params);
    static native int sessionMaxCtx(long model, SessionParams params, long budget);
    static native long sessionNew(long model, SessionParams params);
    static native void sessionFree(long session);
    static native void sessionPrefill(long session, int[] tokens);
    static native void sessionDecode(long session, int token);
    static native int sessionLogits(long session, float[] out);
    static native void sessionRewind(long session, int pos);
    static native void sessionShift(long session, int keep, int discard);
    static native int sessionPos(long session);
    static native int sessionNCtx(long session);
    static native int sessionNThreads(long session);
    static native double sessionScore(long session, int[] prompt, int[] cont, double[] logprobs);
    static native float[] sessionReward(long session, int[] tokens);
    static native void sessionSetAdapter(long session, long lora, float scale);
    static native void sessionCancel(long session);
    static native void sessionUncancel(long session);
    static native byte[] sessionStateGet(long session);
    static native void sessionStateSet(long session, byte[] state);
    static native void sessionStateSaveFile(long session, byte[] path);
    static native void sessionStateLoadFile(long session, byte[] path);
    static native int[] sessionTokens(long session);
    static native float[] sessionLogitsAt(long session, int pos);
    static native void sessionSetNThreads(long session, int n);

    // Sampler.
    static native void samplerDefaultParams(SamplerParams params);
    static native long samplerNew(long model, SamplerParams params);
    static native void samplerFree(long sampler);
    static native int samplerSample(long sampler, float[] logits);
    static native int samplerSampleSession(long sampler, long session);
    static native void samplerAccept(long sampler, int token);
    static native void samplerReset(long sampler);
    static native byte[] samplerStateGet(long sampler);
    static native void samplerStateSet(long sampler, byte[] state);

    // Generation, best-of-N.
    static native void generateDefaultParams(GenerateParams params);
    static native GenerateResult generate(long session, long sampler, long draft, int[] prompt,
            GenerateParams params, Callbacks.Pieces onPiece);
    static native Candidate[] bestOfN(long session, SamplerParams samplerParams,
            GenerateParams generateParams, int[] prompt, int n, Callbacks.Ranks rank);

    // LoRA.
    static native long loraOpen(byte[] path);
    static native void loraFree(long lora);
}
