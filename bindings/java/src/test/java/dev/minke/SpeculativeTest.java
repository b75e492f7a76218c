// SpeculativeTest.java: speculative decoding (GenerateParams.nDraft and
// draft) gives plain decoding's greedy tokens, and its misuse is refused.
package dev.minke;

import static dev.minke.MinkeTest.check;
import static dev.minke.MinkeTest.checkEq;
import static dev.minke.MinkeTest.expect;
import static dev.minke.MinkeTest.expectStatus;
import static dev.minke.MinkeTest.fixture;

import java.util.Arrays;
import java.util.Collections;

/** Run by {@link MinkeTest}, on its model and tokenizer. */
final class SpeculativeTest {
    /** A prompt whose answer repeats it, where prompt lookup guesses well. */
    static final String REPEAT = "Repeat the following sentence exactly, word for word: The "
            + "old lighthouse keeper climbed the spiral stairs every evening at dusk to light "
            + "the great lamp that guided the fishing boats safely past the rocks.";

    private SpeculativeTest() {}

    /**
     * Greedy text with prompt lookup (nDraft 1, 4, 8) and with a draft
     * model (a second session of the model) is plain decoding's, token for
     * token; the result counts the guesses.
     */
    static void greedy(Model model, Tokenizer tok) {
        int[] prompt = tok.encodeChat(Collections.singletonList(ChatMessage.user(REPEAT)), true);
        GenerateParams gp = new GenerateParams().maxTokens(64);
        try (Session s = new Session(model, SessionStateTest.params(256));
                Session draft = new Session(model, SessionStateTest.params(256))) {
            GenerateResult plain;
            try (Sampler smp = new Sampler(model)) {
                plain = s.generate(smp, prompt, gp, null);
            }
            int[] held = s.tokens();
            checkEq(0, plain.nDrafted(), "no guesses without nDraft");
            check(plain.nTokens() > 8, "plain decoding generates: " + plain);
            for (int n : new int[] {1, 4, 8}) {
                for (Session d : new Session[] {null, draft}) {
                    String what = (d == null ? "prompt lookup" : "draft model") + ", nDraft " + n;
                    s.rewind(0);
                    GenerateResult r;
                    try (Sampler smp = new Sampler(model)) {
                        r = s.generate(smp, prompt, gp.nDraft(n).draft(d), null);
                    }
                    check(Arrays.equals(plain.tokens(), r.tokens()), what + ": the same ids");
                    checkEq(plain.stopReason(), r.stopReason(), what + ": stop reason");
                    check(Arrays.equals(held, s.tokens()), what + ": the session holds the same");
                    check(r.nDrafted() > 0 && r.nAccepted() > 0, what + ": guesses: " + r);
                    check(r.nAccepted() <= r.nDrafted(), what + ": " + r);
                    System.out.printf("        %-26s %3d of %3d guesses accepted%n", what,
                            r.nAccepted(), r.nDrafted());
                }
            }
        }
    }

    /** The session as its own draft, nDraft past the bound, a draft of
     *  another vocabulary, a draft without nDraft. */
    static void refused(Model model, Tokenizer tok) {
        int[] prompt = tok.encode("Hello", true);
        GenerateParams gp = new GenerateParams().maxTokens(4);
        checkEq(0, gp.nDraft(), "nDraft's default");
        checkEq(null, gp.draft(), "draft's default");
        expect(IllegalArgumentException.class, () -> gp.nDraft(GenerateParams.MAX_DRAFT + 1));
        expect(IllegalArgumentException.class, () -> gp.nDraft(-1));
        checkEq(0, gp.nDraft(), "a refused nDraft changes nothing");
        try (Session s = new Session(model, SessionStateTest.params(64));
                Sampler smp = new Sampler(model);
                Model other = Model.open(fixture("llama_gqa"));
                Session o = new Session(other, SessionStateTest.params(64))) {
            expect(IllegalArgumentException.class,
                    () -> s.generate(smp, prompt, gp.nDraft(4).draft(s), null));
            MinkeException e = expectStatus(Status.ERR_INVALID_ARG,
                    () -> s.generate(smp, prompt, gp.nDraft(4).draft(o), null));
            check(e.getMessage().contains("vocabulary"), e.getMessage());
            e = expectStatus(Status.ERR_INVALID_ARG,
                    () -> s.generate(smp, prompt, gp.nDraft(0).draft(o), null));
            check(e.getMessage().contains("n_draft is 0"), e.getMessage());
            checkEq(0, s.pos(), "nothing ran");
            // The draft session is taken for the call: free again after.
            GenerateResult r = s.generate(smp, prompt, gp.nDraft(GenerateParams.MAX_DRAFT)
                    .draft(null), null);
            checkEq(4, r.nTokens(), "nDraft at the bound generates");
            o.rewind(0);
        }
    }
}
