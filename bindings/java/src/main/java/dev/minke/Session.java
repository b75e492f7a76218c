// Session.java: one conversation over a model (minke_session).
package dev.minke;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * A conversation: KV cache, buffers and worker threads over a {@link
 * Model}, all allocated when it is made ({@link #bytes} says how much
 * beforehand). One thread at a time: a second call while one runs (from
 * another thread, or from a callback of {@link #generate}) is an {@link
 * IllegalStateException}; move it between threads freely. The exception
 * is {@link #cancel()}, which any thread may call at any time to stop the
 * call in progress. It keeps the model's weights alive: the model may be
 * closed first. Its state saves to memory or a file and restores into
 * this or another session of the model ({@link #saveState()}).
 *
 * <pre>{@code
 * try (Session session = new Session(model, new SessionParams().nCtx(1024));
 *      Sampler sampler = new Sampler(model)) {
 *     int[] prompt = tok.encodeChat(Arrays.asList(ChatMessage.user("Hi!")), true);
 *     session.generate(sampler, prompt, piece -> {
 *         System.out.print(piece);
 *         return true; // false stops
 *     });
 * }
 * }</pre>
 */
public final class Session extends Handle {
    /**
     * Orders {@link #cancel()} against the start of a call: a call starts
     * (is acquired and lowers the native cancel flag) inside it, so a
     * cancel() either comes before and is forgotten, or after and is seen.
     * Held for a moment only, never during a call.
     */
    private final Object starting = new Object();

    /** A session with the default params. */
    public Session(Model model) {
        this(model, new SessionParams());
    }

    /**
     * A session of {@code model} sized by {@code params}.
     *
     * @throws MinkeException {@link Status#ERR_INVALID_ARG}, {@link
     *     Status#ERR_RESOURCES} (more than this machine's memory) or {@link
     *     Status#ERR_UNSUPPORTED} (no kernels for this CPU)
     */
    public Session(Model model, SessionParams params) {
        super("Session", create(model, params), true, Native::sessionFree);
    }

    private static long create(Model model, SessionParams params) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(params, "params");
        long m = model.acquire();
        try {
            return Native.sessionNew(m, params);
        } finally {
            model.release();
        }
    }

    /**
     * The most heap memory, in bytes, a session of {@code model} with {@code
     * params} takes (KV cache, activations, scratch, logits); it allocates
     * nothing afterwards, except room for more rows of logits the first
     * time speculative decoding ({@link GenerateParams#nDraft(int)}) runs
     * on it.
     */
    public static long bytes(Model model, SessionParams params) {
        Objects.requireNonNull(params, "params");
        long m = model.acquire();
        try {
            return Native.sessionBytes(m, params);
        } finally {
            model.release();
        }
    }

    /**
     * The largest context length whose session, with the other fields of
     * {@code params}, fits in {@code budget} bytes as {@link #bytes} counts
     * them; at most the model's trained context.
     *
     * @throws MinkeException {@link Status#ERR_INVALID_ARG} if not even one
     *     token fits
     */
    public static int maxCtx(Model model, SessionParams params, long budget) {
        Objects.requireNonNull(params, "params");
        long m = model.acquire();
        try {
            return Native.sessionMaxCtx(m, params, budget);
        } finally {
            model.release();
        }
    }

    /** Starts a call on the session: see {@link #starting}. Pair with {@link #end()}. */
    private long begin() {
        synchronized (starting) {
            long s = acquire();
            Native.sessionUncancel(s);
            return s;
        }
    }

    private void end() {
        release();
    }

    /**
     * Stops the call running on this session, from any thread (or from
     * that call's own callback): a {@link #prefill}, {@link #decode},
     * {@link #generate}, {@link #score}, {@link #reward} or {@link
     * #bestOfN} ends within one layer's time by throwing {@link
     * MinkeException} with {@link Status#ERR_ABORTED}. The batches of
     * {@link SessionParams#nBatch} tokens that completed stay in the
     * session ({@link #pos()} and {@link #tokens()} say how far it got).
     *
     * <p>It applies to the call in progress only: every call starts
     * afresh, so a cancel() while no call runs does nothing, and a call
     * finishing just as it comes ends normally. It never waits, never
     * throws (not even on a closed session), and does not take the session
     * like other methods do.
     */
    public void cancel() {
        long s = pin();
        if (s == 0) {
            return; // freed: nothing runs
        }
        try {
            synchronized (starting) {
                Native.sessionCancel(s);
            }
        } finally {
            unpin();
        }
    }

    /**
     * Runs prompt tokens from the current position, in batches; {@link
     * #logits()} then gives the logits after the last one.
     *
     * @throws MinkeException {@link Status#ERR_INVALID_ARG} (no tokens),
     *     {@link Status#ERR_TOKEN_OUT_OF_RANGE}, {@link
     *     Status#ERR_CONTEXT_FULL} (they do not fit; nothing is run) or
     *     {@link Status#ERR_ABORTED} ({@link #cancel()})
     */
    public void prefill(int[] tokens) {
        Objects.requireNonNull(tokens, "tokens");
        long s = begin();
        try {
            Native.sessionPrefill(s, tokens);
        } finally {
            end();
        }
    }

    /**
     * Runs one token at the current position (a generation step).
     *
     * @throws MinkeException {@link Status#ERR_TOKEN_OUT_OF_RANGE}, {@link
     *     Status#ERR_CONTEXT_FULL} or {@link Status#ERR_ABORTED}
     */
    public void decode(int token) {
        long s = begin();
        try {
            Native.sessionDecode(s, token);
        } finally {
            end();
        }
    }

    /**
     * A copy of the logits after the last token run (one per vocabulary
     * entry). Before any token, or right after a rewind, they are zeros or
     * stale. To sample without the copy, use {@link Sampler#sample(Session)}.
     */
    public float[] logits() {
        long s = begin();
        try {
            float[] out = new float[Native.sessionLogits(s, null)];
            Native.sessionLogits(s, out);
            return out;
        } finally {
            end();
        }
    }

    /**
     * Copies the logits into {@code out}, which must hold at least the
     * vocabulary size; returns that size. Reusing one array saves an
     * allocation per token.
     */
    public int logits(float[] out) {
        Objects.requireNonNull(out, "out");
        long s = begin();
        try {
            int n = Native.sessionLogits(s, null);
            if (out.length < n) {
                throw new IllegalArgumentException(
                        "out holds " + out.length + " floats, the vocabulary " + n);
            }
            return Native.sessionLogits(s, out);
        } finally {
            end();
        }
    }

    /**
     * A copy of the logits after the token at {@code pos} (what the model
     * predicts for {@code pos + 1}). The session holds the last token's
     * logits; one made with {@link SessionParams#logitsAll(boolean)} holds
     * those of every token of the last call (of its last {@code nBatch}
     * when it ran more).
     *
     * @throws MinkeException {@link Status#ERR_INVALID_ARG} if the session
     *     does not hold that position's logits (the message says which it
     *     holds)
     */
    public float[] logitsAt(int pos) {
        Checks.nonNegative(pos, "pos");
        long s = begin();
        try {
            return Native.sessionLogitsAt(s, pos);
        } finally {
            end();
        }
    }

    /**
     * The tokens in the KV cache, in order ({@link #pos()} of them): every
     * prompt token and every generated token run so far.
     */
    public int[] tokens() {
        long s = begin();
        try {
            return Native.sessionTokens(s);
        } finally {
            end();
        }
    }

    /**
     * The session's state: its tokens, KV cache and last logits, in a
     * versioned format with a checksum that names the model (and adapter)
     * it belongs to. Give it to {@link #restoreState} of this or another
     * session of the same model, in this process or a later one: a prompt
     * cache. About the size of the KV cache in use.
     *
     * @throws OutOfMemoryError if it is larger than a Java array can hold
     *     (use {@link #saveStateFile})
     */
    public byte[] saveState() {
        long s = begin();
        try {
            return Native.sessionStateGet(s);
        } finally {
            end();
        }
    }

    /**
     * Restores a state from {@link #saveState()}: afterwards the session's
     * position, tokens, KV cache and logits are the saved session's, and
     * what it computes next is bit for bit what that session would have.
     * Its context may be longer than the saved one's; its adapter (and
     * scale) and KV cache type must be those the state was saved with.
     *
     * @throws MinkeException {@link Status#ERR_STATE} (truncated or damaged,
     *     of another format version, from another model, adapter or KV cache
     *     type, or more tokens than the context holds); the session is then
     *     unchanged
     */
    public void restoreState(byte[] state) {
        Objects.requireNonNull(state, "state");
        long s = begin();
        try {
            Native.sessionStateSet(s, state);
        } finally {
            end();
        }
    }

    /**
     * Writes the state ({@link #saveState()}) to the file {@code path},
     * through a temporary file renamed into place: a reader never sees half
     * a state.
     *
     * @throws MinkeException {@link Status#ERR_IO}
     */
    public void saveStateFile(String path) {
        byte[] p = Utf8.encode(path, "path");
        long s = begin();
        try {
            Native.sessionStateSaveFile(s, p);
        } finally {
            end();
        }
    }

    /**
     * Restores the state in the file {@code path} (from {@link
     * #saveStateFile}, or the bytes of {@link #saveState()} written by the
     * app), as {@link #restoreState}.
     *
     * @throws MinkeException {@link Status#ERR_IO} or {@link
     *     Status#ERR_STATE}; the session is then unchanged
     */
    public void loadStateFile(String path) {
        byte[] p = Utf8.encode(path, "path");
        long s = begin();
        try {
            Native.sessionStateLoadFile(s, p);
        } finally {
            end();
        }
    }

    /**
     * Forgets every position from {@code pos} on, so the next token goes at
     * {@code pos}.
     *
     * @throws MinkeException {@link Status#ERR_INVALID_ARG} if {@code pos}
     *     is past the current position
     */
    public void rewind(int pos) {
        Checks.nonNegative(pos, "pos");
        long s = begin();
        try {
            Native.sessionRewind(s, pos);
        } finally {
            end();
        }
    }

    /**
     * Makes room in the context: forgets the {@code discard} positions from
     * {@code keep} on and moves every later one down by {@code discard},
     * their keys rotated to their new positions, so the next token goes at
     * {@link #pos()} {@code - discard} and decoding goes on. Positions
     * {@code 0..keep} (a system prompt) stay. A chat that outgrows its
     * context typically keeps its system prompt and drops half of the rest;
     * the kept text still carries what it read of the dropped text, so this
     * is close to, not the same as, running the kept tokens again. The
     * logits of the last token run stay valid. {@link #generate} can do it
     * by itself ({@link GenerateParams#contextShift(boolean)}). {@code discard}
     * 0 does nothing.
     *
     * @throws IllegalArgumentException if {@code keep} or {@code discard}
     *     is negative
     * @throws MinkeException {@link Status#ERR_INVALID_ARG} if {@code keep
     *     + discard} is past {@link #pos()}; the session is then unchanged
     */
    public void shift(int keep, int discard) {
        Checks.nonNegative(keep, "keep");
        Checks.nonNegative(discard, "discard");
        long s = begin();
        try {
            Native.sessionShift(s, keep, discard);
        } finally {
            end();
        }
    }

    /** Tokens in the KV cache: the position of the next token. */
    public int pos() {
        long s = begin();
        try {
            return Native.sessionPos(s);
        } finally {
            end();
        }
    }

    /** The context length in use. */
    public int nCtx() {
        long s = begin();
        try {
            return Native.sessionNCtx(s);
        } finally {
            end();
        }
    }

    /** Worker threads the session runs on, the caller's included. */
    public int nThreads() {
        long s = begin();
        try {
            return Native.sessionNThreads(s);
        } finally {
            end();
        }
    }

    /**
     * Runs the session on {@code n} threads from now on (the caller's
     * included; more than 64 count as 64): the KV cache and position are
     * kept, and results are the same bits on any number of threads.
     *
     * @throws IllegalArgumentException if {@code n} is not positive
     * @throws MinkeException {@link Status#ERR_RESOURCES} (a thread would
     *     not start: the session keeps its threads)
     */
    public void setThreads(int n) {
        if (n <= 0) {
            throw new IllegalArgumentException("n must be positive, got " + n);
        }
        long s = begin();
        try {
            Native.sessionSetNThreads(s, n);
        } finally {
            end();
        }
    }

    /** {@link #generate(Sampler, int[], GenerateParams, PieceCallback)} with default params. */
    public GenerateResult generate(Sampler sampler, int[] prompt, PieceCallback onPiece) {
        return generate(sampler, prompt, new GenerateParams(), onPiece);
    }

    /**
     * Generates text: runs {@code prompt} (appended at the current
     * position), then samples and decodes until a stop condition in {@code
     * params}, giving {@code onPiece} (may be null) the text as it comes.
     * The sampler records the prompt and the generated tokens. Afterwards
     * the session holds the prompt and every generated token but the last
     * ({@link #pos()}), so a next turn can continue from there; with {@link
     * GenerateParams#contextShift(boolean)}, less the {@link
     * GenerateResult#nDiscarded()} positions the shifts dropped.
     *
     * <p>To stop early, return {@code false} from {@code onPiece}: the
     * result says {@link StopReason#CANCELLED}. If {@code onPiece} throws,
     * generation stops and this rethrows it. From another thread, {@link
     * #cancel()} stops it within a layer, even in the middle of a long
     * prompt: this then throws {@link MinkeException} with {@link
     * Status#ERR_ABORTED} (the C library gives no result for an aborted
     * call); the text streamed so far and {@link #tokens()} say what was
     * done.
     *
     * <p>With {@link GenerateParams#nDraft(int)} it decodes speculatively:
     * the same tokens when greedy, the same distribution at a temperature,
     * faster where the text repeats its input; {@link
     * GenerateResult#nAccepted()} counts the guesses that saved a step.
     *
     * @throws IllegalArgumentException if {@link GenerateParams#draft()} is
     *     this session
     * @throws IllegalStateException if the session, the sampler or the
     *     draft session is closed or in use by another call
     * @throws MinkeException {@link Status#ERR_INVALID_ARG} (empty prompt,
     *     an empty stop string, an {@link GenerateParams#nKeep(int)} that
     *     leaves no room, a draft session of another vocabulary or without
     *     {@link GenerateParams#nDraft(int)}), {@link
     *     Status#ERR_TOKEN_OUT_OF_RANGE}, {@link
     *     Status#ERR_CONTEXT_FULL} (the prompt does not fit, without a
     *     context shift), {@link Status#ERR_TOKENIZER} (the model has no
     *     tokenizer) or {@link Status#ERR_ABORTED} ({@link #cancel()})
     */
    public GenerateResult generate(Sampler sampler, int[] prompt, GenerateParams params,
            PieceCallback onPiece) {
        Objects.requireNonNull(sampler, "sampler");
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(params, "params");
        Session draft = params.draft();
        if (draft == this) {
            throw new IllegalArgumentException(
                    "the draft session is the generating session: a draft model needs a session "
                    + "of its own");
        }
        Callbacks.Pieces sink = onPiece == null ? null : new Callbacks.Pieces(onPiece);
        GenerateResult result;
        long s = begin();
        try {
            long smp = sampler.acquire();
            try {
                // The draft session is taken for the call as this one is.
                long d = draft == null ? 0 : draft.begin();
                try {
                    result = Native.generate(s, smp, d, prompt, params, sink);
                } finally {
                    if (draft != null) {
                        draft.end();
                    }
                }
            } finally {
                sampler.release();
            }
        } finally {
            end();
        }
        // The sink caught what the app's callback threw and stopped
        // generation; it goes on from here. (A failure of JNI itself inside
        // the callback, such as no memory for a piece's bytes, is already
        // pending and propagates from Native.generate.)
        if (sink != null && sink.thrown != null) {
            Callbacks.rethrow(sink.thrown);
        }
        return result;
    }

    /**
     * Scores a continuation: the log-probability of each token of {@code
     * cont} after {@code prompt} (at least one id), teacher-forced in one
     * run from the start of the session, which is rewound to 0 first and
     * afterwards holds {@code prompt} and all of {@code cont} but its last
     * token. The session must have been made with {@link
     * SessionParams#logitsAll(boolean)}.
     *
     * @throws MinkeException {@link Status#ERR_INVALID_ARG} (empty prompt,
     *     or no {@code logitsAll}), {@link Status#ERR_TOKEN_OUT_OF_RANGE} or
     *     {@link Status#ERR_CONTEXT_FULL}
     */
    public Score score(int[] prompt, int[] cont) {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(cont, "cont");
        double[] logprobs = new double[cont.length];
        long s = begin();
        try {
            double total = Native.sessionScore(s, prompt, cont, logprobs);
            return new Score(total, logprobs);
        } finally {
            end();
        }
    }

    /**
     * A reward model's scores for {@code tokens} (e.g. a chat with a user and
     * an assistant turn): one per label ({@link Model#nLabels()}), read at
     * the last token that is not padding. Runs from the start of the
     * session, which is rewound to 0 first.
     *
     * @throws MinkeException {@link Status#ERR_INVALID_ARG} (a language
     *     model, not a reward model; no tokens, or only padding), {@link
     *     Status#ERR_TOKEN_OUT_OF_RANGE} or {@link Status#ERR_CONTEXT_FULL}
     */
    public float[] reward(int[] tokens) {
        Objects.requireNonNull(tokens, "tokens");
        long s = begin();
        try {
            return Native.sessionReward(s, tokens);
        } finally {
            end();
        }
    }

    /**
     * Applies {@code lora} times {@code scale} (1: as trained, 0: no effect)
     * from the next token on; null removes the adapter. Other sessions of
     * the model are not affected. The KV cache is kept: rewind if earlier
     * positions must be computed with the new weights too. On failure the
     * session keeps the adapter it had.
     *
     * @throws MinkeException {@link Status#ERR_INVALID_ARG} (the adapter
     *     does not fit the model, or {@code scale} is not finite) or {@link
     *     Status#ERR_UNSUPPORTED}
     */
    public void setAdapter(Lora lora, float scale) {
        long s = begin();
        try {
            if (lora == null) {
                Native.sessionSetAdapter(s, 0, scale);
                return;
            }
            long l = lora.acquire();
            try {
                Native.sessionSetAdapter(s, l, scale);
            } finally {
                lora.release();
            }
        } finally {
            end();
        }
    }

    /**
     * Best-of-N: runs {@code prompt} (appended at the current position)
     * once, then generates {@code n} answers from it, each with a fresh
     * sampler of {@code samplerParams} with seeds {@code seed}, {@code seed
     * + 1}, ... (use a temperature above 0 for answers that differ),
     * stopping as {@code generateParams} say. {@code ranker} scores each
     * (null: the answer's mean log-probability per token under this
     * session's model). Afterwards the session holds the prompt and the
     * last answer generated: rewind to reuse the prompt.
     *
     * @return the answers, best first
     * @throws MinkeException {@link Status#ERR_INVALID_ARG} ({@code n} is
     *     0, empty prompt, bad params, or the ranker returned NaN), {@link
     *     Status#ERR_CONTEXT_FULL} or {@link Status#ERR_TOKENIZER}; what the
     *     ranker threw, rethrown
     */
    public List<Candidate> bestOfN(int[] prompt, int n, SamplerParams samplerParams,
            GenerateParams generateParams, Ranker ranker) {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(samplerParams, "samplerParams");
        Objects.requireNonNull(generateParams, "generateParams");
        Checks.nonNegative(n, "n");
        Callbacks.Ranks sink = ranker == null ? null : new Callbacks.Ranks(ranker);
        Candidate[] ranked = null;
        MinkeException failed = null;
        long s = begin();
        try {
            ranked = Native.bestOfN(s, samplerParams, generateParams, prompt, n, sink);
        } catch (MinkeException e) {
            // A ranker that threw made the library fail: its exception is
            // the one to report.
            failed = e;
        } finally {
            end();
        }
        if (sink != null && sink.thrown != null) {
            Callbacks.rethrow(sink.thrown);
        }
        if (failed != null) {
            throw failed;
        }
        return Collections.unmodifiableList(Arrays.asList(ranked));
    }
}
