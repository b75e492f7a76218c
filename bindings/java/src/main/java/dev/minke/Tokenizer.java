// Tokenizer.java: text to token ids and back, and the chat template.
package dev.minke;

import java.util.List;
import java.util.Objects;

/**
 * A tokenizer: either a model's ({@link Model#tokenizer()}), valid while
 * the model is open, or one opened alone from a model file ({@link
 * #open}), which owns its memory. Read-only: any number of threads may use
 * it at once.
 *
 * <p>Text is a Java string on this side and UTF-8 on the C side, so any
 * Unicode text round-trips, emoji included.
 */
public final class Tokenizer extends Handle {
    /**
     * {@link #encode(String, int)} flag: put the model's prefix tokens (e.g.
     * BOS) first, as for a prompt that starts a conversation.
     */
    public static final int ADD_SPECIAL = 1;

    /**
     * {@link #encode(String, int)} flag: turn special-token text ({@code
     * <|im_start|>}) into that control token. Set it only for text the app
     * wrote: with it, a user who types {@code <|im_end|>} ends the turn.
     */
    public static final int PARSE_SPECIAL = 2;

    // The model whose tokenizer this is, kept open while a call runs (and
    // reachable while this view is); null for a tokenizer opened alone.
    private final Model model;

    Tokenizer(Model model, long pointer) {
        super("Tokenizer", pointer, false, pointerOfModel -> {});
        this.model = model;
    }

    private Tokenizer(long pointer) {
        super("Tokenizer", pointer, false, Native::tokenizerFree);
        this.model = null;
    }

    /**
     * Opens only the tokenizer of a model file: a GGUF file (also a
     * vocabulary-only one), a {@code .minke} file, a Hugging Face folder or
     * a {@code tokenizer.json}. It encodes, decodes and renders the chat
     * template as the model's own does. Close it when done.
     *
     * @throws MinkeException {@link Status#ERR_IO}, {@link
     *     Status#ERR_FORMAT} or {@link Status#ERR_TOKENIZER}
     */
    public static Tokenizer open(String path) {
        return new Tokenizer(Native.tokenizerOpen(Utf8.encode(path, "path")));
    }

    private long enter() {
        long t = acquire();
        if (model != null) {
            try {
                model.acquire();
            } catch (RuntimeException e) {
                release();
                throw e;
            }
        }
        return t;
    }

    private void exit() {
        if (model != null) {
            model.release();
        }
        release();
    }

    /**
     * Text the app wrote to token ids: special-token text becomes that
     * control token; with {@code addSpecial}, the prefix tokens (BOS) come
     * first. For a user's text use {@code encode(text, 0)}, for a chat
     * {@link #encodeChat}.
     */
    public int[] encode(String text, boolean addSpecial) {
        return encode(text, PARSE_SPECIAL | (addSpecial ? ADD_SPECIAL : 0));
    }

    /**
     * Text to token ids as {@code flags} ({@link #ADD_SPECIAL}, {@link
     * #PARSE_SPECIAL}, or 0) say. With 0, the text is a user's: no prefix
     * tokens, and special-token text stays text.
     *
     * @throws MinkeException {@link Status#ERR_INVALID_ARG} for a flag the
     *     library does not know
     */
    public int[] encode(String text, int flags) {
        byte[] utf8 = Utf8.encode(text, "text");
        long t = enter();
        try {
            return Native.tokenizerEncode(t, utf8, flags);
        } finally {
            exit();
        }
    }

    /**
     * Token ids to text. Bytes that do not form valid UTF-8 come out as
     * U+FFFD; special tokens as their text.
     *
     * @throws MinkeException {@link Status#ERR_TOKEN_OUT_OF_RANGE}
     */
    public String decode(int[] ids) {
        Objects.requireNonNull(ids, "ids");
        long t = enter();
        try {
            return Utf8.decode(Native.tokenizerDecode(t, ids));
        } finally {
            exit();
        }
    }

    /**
     * The raw bytes token {@code id} stands for. Bytes, not a string: a
     * token may hold part of a UTF-8 character, so join pieces before
     * decoding them (or use {@link #decode}, or {@link Session#generate},
     * which streams whole characters).
     */
    public byte[] tokenToPiece(int id) {
        long t = enter();
        try {
            return Native.tokenizerTokenToPiece(t, id);
        } finally {
            exit();
        }
    }

    /**
     * The id of a token as the vocabulary spells it ({@code "<|im_end|>"}).
     *
     * @throws MinkeException {@link Status#ERR_TOKENIZER} if there is none
     */
    public int tokenToId(String piece) {
        byte[] utf8 = Utf8.encode(piece, "piece");
        long t = enter();
        try {
            return Native.tokenizerTokenToId(t, utf8);
        } finally {
            exit();
        }
    }

    /** The tokenizer's vocabulary size (ids are below it). */
    public int nVocab() {
        long t = enter();
        try {
            return Native.tokenizerNVocab(t);
        } finally {
            exit();
        }
    }

    /** The beginning-of-sequence id, or -1 if there is none. */
    public int bos() {
        long t = enter();
        try {
            return Native.tokenizerBos(t);
        } finally {
            exit();
        }
    }

    /** The end-of-sequence id, or -1; other tokens may also end generation ({@link #isEog}). */
    public int eos() {
        long t = enter();
        try {
            return Native.tokenizerEos(t);
        } finally {
            exit();
        }
    }

