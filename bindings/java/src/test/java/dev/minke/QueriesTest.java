// QueriesTest.java: what a model and tokenizer say of themselves, custom
// chat templates, a session's thread count, load progress and the log.
package dev.minke;

import static dev.minke.MinkeTest.check;
import static dev.minke.MinkeTest.checkEq;
import static dev.minke.MinkeTest.expect;
import static dev.minke.MinkeTest.expectStatus;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/** Run by {@link MinkeTest}, on its model and tokenizer. */
final class QueriesTest {
    private QueriesTest() {}

    /** SmolLM2-135M's shape, formats and description. */
    static void shape(Model model) {
        checkEq("llama 135M Q4_1", model.desc(), "desc");
        check(model.nParams() > 100_000_000L, "n_params " + model.nParams());
        checkEq(9, model.nHeads(), "heads");
        checkEq(3, model.nHeadsKv(), "key/value heads");
        checkEq(1536, model.nFf(), "FFN width");
        checkEq(0, model.nExperts(), "experts");
        checkEq(0, model.nExpertsUsed(), "experts used");
        List<TensorType> types = model.tensorTypes();
        check(types.size() >= 2, "formats: " + types);
        checkEq("q4_1", types.get(0).name(), "the main format");
        long params = 0;
        for (TensorType t : types) {
            params += t.nParams();
            check(t.nTensors() > 0, "tensors of " + t);
        }
        checkEq(model.nParams(), params, "formats add up to the model");
        check(!Minke.kernelsName().isEmpty(), "kernels");
    }

    /** The GGUF's metadata, in file order; one key; no such key. */
    static void metadata(Model model) {
        Map<String, String> meta = model.metadata();
        check(meta.size() > 10, "entries: " + meta.size());
        checkEq("general.architecture", meta.keySet().iterator().next(), "the first key");
        checkEq("llama", meta.get("general.architecture"), "architecture");
        checkEq(String.valueOf(model.nCtxTrain()), model.meta("llama.context_length"),
                "context length");
        check(meta.get("tokenizer.ggml.tokens").endsWith("(49152 items)]"), "an array abridged");
        checkEq(null, model.meta("no.such.key"), "no such key");
        String tpl = model.meta("tokenizer.chat_template");
        check(tpl != null && tpl.length() > 256, "a value past the first guess");
        checkEq(tpl, meta.get("tokenizer.chat_template"), "by key and in order agree");
        expect(UnsupportedOperationException.class, () -> meta.put("x", "y"));
    }

    static final String CUSTOM = "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n"
            + "{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}{{ eos_token }}";

    /** Spellings, the template's text and templates of the app's. */
    static void templates(Tokenizer tok) {
        int imEnd = tok.tokenToId("<|im_end|>");
        checkEq(imEnd, tok.eot(), "eot");
        checkEq("<|im_end|>", tok.idToToken(imEnd), "spelling of <|im_end|>");
        for (int id = 300; id < 310; id++) {
            checkEq(id, tok.tokenToId(tok.idToToken(id)), "id_to_token inverts token_to_id");
        }
        check(tok.idToToken(tok.encode(" hello", false)[0]).startsWith("\u0120"), "Ġ");
        expectStatus(Status.ERR_TOKEN_OUT_OF_RANGE, () -> tok.idToToken(tok.nVocab()));

        String tpl = tok.chatTemplate();
        check(tpl.contains("<|im_start|>"), "the model's template");
        List<ChatMessage> chat = Arrays.asList(
                ChatMessage.system("Be brief."), ChatMessage.user("Hi <|im_end|> 🐋"));
        checkEq("[system] Be brief.\n[user] Hi <|im_end|> 🐋\n[assistant]<|im_end|>",
                tok.applyTemplate(CUSTOM, chat, true), "custom template");
        int[] ids = tok.encodeChatTemplate(CUSTOM, chat, true);
        int specials = 0;
        for (int id : ids) {
            specials += tok.isSpecial(id) ? 1 : 0;
        }
        checkEq(1, specials, "only the template's own end of turn is special");
        checkEq(imEnd, ids[ids.length - 1], "ends with it");
        checkEq(tok.applyChatTemplate(chat, true), tok.applyTemplate(tpl, chat, true),
                "the model's template, given as the app's");
        check(Arrays.equals(tok.encodeChat(chat, false), tok.encodeChatTemplate(tpl, chat, false)),
                "encoded alike");
        MinkeException e = expectStatus(Status.ERR_TOKENIZER,
                () -> tok.applyTemplate("{% if %}", chat, true));
        check(e.getMessage().contains("minke_tokenizer_apply_template"), e.getMessage());
        expectStatus(Status.ERR_TOKENIZER,
                () -> tok.encodeChatTemplate("{% if %}", Collections.<ChatMessage>emptyList(), true));
        expect(NullPointerException.class, () -> tok.applyTemplate(null, chat, true));
    }

