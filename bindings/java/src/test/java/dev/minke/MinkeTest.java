// MinkeTest.java: the Java binding on the real model, used as an app would.
package dev.minke;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Tests of the binding against SmolLM2-135M-Instruct and the tiny fixtures
 * in tests/fixtures: versions, model metadata, tokenizer round trips with
 * emoji, the chat template, greedy text equal to {@code minke run}'s,
 * streaming and its cancellation, exceptions from callbacks, scores,
 * rewards, LoRA, best-of-N, session and sampler state and cancel() ({@link
 * SessionStateTest}), the Q8_0 KV cache, shift() and generating with a
 * context shift ({@link ContextShiftTest}), speculative decoding ({@link
 * SpeculativeTest}), model queries, metadata, custom templates, thread
 * counts, load progress and the logger ({@link QueriesTest}), and the life
 * of handles (close, use after close, a call on a busy session, the
 * cleaner). A self-contained runner (no JUnit, so that CI needs nothing but
 * a JDK): prints one line per test and exits non-zero if any fails.
 *
 * <p>System properties: {@code minke.model} (the GGUF), {@code
 * minke.fixtures} (tests/fixtures), {@code minke.greedy} (comma-separated
 * files, each with the greedy text for {@link #PROMPT}, {@link #N_GEN}
 * tokens, and a newline, as {@code minke run} prints it: the text must
 * equal every one), {@code minke.version} (the version Cargo.toml gives).
 */
public final class MinkeTest {
    static final String PROMPT = "The capital of France is";
    static final int N_GEN = 24;

    private static int passed;
    private static int failed;

    private static Model model;
    private static Tokenizer tok;
    private static String fixtures;

    interface Body {
        void run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        String modelPath = required("minke.model");
        fixtures = required("minke.fixtures");
        // Each reference holds the greedy text and a newline.
        List<String> references = new ArrayList<>();
        for (String file : required("minke.greedy").split(",")) {
            references.add(new String(Files.readAllBytes(Paths.get(file)), StandardCharsets.UTF_8));
        }
        String version = required("minke.version");

        model = Model.open(modelPath, new ModelParams().validate(true));
        tok = model.tokenizer();

        test("versions and status names", () -> versions(version));
        test("model metadata and params", MinkeTest::metadata);
        test("errors: bad paths, wrong files, NUL", MinkeTest::openErrors);
        test("tokenizer round trips (emoji included)", MinkeTest::tokenizerRoundTrip);
        test("tokenizer queries and flags", MinkeTest::tokenizerQueries);
        test("tokenizer opened alone", () -> tokenizerAlone(modelPath));
        test("chat template", MinkeTest::chatTemplate);
        test("greedy text equals minke run's and the C example's", () -> greedyMatches(references));
        test("prefill/sample/accept/decode by hand equals generate", MinkeTest::manualLoop);
        test("logits and rewind", MinkeTest::logitsAndRewind);
        test("streaming callback stops generation", MinkeTest::callbackStops);
        test("exception in the callback is rethrown", MinkeTest::callbackThrows);
        test("the busy session refuses calls from its callback", MinkeTest::callbackReentry);
        test("stop strings", MinkeTest::stopStrings);
        test("context full", MinkeTest::contextFull);
        test("session sizing", MinkeTest::sessionSizing);
        test("sampler", MinkeTest::sampler);
        test("score", MinkeTest::score);
        test("reward", MinkeTest::reward);
        test("LoRA adapter", MinkeTest::lora);
        test("best-of-N", MinkeTest::bestOfN);
        test("session state round trip", () -> SessionStateTest.roundTrip(model, tok));
        test("damaged and foreign states are refused", () -> SessionStateTest.refused(model, tok));
        test("session state files", () -> SessionStateTest.files(model, tok));
        test("cancel() from another thread stops a long prefill",
                () -> SessionStateTest.cancelPrefill(model));
        test("cancel() beside calls and a close", () -> SessionStateTest.cancelRaces(model));
        test("cancel() from the callback stops generate",
                () -> SessionStateTest.cancelGenerate(model, tok));
        test("tokens and logitsAt", SessionStateTest::positions);
        test("generated ids", () -> SessionStateTest.generatedIds(model, tok));
        test("sampler state continues a conversation alike",
                () -> SessionStateTest.samplerState(model, tok));
        test("damaged and foreign sampler states are refused",
                () -> SessionStateTest.samplerStateRefused(model, tok));
        test("Q8_0 KV cache: smaller, generates, state round trip",
                () -> ContextShiftTest.q8_0(model, tok));
        test("shift() makes room and refuses bad spans",
                () -> ContextShiftTest.byHand(model, tok));
        test("generate with a context shift runs past the context",
                () -> ContextShiftTest.generate(model, tok));
        test("speculative decoding gives the greedy tokens",
                () -> SpeculativeTest.greedy(model, tok));
        test("speculative decoding's misuse is refused",
                () -> SpeculativeTest.refused(model, tok));
        test("model shape, formats, kernels", () -> QueriesTest.shape(model));
        test("model metadata", () -> QueriesTest.metadata(model));
        test("token spellings and custom chat templates", () -> QueriesTest.templates(tok));
        test("setThreads keeps results bit for bit", () -> QueriesTest.setThreads(model, tok));
        test("load progress, cancelled, throwing", () -> QueriesTest.loadProgress(modelPath));
        test("the logger, on any thread", () -> QueriesTest.logger(modelPath, model));
        test("close, double close, use after close", () -> closing(modelPath));
        test("close from the callback frees after the call", MinkeTest::closeWhileGenerating);
        test("threads share a model; a session is one thread's",
                () -> threads(references.get(0)));
        test("the cleaner frees what was not closed", MinkeTest::cleaner);

        tok.close();
        model.close();
        System.out.printf("test-java: %d passed, %d failed%n", passed, failed);
        System.exit(failed == 0 ? 0 : 1);
    }

    // ----------------------------------------------------------------------
    // The runner

    private static String required(String property) {
        String v = System.getProperty(property);
        if (v == null || v.isEmpty()) {
            System.err.println("MinkeTest: system property " + property + " is not set");
            System.exit(2);
        }
        return v;
    }

    private static void test(String name, Body body) {
        try {
            body.run();
            passed++;
            System.out.println("  ok    " + name);
        } catch (Throwable t) {
            failed++;
            System.out.println("  FAIL  " + name + ": " + t);
            t.printStackTrace(System.out);
        }
    }

    static void check(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    static void checkEq(Object expected, Object actual, String what) {
        if (expected == null ? actual != null : !expected.equals(actual)) {
            throw new AssertionError(what + ": expected <" + expected + ">, got <" + actual + ">");
        }
    }

    static <T extends Throwable> T expect(Class<T> type, Body body) {
        try {
            body.run();
        } catch (Throwable t) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
            throw new AssertionError("expected " + type.getSimpleName() + ", got " + t, t);
        }
        throw new AssertionError("expected " + type.getSimpleName() + ", nothing was thrown");
    }

    static MinkeException expectStatus(Status status, Body body) {
        MinkeException e = expect(MinkeException.class, body);
        checkEq(status, e.status(), "status of <" + e.getMessage() + ">");
        check(e.getMessage().startsWith(status.cName() + ": "), "message names the status");
        return e;
    }

    /** Greedy text for {@code prompt}, collected from the callback. */
    static String generateText(Session s, Sampler smp, int[] prompt, GenerateParams gp) {
        StringBuilder sb = new StringBuilder();
        s.generate(smp, prompt, gp, piece -> {
            sb.append(piece);
            return true;
        });
        return sb.toString();
    }

    static String fixture(String rel) {
        return Paths.get(fixtures, rel).toString();
    }

    // ----------------------------------------------------------------------
    // The tests

    static void versions(String version) {
        checkEq(version, Minke.version(), "minke_version()");
        checkEq(Minke.ABI_VERSION, Minke.abiVersion(), "minke_abi_version()");
        // The Java enum mirrors minke_status: every C code has its constant
        // and name, and the first code past them is unknown to the library
        // too (a new C code fails here until Status learns it).
        int known = 0;
        for (Status s : Status.values()) {
            if (s != Status.UNKNOWN) {
                checkEq(Minke.statusName(s.code()), s.cName(), "name of status " + s.code());
                checkEq(s, Status.of(s.code()), "Status.of");
                known++;
            }
        }
        checkEq("MINKE_ERR_UNKNOWN", Minke.statusName(known), "the code after the last");
        checkEq(Status.UNKNOWN, Status.of(known), "Status.of an unknown code");
        MinkeException e = new MinkeException(99, "from the future");
        checkEq(Status.UNKNOWN, e.status(), "status of code 99");
        checkEq(99, e.code(), "raw code");
    }

    static void metadata() {
        checkEq("LlamaForCausalLM", model.arch(), "arch");
        checkEq(49152, model.nVocab(), "n_vocab");
        checkEq(30, model.nLayers(), "n_layers");
        checkEq(576, model.nEmbd(), "n_embd");
        checkEq(0, model.nLabels(), "n_labels");
        check(model.nCtxTrain() >= 2048, "n_ctx_train");
        check(model.weightBytes() > 50_000_000L, "weight bytes");
        ModelParams mp = new ModelParams();
        check(mp.useMmap() && !mp.validate() && mp.nThreads() == 0, "model defaults");
        expect(IllegalArgumentException.class, () -> mp.nThreads(-1));
        // A copy read into memory is the same model.
        try (Model readIn = Model.open(System.getProperty("minke.model"), mp.useMmap(false));
                Session a = new Session(model, new SessionParams().nCtx(64));
                Session b = new Session(readIn, new SessionParams().nCtx(64))) {
            int[] ids = tok.encode(PROMPT, true);
            a.prefill(ids);
            b.prefill(ids);
            check(Arrays.equals(a.logits(), b.logits()), "mmap and read-in logits agree");
        }
    }

    static void openErrors() {
        MinkeException e = expectStatus(Status.ERR_IO, () -> Model.open("/no/such/model.gguf"));
        check(e.getMessage().contains("/no/such/model.gguf"), "the message names the file");
        check(e.getMessage().contains("minke_model_open"), "the message names the call");
        expectStatus(Status.ERR_IO, () -> Tokenizer.open("/no/such/tokenizer.json"));
        expectStatus(Status.ERR_IO, () -> Lora.open(fixture("llama_lora/no_such_adapter")));
        String vocab = fixture("tokenizer/deepseek_coder/ggml-vocab-deepseek-coder.gguf");
        e = expectStatus(Status.ERR_UNSUPPORTED, () -> Model.open(vocab));
        check(e.getMessage().contains("holds a tokenizer only"), "vocabulary-only GGUF");
        expect(IllegalArgumentException.class, () -> Model.open("model\0.gguf"));
        expect(NullPointerException.class, () -> Model.open(null));
    }

    static void tokenizerRoundTrip() {
        String[] texts = {
            "Hello, world!",
            "Zürich 東京 🐋",
            "emoji: 👍🏽 👨‍👩‍👧‍👦 🇫🇷 and math 𝔸𝔹 (four-byte UTF-8)",
            "",
        };
        for (String text : texts) {
            int[] ids = tok.encode(text, false);
            checkEq(text, tok.decode(ids), "decode(encode(text))");
            // The raw pieces, joined, are the text's UTF-8 bytes.
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            for (int id : ids) {
                byte[] piece = tok.tokenToPiece(id);
                bytes.write(piece, 0, piece.length);
            }
            check(Arrays.equals(text.getBytes(StandardCharsets.UTF_8), bytes.toByteArray()),
                    "pieces join to the UTF-8 of <" + text + ">");
        }
        // Prefix tokens, if the model adds any (SmolLM2 adds none), come first.
        int[] with = tok.encode("Hello", true);
        int[] without = tok.encode("Hello", false);
        check(Arrays.equals(without, Arrays.copyOfRange(with, with.length - without.length,
                with.length)), "prefix tokens only");
        expectStatus(Status.ERR_TOKEN_OUT_OF_RANGE, () -> tok.decode(new int[] {model.nVocab()}));
        expectStatus(Status.ERR_TOKEN_OUT_OF_RANGE, () -> tok.decode(new int[] {-1}));
        expect(IllegalArgumentException.class, () -> tok.encode("a\0b", false));
    }

    static void tokenizerQueries() {
        checkEq(49152, tok.nVocab(), "tokenizer n_vocab");
        int imEnd = tok.tokenToId("<|im_end|>");
        check(tok.isEog(imEnd) && tok.isSpecial(imEnd), "<|im_end|> ends a turn, is special");
        check(!tok.isEog(tok.encode("Paris", false)[0]), "a word does not end generation");
        check(!tok.isSpecial(model.nVocab()), "out of range is not special");
        check(tok.eos() >= 0, "eos");
        check(tok.pad() >= -1, "pad");
        int[] eog = tok.eogIds();
        check(eog.length >= 1, "eog ids");
        int found = 0;
        for (int id : eog) {
            found += id == imEnd ? 1 : 0;
            check(tok.isEog(id), "every eog id is eog");
        }
        checkEq(1, found, "<|im_end|> among the eog ids");
        checkEq("<|im_end|>", new String(tok.tokenToPiece(imEnd), StandardCharsets.UTF_8),
                "piece of <|im_end|>");
        expectStatus(Status.ERR_TOKENIZER, () -> tok.tokenToId("no such token, surely"));
        // Special-token text: parsed for the app's text, kept as text for a user's.
        checkEq("[" + imEnd + "]",
                Arrays.toString(tok.encode("<|im_end|>", Tokenizer.PARSE_SPECIAL)), "parsed");
        int[] asText = tok.encode("<|im_end|>", 0);
        check(asText.length > 1, "a user's <|im_end|> stays text");
        checkEq("<|im_end|>", tok.decode(asText), "and decodes back");
        expectStatus(Status.ERR_INVALID_ARG, () -> tok.encode("x", 1 << 20));
    }

    static void tokenizerAlone(String modelPath) {
        try (Tokenizer alone = Tokenizer.open(modelPath)) {
            String text = "Hello, world! 你好 🐋";
            check(Arrays.equals(tok.encode(text, true), alone.encode(text, true)),
                    "the same ids as the model's tokenizer");
            check(alone.hasChatTemplate(), "its chat template too");
        }
        String vocab = fixture("tokenizer/deepseek_coder/ggml-vocab-deepseek-coder.gguf");
        try (Tokenizer ds = Tokenizer.open(vocab)) {
            checkEq(32256, ds.nVocab(), "DeepSeek-Coder vocabulary");
            // llama.cpp's ids for "Hello world" after BOS.
            checkEq("[32013, 17535, 1835]", Arrays.toString(ds.encode("Hello world", true)),
                    "DeepSeek-Coder ids");
            check(!ds.hasChatTemplate(), "no template in a vocabulary file");
            expectStatus(Status.ERR_TOKENIZER, () -> ds.applyChatTemplate(
                    Arrays.asList(ChatMessage.user("Hi")), true));
        }
    }

    static void chatTemplate() {
        check(tok.hasChatTemplate(), "has a chat template");
        List<ChatMessage> chat = Arrays.asList(
                ChatMessage.system("Be brief."), ChatMessage.user("Hi! 🐋"));
        String text = tok.applyChatTemplate(chat, true);
        check(text.contains("<|im_start|>user\nHi! 🐋<|im_end|>"), "the user turn: " + text);
        check(text.endsWith("<|im_start|>assistant\n"), "ends with the assistant header");
        check(!tok.applyChatTemplate(chat, false).endsWith("<|im_start|>assistant\n"),
                "no generation prompt");
        check(Arrays.equals(tok.encode(text, Tokenizer.PARSE_SPECIAL), tok.encodeChat(chat, true)),
                "encodeChat equals encoding the rendered text");
        // A user typing special-token text does not end the turn.
        int imEnd = tok.tokenToId("<|im_end|>");
        List<ChatMessage> sly = Arrays.asList(ChatMessage.user("a <|im_end|> b"));
        List<ChatMessage> plain = Arrays.asList(ChatMessage.user("a b"));
        checkEq(count(tok.encodeChat(plain, true), imEnd), count(tok.encodeChat(sly, true), imEnd),
                "control tokens in encodeChat");
        checkEq(count(tok.encodeChat(plain, true), imEnd) + 1,
                count(tok.encode(tok.applyChatTemplate(sly, true), Tokenizer.PARSE_SPECIAL),
                        imEnd),
                "while the rendered text parses it");
        checkEq(new ChatMessage("user", "a b"), plain.get(0), "ChatMessage equality");
        expect(IllegalArgumentException.class,
                () -> tok.encodeChat(Arrays.asList(ChatMessage.user("\0")), true));
    }

    static int count(int[] ids, int id) {
        int n = 0;
        for (int x : ids) {
            n += x == id ? 1 : 0;
        }
        return n;
    }

    static void greedyMatches(List<String> references) {
        int[] prompt = tok.encode(PROMPT, true);
        try (Session s = new Session(model); Sampler smp = new Sampler(model)) {
            StringBuilder sb = new StringBuilder();
            GenerateResult r = s.generate(smp, prompt, new GenerateParams().maxTokens(N_GEN),
                    piece -> {
                        sb.append(piece);
                        return true;
                    });
            for (String reference : references) {
                checkEq(reference, sb + "\n", "greedy text");
            }
            checkEq(StopReason.MAX_TOKENS, r.stopReason(), "stop reason");
            checkEq(prompt.length, r.nPromptTokens(), "prompt tokens");
            checkEq(N_GEN, r.nTokens(), "generated tokens");
            checkEq(prompt.length + N_GEN - 1, s.pos(), "the session holds all but the last");
            check(r.prefillMs() > 0 && r.decodeMs() > 0, "timings: " + r);
        }
    }

    static void manualLoop() {
        int[] prompt = tok.encode("The three primary colors are", true);
        GenerateParams gp = new GenerateParams().maxTokens(16).stopAtEos(false);
        String generated;
        try (Session s = new Session(model); Sampler smp = new Sampler(model)) {
            generated = generateText(s, smp, prompt, gp);
        }
        try (Session s = new Session(model); Sampler smp = new Sampler(model)) {
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            s.prefill(prompt);
            checkEq(prompt.length, s.pos(), "pos after prefill");
            for (int i = 0; i < 16; i++) {
                int t = smp.sample(s);
                checkEq(t, smp.sample(s.logits()), "sampling a copy of the logits");
                smp.accept(t);
                byte[] piece = tok.tokenToPiece(t);
                bytes.write(piece, 0, piece.length);
                if (i + 1 < 16) {
                    s.decode(t);
                }
            }
            checkEq(generated, new String(bytes.toByteArray(), StandardCharsets.UTF_8),
                    "the loop by hand");
        }
    }

    static void logitsAndRewind() {
        int[] prompt = tok.encode(PROMPT, true);
        try (Session s = new Session(model, new SessionParams().nCtx(128))) {
            s.prefill(prompt);
            float[] first = s.logits();
            checkEq(model.nVocab(), first.length, "one logit per token");
            s.rewind(0);
            checkEq(0, s.pos(), "rewound");
            s.prefill(prompt);
            float[] again = new float[model.nVocab() + 3];
            checkEq(model.nVocab(), s.logits(again), "logits into an array");
            check(Arrays.equals(first, Arrays.copyOf(again, first.length)), "bit for bit");
            expect(IllegalArgumentException.class, () -> s.logits(new float[10]));
            expectStatus(Status.ERR_INVALID_ARG, () -> s.rewind(s.pos() + 1));
            expect(IllegalArgumentException.class, () -> s.rewind(-1));
            expectStatus(Status.ERR_INVALID_ARG, () -> s.prefill(new int[0]));
            expectStatus(Status.ERR_TOKEN_OUT_OF_RANGE, () -> s.decode(model.nVocab()));
        }
    }

    static void callbackStops() {
        int[] prompt = tok.encode(PROMPT, true);
        try (Session s = new Session(model); Sampler smp = new Sampler(model)) {
            int[] calls = {0};
            GenerateResult r = s.generate(smp, prompt, piece -> ++calls[0] < 2);
            checkEq(StopReason.CANCELLED, r.stopReason(), "stop reason");
            checkEq(2, calls[0], "callback calls");
            // No callback at all.
            s.rewind(0);
            r = s.generate(smp, prompt, new GenerateParams().maxTokens(3), null);
            checkEq(3, r.nTokens(), "generated without a callback");
        }
    }

    static final class Boom extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Boom() {
            super("boom");
        }
    }

    static void callbackThrows() {
        int[] prompt = tok.encode(PROMPT, true);
        GenerateParams gp = new GenerateParams().maxTokens(N_GEN);
        try (Session s = new Session(model); Sampler smp = new Sampler(model)) {
            Boom boom = new Boom();
            int[] calls = {0};
            Boom caught = expect(Boom.class, () -> s.generate(smp, prompt, gp, piece -> {
                if (++calls[0] == 3) {
                    throw boom;
                }
                return true;
            }));
            check(caught == boom, "the callback's own exception");
            checkEq(3, calls[0], "no call after the throw");
            // An Error too, and the session and sampler work afterwards.
            s.rewind(0);
            expect(StackOverflowError.class, () -> s.generate(smp, prompt, gp, piece -> {
                throw new StackOverflowError("deliberate");
            }));
            s.rewind(0);
            smp.reset();
            String text = generateText(s, smp, prompt, gp);
            check(text.startsWith(" Paris"), "generates after a throw: " + text);
        }
    }

    static void callbackReentry() {
        int[] prompt = tok.encode(PROMPT, true);
        try (Session s = new Session(model); Sampler smp = new Sampler(model)) {
            IllegalStateException e = expect(IllegalStateException.class,
                    () -> s.generate(smp, prompt, piece -> s.pos() >= 0));
            check(e.getMessage().contains("Session is in use"), e.getMessage());
            s.rewind(0);
            e = expect(IllegalStateException.class, () -> s.generate(smp, prompt, piece -> {
                smp.reset();
                return true;
            }));
            check(e.getMessage().contains("Sampler is in use"), e.getMessage());
            // Other handles are fine from a callback.
            s.rewind(0);
            int[] n = {0};
            s.generate(smp, prompt, new GenerateParams().maxTokens(4), piece -> {
                n[0] += tok.encode(piece, 0).length;
                return true;
            });
            check(n[0] > 0, "the tokenizer from a callback");
        }
    }

    static void stopStrings() {
        int[] prompt = tok.encode(PROMPT, true);
        try (Session s = new Session(model); Sampler smp = new Sampler(model)) {
            String full = generateText(s, smp, prompt, new GenerateParams().maxTokens(N_GEN));
            String stop = full.substring(full.length() / 2, full.length() / 2 + 3);
            s.rewind(0);
            smp.reset();
            StringBuilder sb = new StringBuilder();
            GenerateResult r = s.generate(smp, prompt,
                    new GenerateParams().maxTokens(N_GEN).stop("no such text", stop), piece -> {
                        sb.append(piece);
                        return true;
                    });
            checkEq(StopReason.STRING, r.stopReason(), "stopped by <" + stop + ">");
            check(full.startsWith(sb.toString()) && !sb.toString().contains(stop),
                    "text up to the stop string: " + sb);
            s.rewind(0);
            expectStatus(Status.ERR_INVALID_ARG, () -> s.generate(smp, prompt,
                    new GenerateParams().stop(""), null));
            expect(IllegalArgumentException.class, () -> new GenerateParams().stop("a\0"));
            checkEq("[x, y]", Arrays.toString(new GenerateParams().stop("x", "y").stop()),
                    "stop()");
        }
    }

    static void contextFull() {
        int[] prompt = tok.encode(PROMPT, true);
        try (Session s = new Session(model, new SessionParams().nCtx(prompt.length - 1))) {
            MinkeException e = expectStatus(Status.ERR_CONTEXT_FULL, () -> s.prefill(prompt));
            check(e.getMessage().contains("do not fit"), e.getMessage());
            checkEq(0, s.pos(), "nothing run");
        }
        try (Session s = new Session(model, new SessionParams().nCtx(prompt.length + 3));
                Sampler smp = new Sampler(model)) {
            checkEq(prompt.length + 3, s.nCtx(), "n_ctx");
            GenerateResult r = s.generate(smp, prompt, null);
            checkEq(StopReason.CONTEXT_FULL, r.stopReason(), "stop reason");
            expectStatus(Status.ERR_CONTEXT_FULL, () -> s.decode(prompt[0]));
        }
    }

    static void sessionSizing() {
        SessionParams sp = new SessionParams();
        checkEq(2048, sp.nCtx(), "default n_ctx");
        checkEq(KvType.F16, sp.kvType(), "default KV type");
        check(!sp.logitsAll() && !sp.allowLongContext() && sp.nThreads() == 0, "defaults");
        check(sp.nBatch() > 0, "default n_batch");
        sp.nCtx(512);
        long bytes = Session.bytes(model, sp);
        check(bytes > 0, "bytes");
        int nCtx = Session.maxCtx(model, sp, bytes);
        check(nCtx >= 512 && nCtx < 520, "max ctx for the bytes of 512: " + nCtx);
        check(Session.bytes(model, sp.kvType(KvType.F32)) > bytes, "f32 KV takes more");
        checkEq(model.nCtxTrain(), Session.maxCtx(model, new SessionParams(), 1L << 50),
                "a huge budget is capped at training");
        expectStatus(Status.ERR_INVALID_ARG, () -> Session.maxCtx(model, new SessionParams(), 1));
        check(sp.allowLongContext(true).allowLongContext(), "flag on");
        check(!sp.allowLongContext(false).allowLongContext(), "flag off");
        expect(IllegalArgumentException.class, () -> sp.kvType(KvType.UNKNOWN));
        expect(IllegalArgumentException.class, () -> sp.nCtx(-5));
        try (Session s = new Session(model, new SessionParams().nCtx(64).nThreads(2))) {
            checkEq(2, s.nThreads(), "threads");
            checkEq(64, s.nCtx(), "n_ctx");
        }
        expectStatus(Status.ERR_INVALID_ARG, () -> new Session(model, new SessionParams().nCtx(0)));
    }

    static void sampler() {
        SamplerParams sp = new SamplerParams();
        check(sp.temperature() == 0 && sp.topK() == 0 && sp.topP() == 1 && sp.minP() == 0,
                "greedy defaults");
        check(sp.repeatPenalty() == 1 && sp.frequencyPenalty() == 0 && sp.presencePenalty() == 0,
                "no penalties");
        checkEq(64, sp.penaltyLastN(), "penalty window");
        checkEq(0L, sp.seed(), "seed");
        int[] prompt = tok.encode(PROMPT, true);
        try (Session s = new Session(model, new SessionParams().nCtx(64));
                Sampler smp = new Sampler(model, new SamplerParams().temperature(1.5f).topK(50)
                        .topP(0.95f).minP(0.01f).repeatPenalty(1.1f).frequencyPenalty(0.1f)
                        .presencePenalty(0.1f).penaltyLastN(16).seed(-7L))) {
            s.prefill(prompt);
            float[] logits = s.logits();
            int[] draws = new int[8];
            for (int i = 0; i < draws.length; i++) {
                draws[i] = smp.sample(logits);
                smp.accept(draws[i]);
            }
            smp.reset();
            for (int i = 0; i < draws.length; i++) {
                checkEq(draws[i], smp.sample(logits), "the same draws after reset");
                smp.accept(draws[i]);
            }
            expectStatus(Status.ERR_INVALID_ARG, () -> smp.sample(new float[10]));
            expectStatus(Status.ERR_INVALID_ARG, () -> smp.sample(new float[0]));
            expectStatus(Status.ERR_TOKEN_OUT_OF_RANGE, () -> smp.accept(model.nVocab()));
        }
        MinkeException e = expectStatus(Status.ERR_INVALID_ARG,
                () -> new Sampler(model, new SamplerParams().topP(2f)));
        check(e.getMessage().contains("top_p"), "names the setting: " + e.getMessage());
    }

    static void score() {
        int[] prompt = tok.encode(PROMPT, true);
        int[] cont = tok.encode(" Paris, and the capital of Germany is Berlin.", false);
        SessionParams sp = new SessionParams().nCtx(128).nBatch(8);
        try (Session s = new Session(model, sp.logitsAll(true));
                Session plain = new Session(model, new SessionParams().nCtx(128))) {
            Score sc = s.score(prompt, cont);
            double sum = 0;
            for (double lp : sc.logprobs()) {
                check(lp <= 0, "a log-probability is at most 0");
                sum += lp;
            }
            checkEq(cont.length, sc.logprobs().length, "one per token");
            check(Math.abs(sum - sc.total()) < 1e-9 && sc.total() < 0, "total is the sum");
            check(sc.logprobs()[0] > -2.0, "\" Paris\" is likely");
            checkEq(prompt.length + cont.length - 1, s.pos(), "pos after scoring");
            checkEq(0.0, s.score(prompt, new int[0]).total(), "no continuation");
            MinkeException e = expectStatus(Status.ERR_INVALID_ARG,
                    () -> plain.score(prompt, cont));
            check(e.getMessage().contains("logits_all"), e.getMessage());
            expectStatus(Status.ERR_INVALID_ARG, () -> s.score(new int[0], cont));
            expectStatus(Status.ERR_CONTEXT_FULL, () -> s.score(prompt, new int[200]));
        }
    }

    static void reward() {
        try (Session lm = new Session(model, new SessionParams().nCtx(64))) {
            expectStatus(Status.ERR_INVALID_ARG, () -> lm.reward(tok.encode(PROMPT, true)));
        }
        try (Model rm = Model.open(fixture("llama_reward"));
                Session s = new Session(rm, new SessionParams().kvType(KvType.F32))) {
            checkEq(1, rm.nLabels(), "a reward model has one label");
            float[] r = s.reward(new int[] {5, 6, 7, 8});
            checkEq(1, r.length, "one score");
            // The value `minke reward` prints for these ids (f32 KV cache).
            check(Math.abs(r[0] - 0.616983) < 1e-4, "reward " + r[0]);
            float[] padded = s.reward(new int[] {5, 6, 7, 8, 0, 0});
            check(Math.abs(padded[0] - r[0]) < 1e-5, "trailing padding is not read");
            expectStatus(Status.ERR_INVALID_ARG, () -> s.reward(new int[0]));
            expectStatus(Status.ERR_TOKEN_OUT_OF_RANGE, () -> s.reward(new int[] {256}));
        }
    }

    static void lora() {
        int[] ids = {1, 5, 9, 17, 33, 65};
        try (Model base = Model.open(fixture("llama_lora/base"));
                Session s = new Session(base);
                Session other = new Session(base)) {
            float[] plain = logitsOf(s, ids);
            Lora lora = Lora.open(fixture("llama_lora/adapter"));
            expectStatus(Status.ERR_INVALID_ARG, () -> s.setAdapter(lora, Float.NaN));
            s.setAdapter(lora, 1f);
            float[] adapted = logitsOf(s, ids);
            check(maxDiff(plain, adapted) > 1e-3, "the adapter changes the logits");
            check(maxDiff(plain, logitsOf(other, ids)) == 0, "another session is not affected");
            // The session keeps the adapter alive after the handle closes.
            lora.close();
            lora.close();
            check(lora.isClosed(), "closed");
            check(maxDiff(adapted, logitsOf(s, ids)) < 1e-5, "still adapted");
            expect(IllegalStateException.class, () -> other.setAdapter(lora, 1f));
            s.setAdapter(null, 1f);
            check(maxDiff(plain, logitsOf(s, ids)) < 1e-6, "null removes it");
        }
        expectStatus(Status.ERR_IO, () -> Lora.open(fixture("llama_lora/base")));
    }

    static float[] logitsOf(Session s, int[] ids) {
        s.rewind(0);
        s.prefill(ids);
        return s.logits();
    }

    static double maxDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs((double) a[i] - b[i]));
        }
        return d;
    }

    static void bestOfN() {
        int[] prompt = tok.encode("Once upon a time,", true);
        SamplerParams sp = new SamplerParams().temperature(0.9f).seed(42);
        GenerateParams gp = new GenerateParams().maxTokens(8);
        try (Session s = new Session(model, new SessionParams().nCtx(128))) {
            List<Candidate> ranked = s.bestOfN(prompt, 3, sp, gp, null);
            checkEq(3, ranked.size(), "candidates");
            boolean[] seen = new boolean[3];
            for (int i = 0; i < ranked.size(); i++) {
                Candidate c = ranked.get(i);
                check(c.score() <= 0 && !Double.isNaN(c.score()), "mean log-prob " + c);
                check(i == 0 || c.score() <= ranked.get(i - 1).score(), "best first");
                check(c.seed() >= 42 && c.seed() < 45 && !seen[(int) (c.seed() - 42)], "seeds");
                seen[(int) (c.seed() - 42)] = true;
                check(c.tokens().length >= 1 && c.tokens().length <= 8, "tokens");
                check(c.stopReason() == StopReason.MAX_TOKENS || c.stopReason() == StopReason.EOS,
                        "stop reason");
            }
            // A Java ranker: the longest text wins.
            s.rewind(0);
            List<String> ranked2 = new ArrayList<>();
            for (Candidate c : s.bestOfN(prompt, 3, sp, gp, (text, tokens) -> text.length())) {
                check(c.score() == c.text().length(), "the ranker's score");
                ranked2.add(c.text());
            }
            check(ranked2.get(0).length() >= ranked2.get(2).length(), "ranked by length");
            // NaN aborts; a throw aborts and is rethrown.
            s.rewind(0);
            MinkeException e = expectStatus(Status.ERR_INVALID_ARG,
                    () -> s.bestOfN(prompt, 3, sp, gp, (text, tokens) -> Double.NaN));
            check(e.getMessage().contains("NaN"), e.getMessage());
            s.rewind(0);
            Boom boom = new Boom();
            check(boom == expect(Boom.class, () -> s.bestOfN(prompt, 3, sp, gp, (t, ids) -> {
                throw boom;
            })), "the ranker's exception");
            s.rewind(0);
            expectStatus(Status.ERR_INVALID_ARG, () -> s.bestOfN(prompt, 0, sp, gp, null));
        }
    }

    static void closing(String modelPath) {
        Model m = Model.open(modelPath);
        Tokenizer t = m.tokenizer();
        Session s = new Session(m, new SessionParams().nCtx(64));
        Sampler smp = new Sampler(m);
        int[] prompt = t.encode(PROMPT, true);
        m.close();
        m.close();
        check(m.isClosed(), "closed");
        IllegalStateException e = expect(IllegalStateException.class, m::nVocab);
        checkEq("Model is closed", e.getMessage(), "message");
        expect(IllegalStateException.class, m::tokenizer);
        expect(IllegalStateException.class, () -> t.encode("x", false));
        expect(IllegalStateException.class, () -> new Session(m));
        // The session keeps the weights: it still runs.
        GenerateResult r = s.generate(smp, prompt, new GenerateParams().maxTokens(4), null);
        checkEq(4, r.nTokens(), "a session outlives its model");
        s.close();
        e = expect(IllegalStateException.class, s::pos);
        checkEq("Session is closed", e.getMessage(), "message");
        expect(IllegalStateException.class, () -> smp.sample(s));
        smp.close();
        expect(IllegalStateException.class, smp::reset);
        t.close();
        try (Tokenizer view = model.tokenizer()) {
            check(view.nVocab() > 0, "a view");
        }
        check(tok.nVocab() > 0, "closing one view leaves the model and other views");
    }

    static void closeWhileGenerating() {
        int[] prompt = tok.encode(PROMPT, true);
        Session s = new Session(model);
        try (Sampler smp = new Sampler(model)) {
            int[] calls = {0};
            GenerateResult r = s.generate(smp, prompt, new GenerateParams().maxTokens(8), piece -> {
                if (++calls[0] == 1) {
                    s.close(); // marks it; the free waits for generate to return
                }
                return true;
            });
            checkEq(8, r.nTokens(), "generation went on");
            check(s.isClosed(), "closed");
            expect(IllegalStateException.class, s::pos);
        }
    }

    static void threads(String greedy) throws Exception {
        int[] prompt = tok.encode(PROMPT, true);
        String[] texts = new String[2];
        Thread[] workers = new Thread[2];
        AtomicReference<Throwable> error = new AtomicReference<>();
        for (int i = 0; i < 2; i++) {
            int k = i;
            workers[i] = new Thread(() -> {
                try (Session s = new Session(model, new SessionParams().nThreads(1));
                        Sampler smp = new Sampler(model)) {
                    texts[k] = generateText(s, smp, prompt, new GenerateParams().maxTokens(N_GEN));
                } catch (Throwable t) {
                    error.set(t);
                }
            });
            workers[i].start();
        }
        for (Thread w : workers) {
            w.join();
        }
        if (error.get() != null) {
            throw new AssertionError("a worker failed", error.get());
        }
        checkEq(greedy, texts[0] + "\n", "thread 0");
        checkEq(greedy, texts[1] + "\n", "thread 1");

        // Another thread's call on a session that is generating is refused.
        CountDownLatch generating = new CountDownLatch(1);
        CountDownLatch tried = new CountDownLatch(1);
        AtomicReference<Throwable> other = new AtomicReference<>();
        try (Session s = new Session(model); Sampler smp = new Sampler(model)) {
            Thread intruder = new Thread(() -> {
                try {
                    generating.await();
                    s.rewind(0);
                } catch (Throwable t) {
                    other.set(t);
                } finally {
                    tried.countDown();
                }
            });
            intruder.start();
            s.generate(smp, prompt, new GenerateParams().maxTokens(4), piece -> {
                generating.countDown();
                try {
                    return tried.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    return false;
                }
            });
            intruder.join();
            check(other.get() instanceof IllegalStateException, "refused: " + other.get());
        }
    }

    static void cleaner() throws InterruptedException {
        long before = HandleCleaner.collected();
        for (int i = 0; i < 16; i++) {
            new Sampler(model);
            new Session(model, new SessionParams().nCtx(16));
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (HandleCleaner.collected() - before < 32 && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(20);
        }
        checkEq(32L, HandleCleaner.collected() - before, "handles freed by the cleaner");
        // Closed handles are not the cleaner's.
        long mid = HandleCleaner.collected();
        for (int i = 0; i < 8; i++) {
            new Sampler(model).close();
        }
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(20);
        }
        checkEq(mid, HandleCleaner.collected(), "closed handles are not collected again");
    }

    private MinkeTest() {}
}