    /** The padding id, or -1 if there is none. */
    public int pad() {
        long t = enter();
        try {
            return Native.tokenizerPad(t);
        } finally {
            exit();
        }
    }

    /**
     * The token that ends a turn in the model's chat format ({@code
     * <|im_end|>}, {@code <|eot_id|>}...), or -1 if minke knows none.
     */
    public int eot() {
        long t = enter();
        try {
            return Native.tokenizerEot(t);
        } finally {
            exit();
        }
    }

    /**
     * Token {@code id} as the vocabulary spells it ({@code "Ġhello"}): the
     * inverse of {@link #tokenToId}. {@link #tokenToPiece} gives the text it
     * stands for instead.
     *
     * @throws MinkeException {@link Status#ERR_TOKEN_OUT_OF_RANGE}
     */
    public String idToToken(int id) {
        long t = enter();
        try {
            return Utf8.decode(Native.tokenizerIdToToken(t, id));
        } finally {
            exit();
        }
    }

    /** Whether {@code id} ends generation (end of sequence or of turn). */
    public boolean isEog(int id) {
        long t = enter();
        try {
            return Native.tokenizerIsEog(t, id);
        } finally {
            exit();
        }
    }

    /** Whether {@code id} is a special (control) token such as {@code <|im_start|>}. */
    public boolean isSpecial(int id) {
        long t = enter();
        try {
            return Native.tokenizerIsSpecial(t, id);
        } finally {
            exit();
        }
    }

    /** The ids that end generation ({@link #isEog}). */
    public int[] eogIds() {
        long t = enter();
        try {
            return Native.tokenizerEogIds(t);
        } finally {
            exit();
        }
    }

    /** Whether the model has a chat template. */
    public boolean hasChatTemplate() {
        long t = enter();
        try {
            return Native.tokenizerHasChatTemplate(t);
        } finally {
            exit();
        }
    }

    /**
     * The prompt for {@code messages} as token ids, ready to generate from:
     * the chat template rendered and encoded so that only the template's
     * own special tokens are control tokens, never text a user typed. With
     * {@code addGenerationPrompt}, it ends with the header of the
     * assistant's turn.
     *
     * @throws MinkeException {@link Status#ERR_TOKENIZER} (no template, or
     *     it failed or went past its limits)
     */
    public int[] encodeChat(List<ChatMessage> messages, boolean addGenerationPrompt) {
        byte[][][] rc = roleContents(messages);
        long t = enter();
        try {
            return Native.tokenizerEncodeChat(t, rc[0], rc[1], addGenerationPrompt);
        } finally {
            exit();
        }
    }

    /**
     * The chat template rendered as text, to show or log. Encoding it with
     * {@link #PARSE_SPECIAL} would also turn special-token text a user
     * typed into control tokens: to prompt the model, use {@link
     * #encodeChat}.
     */
    public String applyChatTemplate(List<ChatMessage> messages, boolean addGenerationPrompt) {
        byte[][][] rc = roleContents(messages);
        long t = enter();
        try {
            return Utf8.decode(
                    Native.tokenizerApplyChatTemplate(t, rc[0], rc[1], addGenerationPrompt));
        } finally {
            exit();
        }
    }

    /**
     * The model's chat template, its Jinja source: to show, or to start a
     * template of the app's from.
     *
     * @throws MinkeException {@link Status#ERR_TOKENIZER} if it has none
     */
    public String chatTemplate() {
        long t = enter();
        try {
            return Utf8.decode(Native.tokenizerChatTemplate(t));
        } finally {
            exit();
        }
    }

    /**
     * {@link #applyChatTemplate} with {@code template}, a Jinja chat
     * template of the app's, in place of the model's (which need not have
     * one), rendered the same way and within the same limits.
     *
     * @throws MinkeException {@link Status#ERR_TOKENIZER} (the template
     *     does not compile, fails or goes past a limit; the message says
     *     where)
     */
    public String applyTemplate(String template, List<ChatMessage> messages,
            boolean addGenerationPrompt) {
        byte[] tmpl = Utf8.encode(template, "template");
        byte[][][] rc = roleContents(messages);
        long t = enter();
        try {
            return Utf8.decode(Native.tokenizerApplyTemplate(
                    t, tmpl, rc[0], rc[1], addGenerationPrompt));
        } finally {
            exit();
        }
    }

    /**
     * {@link #encodeChat} with {@code template} in place of the model's:
     * the prompt's ids, special-token text in a message kept as text.
     *
     * @throws MinkeException as {@link #applyTemplate}
     */
    public int[] encodeChatTemplate(String template, List<ChatMessage> messages,
            boolean addGenerationPrompt) {
        byte[] tmpl = Utf8.encode(template, "template");
        byte[][][] rc = roleContents(messages);
        long t = enter();
        try {
            return Native.tokenizerEncodeChatTemplate(t, tmpl, rc[0], rc[1], addGenerationPrompt);
        } finally {
            exit();
        }
    }

    private static byte[][][] roleContents(List<ChatMessage> messages) {
        Objects.requireNonNull(messages, "messages");
        byte[][] roles = new byte[messages.size()][];
        byte[][] contents = new byte[messages.size()][];
        for (int i = 0; i < roles.length; i++) {
            ChatMessage m = Objects.requireNonNull(messages.get(i), "message");
            roles[i] = Utf8.encode(m.role(), "role");
            contents[i] = Utf8.encode(m.content(), "content");
        }
        return new byte[][][] {roles, contents};
    }
}