    /** setThreads: the same logits, bit for bit, and the KV cache kept. */
    static void setThreads(Model model, Tokenizer tok) {
        int[] prompt = tok.encode(MinkeTest.PROMPT, true);
        try (Session s = new Session(model, new SessionParams().nCtx(64).nThreads(1))) {
            s.prefill(prompt);
            float[] one = s.logits();
            s.decode(42);
            float[] next = s.logits();
            for (int n : new int[] {3, 2}) {
                s.setThreads(n);
                checkEq(n, s.nThreads(), "threads");
                checkEq(prompt.length + 1, s.pos(), "the KV cache is kept");
                s.rewind(0);
                s.prefill(prompt);
                check(Arrays.equals(one, s.logits()), "prefill on " + n + " threads");
                s.decode(42);
                check(Arrays.equals(next, s.logits()), "decode on " + n + " threads");
            }
            expect(IllegalArgumentException.class, () -> s.setThreads(0));
        }
    }

    /** Progress from 0 to 1; false cancels; an exception is rethrown. */
    static void loadProgress(String path) {
        List<Float> seen = new ArrayList<>();
        ModelParams mp = new ModelParams().progress(x -> seen.add(x));
        try (Model m = Model.open(path, mp)) {
            checkEq(49152, m.nVocab(), "opened");
        }
        check(seen.size() > 10, "calls: " + seen.size());
        checkEq(0.0f, seen.get(0), "first");
        checkEq(1.0f, seen.get(seen.size() - 1), "last");
        for (int i = 1; i < seen.size(); i++) {
            check(seen.get(i) >= seen.get(i - 1), "never decreases");
        }
        AtomicInteger calls = new AtomicInteger();
        MinkeException e = expectStatus(Status.ERR_ABORTED, () -> Model.open(path,
                new ModelParams().useMmap(false).progress(x -> calls.incrementAndGet() < 3)));
        check(e.getMessage().contains("aborted"), e.getMessage());
        checkEq(3, calls.get(), "no call after the one that cancelled");
        IllegalStateException boom = new IllegalStateException("boom");
        IllegalStateException caught = expect(IllegalStateException.class, () -> Model.open(path,
                new ModelParams().progress(x -> {
                    throw boom;
                })));
        check(caught == boom, "the callback's own exception");
        checkEq(null, new ModelParams().progress(), "no progress by default");
    }

    /** The log: a model opened says so; failures at DEBUG, from any thread. */
    static void logger(String path, Model model) throws Exception {
        List<String> lines = Collections.synchronizedList(new ArrayList<String>());
        List<Thread> threads = Collections.synchronizedList(new ArrayList<Thread>());
        AtomicInteger refused = new AtomicInteger();
        try {
            Minke.setLogger((level, message) -> lines.add(level + " " + message));
            String desc;
            try (Model m = Model.open(path)) {
                desc = m.desc();
            }
            check(lines.stream().anyMatch(l -> l.startsWith("INFO ") && l.contains(desc)),
                    "an INFO line naming the model: " + lines);
            check(lines.stream().noneMatch(l -> l.startsWith("DEBUG ")), "no DEBUG at INFO");

            // DEBUG: each failure's message; a logger that throws, or calls
            // setLogger, harms nothing.
            lines.clear();
            Minke.setLogger((level, message) -> {
                lines.add(level + " " + message);
                threads.add(Thread.currentThread());
                try {
                    Minke.setLogger(null);
                } catch (MinkeException e) {
                    if (e.status() == Status.ERR_INVALID_ARG) {
                        refused.incrementAndGet();
                    }
                }
                throw new IllegalStateException("from the logger");
            }, LogLevel.DEBUG);
            MinkeException e = expectStatus(Status.ERR_IO, () -> Model.open("/no/such/model.gguf"));
            check(lines.contains("DEBUG " + e.getMessage().substring("MINKE_ERR_IO: ".length())),
                    "the failure at DEBUG: " + lines);
            check(refused.get() > 0, "setLogger refused inside the logger");
            check(Minke.loggerExceptions() > 0, "what the logger threw was dropped");

            // From a thread the JVM has never seen: attached for the call.
            lines.clear();
            threads.clear();
            Native.logFromNativeThread();
            check(lines.stream().anyMatch(l -> l.startsWith("DEBUG ")
                    && l.contains("minke_model_meta_value")), "from a native thread: " + lines);
            check(!threads.isEmpty() && threads.get(0) != Thread.currentThread()
                    && threads.get(0).isDaemon(), "on a daemon thread");
            // A failing sample pins its logits: its line is dropped, not a JNI error.
            try (Sampler smp = new Sampler(model)) {
                expectStatus(Status.ERR_INVALID_ARG, () -> smp.sample(new float[3]));
            }
            expect(NullPointerException.class, () -> Minke.setLogger(null, null));
        } finally {
            Minke.setLogger(null);
        }
        lines.clear();
        try (Model m = Model.open(path)) {
            checkEq(0, lines.size(), "silenced: " + lines);
            checkEq(49152, m.nVocab(), "opened");
        }
    }
}
