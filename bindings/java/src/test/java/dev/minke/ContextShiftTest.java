// ContextShiftTest.java: a conversation that outgrows its context, and the
// Q8_0 KV cache that makes a context cheaper in the first place.
package dev.minke;

import static dev.minke.MinkeTest.check;
import static dev.minke.MinkeTest.checkEq;
import static dev.minke.MinkeTest.expect;
import static dev.minke.MinkeTest.expectStatus;

import java.util.Arrays;

/** Run by {@link MinkeTest}, on its model and tokenizer. */
final class ContextShiftTest {
    static final String TEXT = "The minke whale is the smallest of the great whales. It lives "
            + "in every ocean, feeds on krill and small fish, and surfaces briefly, often "
            + "without a visible blow. Sailors once called it the little piked whale. A calf "
            + "is born after ten months, nursed for half a year, and grows to eight or nine "
            + "metres. Minke whales travel alone or in small groups, and some of them follow "
            + "ships for a while.";

    private ContextShiftTest() {}

    /** {@link #TEXT}'s ids, then again from its start, {@code n} in all. */
    static int[] ids(Tokenizer tok, int n) {
        int[] text = tok.encode(TEXT, true);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = text[i % text.length];
        }
        return out;
    }

    /** A Q8_0 cache: smaller, generates, and its state round-trips. */
    static void q8_0(Model model, Tokenizer tok) {
        checkEq(KvType.Q8_0, KvType.of(2), "KvType.of(MINKE_KV_Q8_0)");
        SessionParams sp = SessionStateTest.params(128).kvType(KvType.Q8_0);
        checkEq(KvType.Q8_0, sp.kvType(), "kvType()");
        long q8 = Session.bytes(model, sp);
        long f16 = Session.bytes(model, SessionStateTest.params(128));
        check(q8 < f16, "Q8_0 takes less than F16: " + q8 + " vs " + f16);
        int[] prompt = tok.encode(SessionStateTest.SYSTEM, true);
        GenerateParams gp = new GenerateParams().maxTokens(8).stopAtEos(false);
        int[] next = tok.encode(" Hello", false);
        try (Session a = new Session(model, sp);
                Session b = new Session(model, SessionStateTest.params(256).kvType(KvType.Q8_0));
                Session f = new Session(model, SessionStateTest.params(128));
                Sampler sa = new Sampler(model);
                Sampler sb = new Sampler(model)) {
            a.prefill(prompt);
            byte[] state = a.saveState();
            b.restoreState(state);
            check(Arrays.equals(a.tokens(), b.tokens()), "restored tokens");
            check(Arrays.equals(a.logits(), b.logits()), "restored logits, bit for bit");
            String text = MinkeTest.generateText(a, sa, next, gp);
            check(!text.trim().isEmpty(), "Q8_0 generates text");
            GenerateResult rb = b.generate(sb, next, gp, null);
            checkEq(text, tok.decode(rb.tokens()), "the restored session continues alike");
            check(Arrays.equals(a.logits(), b.logits()), "logits after the continuation");
            MinkeException e = expectStatus(Status.ERR_STATE, () -> f.restoreState(state));
            check(e.getMessage().contains("KV cache"), e.getMessage());
        }
    }

    /** shift() by hand: refused spans change nothing; a shift makes room. */
    static void byHand(Model model, Tokenizer tok) {
        int[] ids = ids(tok, 100);
        try (Session s = new Session(model, SessionStateTest.params(64))) {
            s.prefill(Arrays.copyOf(ids, 50));
            float[] before = s.logits();
            MinkeException e = expectStatus(Status.ERR_INVALID_ARG, () -> s.shift(50, 1));
            check(e.getMessage().contains("cannot drop"), e.getMessage());
            expectStatus(Status.ERR_INVALID_ARG, () -> s.shift(0, 51));
            expectStatus(Status.ERR_INVALID_ARG,
                    () -> s.shift(Integer.MAX_VALUE, Integer.MAX_VALUE));
            expect(IllegalArgumentException.class, () -> s.shift(-1, 2));
            expect(IllegalArgumentException.class, () -> s.shift(0, -2));
            s.shift(7, 0);
            checkEq(50, s.pos(), "refused shifts and discard 0 change nothing");
            check(Arrays.equals(before, s.logits()), "logits unchanged");

            // Keep 8, drop 20: the last logits stay, decoding goes on at 30.
            s.shift(8, 20);
            checkEq(30, s.pos(), "position after the shift");
            check(Arrays.equals(before, s.logits()), "the last token's logits stay");
            int[] held = new int[30];
            System.arraycopy(ids, 0, held, 0, 8);
            System.arraycopy(ids, 28, held, 8, 22);
            check(Arrays.equals(held, s.tokens()), "tokens: the kept prefix, then the rest");
            s.decode(ids[50]);
            s.prefill(Arrays.copyOfRange(ids, 51, 84));
            checkEq(64, s.pos(), "the context is full again");
            expectStatus(Status.ERR_CONTEXT_FULL, () -> s.decode(ids[84]));
            s.shift(0, 64);
            checkEq(0, s.pos(), "everything dropped");
            s.prefill(Arrays.copyOf(ids, 4));
            checkEq(4, s.pos(), "and filled again");
        }
    }

    /** generate() with a context shift runs far past a small context. */
    static void generate(Model model, Tokenizer tok) {
        GenerateParams defaults = new GenerateParams();
        check(!defaults.contextShift() && defaults.nKeep() == 0, "no context shift by default");
        int[] ids = ids(tok, 144);
        int[] prompt = Arrays.copyOf(ids, 20);
        GenerateParams gp = new GenerateParams().maxTokens(200).stopAtEos(false)
                .contextShift(true).nKeep(6);
        check(gp.contextShift() && gp.nKeep() == 6, "set");
        try (Session s = new Session(model, SessionStateTest.params(48));
                Sampler smp = new Sampler(model)) {
            StringBuilder text = new StringBuilder();
            GenerateResult r = s.generate(smp, prompt, gp, piece -> {
                text.append(piece);
                return true;
            });
            checkEq(StopReason.MAX_TOKENS, r.stopReason(), "stop reason");
            checkEq(200, r.nTokens(), "200 tokens from a context of 48");
            checkEq(200, r.tokens().length, "every id comes back");
            checkEq(text.toString(), tok.decode(r.tokens()), "the ids spell the text");
            check(r.nDiscarded() > 0, "positions dropped: " + r);
            checkEq(20 + 199 - r.nDiscarded(), s.pos(), "position");
            check(s.pos() <= 48, "within the context");
            check(Arrays.equals(Arrays.copyOf(prompt, 6), Arrays.copyOf(s.tokens(), 6)),
                    "the kept prefix");

            // A prompt three times the context: read through, its start dropped.
            s.rewind(0);
            smp.reset();
            r = s.generate(smp, ids, new GenerateParams().maxTokens(4).stopAtEos(false)
                    .contextShift(true), null);
            checkEq(144, r.nPromptTokens(), "prompt tokens");
            checkEq(4, r.nTokens(), "generated");
            check(r.nDiscarded() >= 144 - 48, "dropped: " + r);

            // Without the shift it does not fit; a kept prefix that leaves
            // no room is refused before anything runs.
            s.rewind(0);
            expectStatus(Status.ERR_CONTEXT_FULL, () -> s.generate(smp, ids,
                    new GenerateParams().maxTokens(4), null));
            MinkeException e = expectStatus(Status.ERR_INVALID_ARG, () -> s.generate(smp,
                    prompt, new GenerateParams().contextShift(true).nKeep(47), null));
            check(e.getMessage().contains("leaves no room"), e.getMessage());
            checkEq(0, s.pos(), "nothing run");
            expect(IllegalArgumentException.class, () -> new GenerateParams().nKeep(-1));
            r = s.generate(smp, prompt, new GenerateParams().maxTokens(4), null);
            checkEq(0, r.nDiscarded(), "no shift, nothing dropped");
        }
    }
}
