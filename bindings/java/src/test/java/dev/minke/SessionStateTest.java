// SessionStateTest.java: saving and restoring sessions and samplers,
// cancel(), the tokens a session holds, logits at a position and generated
// ids.
package dev.minke;

import static dev.minke.MinkeTest.check;
import static dev.minke.MinkeTest.checkEq;
import static dev.minke.MinkeTest.expect;
import static dev.minke.MinkeTest.expectStatus;
import static dev.minke.MinkeTest.fixture;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/** Run by {@link MinkeTest}, on its model and tokenizer. */
final class SessionStateTest {
    static final String SYSTEM = "You are a careful assistant for a small museum of maritime "
            + "history. Answer in short, plain sentences.";

    private SessionStateTest() {}

    static SessionParams params(int nCtx) {
        return new SessionParams().nCtx(nCtx).nThreads(2);
    }

    /** A restored session has the same tokens and logits, and continues alike. */
    static void roundTrip(Model model, Tokenizer tok) {
        int[] prompt = tok.encode(SYSTEM, true);
        GenerateParams gp = new GenerateParams().maxTokens(8).stopAtEos(false);
        int[] next = tok.encode(" Hello", false);
        try (Session a = new Session(model, params(128));
                Session b = new Session(model, params(256));
                Sampler sa = new Sampler(model);
                Sampler sb = new Sampler(model)) {
            a.prefill(prompt);
            byte[] state = a.saveState();
            check(state.length > 64, "a state of " + state.length + " bytes");
            b.prefill(new int[] {prompt[0], prompt[1]});
            b.restoreState(state);
            checkEq(prompt.length, b.pos(), "restored position");
            check(Arrays.equals(prompt, b.tokens()), "restored tokens");
            check(Arrays.equals(a.logits(), b.logits()), "restored logits, bit for bit");
            GenerateResult ra = a.generate(sa, next, gp, null);
            GenerateResult rb = b.generate(sb, next, gp, null);
            checkEq(8, ra.tokens().length, "generated ids");
            checkEq(Arrays.toString(ra.tokens()), Arrays.toString(rb.tokens()), "continuation");
            check(Arrays.equals(a.logits(), b.logits()), "logits after the continuation");
            check(Arrays.equals(a.tokens(), b.tokens()), "tokens after the continuation");
        }
    }

    /** Damaged, cut, empty or foreign states are refused; the session is kept. */
    static void refused(Model model, Tokenizer tok) {
        try (Session a = new Session(model, params(128));
                Session b = new Session(model, params(128))) {
            a.prefill(tok.encode(SYSTEM, true));
            byte[] state = a.saveState();
            b.prefill(tok.encode(MinkeTest.PROMPT, true));
            int pos = b.pos();
            byte[] bad = state.clone();
            bad[bad.length / 2] ^= 0x40;
            MinkeException e = expectStatus(Status.ERR_STATE, () -> b.restoreState(bad));
            check(e.getMessage().contains("checksum"), e.getMessage());
            expectStatus(Status.ERR_STATE,
                    () -> b.restoreState(Arrays.copyOf(state, state.length - 1)));
            expectStatus(Status.ERR_STATE, () -> b.restoreState(new byte[0]));
            expect(NullPointerException.class, () -> b.restoreState(null));
            checkEq(pos, b.pos(), "the session is unchanged");
            try (Session f32 = new Session(model, params(128).kvType(KvType.F32));
                    Session tiny = new Session(model, params(16))) {
                e = expectStatus(Status.ERR_STATE, () -> f32.restoreState(state));
                check(e.getMessage().contains("KV cache"), e.getMessage());
                expectStatus(Status.ERR_STATE, () -> tiny.restoreState(state));
            }
            try (Model other = Model.open(fixture("llama_gqa"));
                    Session o = new Session(other, params(128))) {
                e = expectStatus(Status.ERR_STATE, () -> o.restoreState(state));
                check(e.getMessage().contains("another model"), e.getMessage());
                checkEq(0, o.pos(), "unchanged");
            }
        }
    }

    /** The same through files: the file holds saveState()'s bytes. */
    static void files(Model model, Tokenizer tok) throws IOException {
        File file = File.createTempFile("minke-test-", ".state");
        File cut = File.createTempFile("minke-test-cut-", ".state");
        try (Session a = new Session(model, params(128));
                Session b = new Session(model, params(128))) {
            a.prefill(tok.encode(SYSTEM, true));
            a.saveStateFile(file.getPath());
            byte[] state = a.saveState();
            check(Arrays.equals(state, Files.readAllBytes(file.toPath())), "the file's bytes");
            b.loadStateFile(file.getPath());
            check(Arrays.equals(a.tokens(), b.tokens()), "tokens from the file");
            check(Arrays.equals(a.logits(), b.logits()), "logits from the file");
            Files.write(cut.toPath(), Arrays.copyOf(state, state.length - 100));
            MinkeException e = expectStatus(Status.ERR_STATE,
                    () -> b.loadStateFile(cut.getPath()));
            check(e.getMessage().contains("truncated"), e.getMessage());
            check(file.delete(), "deleted");
            expectStatus(Status.ERR_IO, () -> b.loadStateFile(file.getPath()));
            expectStatus(Status.ERR_IO, () -> a.saveStateFile("/nonexistent/dir/minke.state"));
            expect(IllegalArgumentException.class, () -> a.saveStateFile("a\0b"));
            expect(NullPointerException.class, () -> b.loadStateFile(null));
        } finally {
            file.delete();
            cut.delete();
        }
    }

    /**
     * cancel() from another thread stops a long prefill soon after; what
     * completed stays; the next call is not cancelled.
     */
    static void cancelPrefill(Model model) throws InterruptedException {
        int n = 2000;
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = (int) ((i * 7919L + 17) % model.nVocab());
        }
        try (Session s = new Session(model, params(2048))) {
            // Nothing runs: forgotten by the next call.
            s.cancel();
            s.prefill(Arrays.copyOf(ids, 3));
            s.rewind(0);

            CountDownLatch calling = new CountDownLatch(1);
            CountDownLatch done = new CountDownLatch(1);
            AtomicLong firstCancel = new AtomicLong();
            Thread canceller = new Thread(() -> {
                try {
                    calling.await();
                    Thread.sleep(200);
                    firstCancel.set(System.nanoTime());
                    // Again until the call ends, in case the first came
                    // before it had started (and so was forgotten).
                    do {
                        s.cancel();
                    } while (!done.await(100, TimeUnit.MILLISECONDS));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            canceller.start();
            calling.countDown();
            MinkeException e;
            try {
                e = expectStatus(Status.ERR_ABORTED, () -> s.prefill(ids));
            } finally {
                done.countDown();
                canceller.join();
            }
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - firstCancel.get());
            int pos = s.pos();
            System.out.println("        cancelled " + ms + " ms after cancel(), at position "
                    + pos + " of " + n);
            check(e.getMessage().contains("minke_session_prefill"), e.getMessage());
            check(ms < 2000, "stopped " + ms + " ms after cancel()");
            check(pos < n && pos % new SessionParams().nBatch() == 0, "whole batches: " + pos);
            check(Arrays.equals(Arrays.copyOf(ids, pos), s.tokens()), "the batches run stay");
            // The next call starts afresh.
            s.prefill(Arrays.copyOfRange(ids, pos, pos + 10));
            checkEq(pos + 10, s.pos(), "prefill after a cancel");
        }
    }

    /**
     * cancel() beside calls and a close: it never makes a call fail with
     * "in use" (it pins, it does not take the session), and a close while
     * it runs frees the session after it.
     */
    static void cancelRaces(Model model) throws InterruptedException {
        for (int round = 0; round < 20; round++) {
            Session s = new Session(model, params(16));
            CountDownLatch go = new CountDownLatch(1);
            Thread canceller = new Thread(() -> {
                go.countDown();
                while (!s.isClosed()) {
                    s.cancel();
                }
                s.cancel();
            });
            canceller.start();
            go.await();
            for (int i = 0; i < 2000; i++) {
                checkEq(16, s.nCtx(), "a call beside cancel()");
            }
            s.close();
            canceller.join();
            checkEq(true, s.isClosed(), "closed");
        }
    }

    /** cancel() from generate's own callback; a closed session ignores it. */
    static void cancelGenerate(Model model, Tokenizer tok) {
        int[] prompt = tok.encode(MinkeTest.PROMPT, true);
        Session s = new Session(model, params(128));
        try (Sampler smp = new Sampler(model)) {
            int[] pieces = {0};
            expectStatus(Status.ERR_ABORTED, () -> s.generate(smp, prompt, piece -> {
                pieces[0]++;
                s.cancel();
                return true;
            }));
            checkEq(1, pieces[0], "stopped before the next piece");
            checkEq(prompt.length, s.pos(), "the prompt stays");
            smp.reset();
            s.rewind(0);
            GenerateResult r = s.generate(smp, prompt, new GenerateParams().maxTokens(3), null);
            checkEq(3, r.nTokens(), "generates afterwards");
        }
        s.close();
        s.cancel();
    }

    /** tokens() and logitsAt(): every position's logits, bit for bit. */
    static void positions() {
        // An f32 fixture: with 8-bit activations some CPUs sum a batch of
        // one in another order than a longer batch (test_state.c checks the
        // real model).
        int[] ids = {1, 5, 9, 17, 33, 65, 100, 7, 3, 12};
        try (Model tiny = Model.open(fixture("llama_gqa"));
                Session all = new Session(tiny, params(64).logitsAll(true));
                Session one = new Session(tiny, params(64))) {
            checkEq(0, all.tokens().length, "no tokens yet");
            expectStatus(Status.ERR_INVALID_ARG, () -> all.logitsAt(0));
            all.prefill(ids);
            check(Arrays.equals(ids, all.tokens()), "tokens");
            check(Arrays.equals(all.logits(), all.logitsAt(ids.length - 1)), "the last position");
            for (int i = 0; i < ids.length; i++) {
                one.rewind(0);
                one.prefill(Arrays.copyOf(ids, i + 1));
                check(Arrays.equals(one.logits(), all.logitsAt(i)), "position " + i);
            }
            MinkeException e = expectStatus(Status.ERR_INVALID_ARG,
                    () -> all.logitsAt(ids.length));
            check(e.getMessage().contains("positions 0 to 9"), e.getMessage());
            expect(IllegalArgumentException.class, () -> all.logitsAt(-1));
            check(Arrays.equals(one.logits(), one.logitsAt(ids.length - 1)), "without logitsAll");
            expectStatus(Status.ERR_INVALID_ARG, () -> one.logitsAt(0));
        }
    }

    /** GenerateResult.tokens(): what was streamed, and what the session holds. */
    static void generatedIds(Model model, Tokenizer tok) {
        int[] prompt = tok.encode(MinkeTest.PROMPT, true);
        try (Session s = new Session(model, params(128)); Sampler smp = new Sampler(model)) {
            StringBuilder text = new StringBuilder();
            GenerateResult r = s.generate(smp, prompt,
                    new GenerateParams().maxTokens(12).stopAtEos(false), piece -> {
                        text.append(piece);
                        return true;
                    });
            int[] gen = r.tokens();
            checkEq(12, gen.length, "ids");
            checkEq(text.toString(), tok.decode(gen), "the ids spell the text");
            int[] held = s.tokens();
            checkEq(prompt.length + 11, held.length, "the session holds all but the last");
            check(Arrays.equals(prompt, Arrays.copyOf(held, prompt.length)), "the prompt");
            check(Arrays.equals(Arrays.copyOf(gen, 11),
                    Arrays.copyOfRange(held, prompt.length, held.length)), "then the ids");
            gen[0] = -1;
            check(r.tokens()[0] != -1, "tokens() is a copy");
        }
        // A maxTokens far past the context: every id still comes back.
        try (Session s = new Session(model, params(prompt.length + 3));
                Sampler smp = new Sampler(model)) {
            GenerateResult r = s.generate(smp, prompt, new GenerateParams().maxTokens(1 << 30),
                    null);
            checkEq(StopReason.CONTEXT_FULL, r.stopReason(), "stop reason");
            checkEq(r.nTokens(), r.tokens().length, "every id");
        }
    }

    /** A sampler that draws at a temperature, with a repeat penalty over {@code lastN}. */
    static Sampler warmSampler(Model model, long seed, int lastN) {
        return new Sampler(model, new SamplerParams().temperature(0.9f).topK(40)
                .repeatPenalty(1.2f).penaltyLastN(lastN).seed(seed));
    }

    /**
     * A conversation put aside mid-generation, session and sampler, goes on
     * with the same sampled tokens once both are restored into a fresh
     * session and a sampler of another seed.
     */
    static void samplerState(Model model, Tokenizer tok) {
        int n = 24;
        GenerateParams first = new GenerateParams().maxTokens(6).stopAtEos(false);
        GenerateParams more = new GenerateParams().maxTokens(n).stopAtEos(false);
        try (Session a = new Session(model, params(128));
                Session b = new Session(model, params(128));
                Sampler sa = warmSampler(model, 11, 16);
                Sampler sb = warmSampler(model, 5, 16)) {
            GenerateResult r = a.generate(sa, tok.encode(SYSTEM, true), first, null);
            // The last generated token is not in the session yet: the next
            // call starts from it.
            int[] last = {r.tokens()[r.nTokens() - 1]};
            byte[] state = a.saveState();
            byte[] samplerState = sa.saveState();
            checkEq(80 + 4 * 16, samplerState.length, "80 bytes and 4 per remembered token");
            check(Arrays.equals(samplerState, sa.saveState()), "saving changes nothing");
            int[] ahead = a.generate(sa, last, more, null).tokens();
            checkEq(n, ahead.length, "continued");

            // b: another seed and a history of its own, then a's states.
            sb.accept(42);
            sb.sample(a);
            b.restoreState(state);
            sb.restoreState(samplerState);
            int[] again = b.generate(sb, last, more, null).tokens();
            checkEq(Arrays.toString(ahead), Arrays.toString(again), "the same sampled tokens");
            // Without the sampler's state the draws part (the check that
            // the state above did something).
            try (Session c = new Session(model, params(128));
                    Sampler sc = warmSampler(model, 11, 16)) {
                c.restoreState(state);
                int[] other = c.generate(sc, last, more, null).tokens();
                check(!Arrays.equals(ahead, other), "a fresh sampler draws otherwise");
            }
        }
    }

    /** Damaged, cut, empty or foreign sampler states are refused; nothing changes. */
    static void samplerStateRefused(Model model, Tokenizer tok) {
        try (Sampler sa = warmSampler(model, 11, 16);
                Sampler sb = warmSampler(model, 5, 16);
                Sampler narrow = warmSampler(model, 11, 8);
                Model other = Model.open(fixture("llama_gqa"));
                Sampler foreign = new Sampler(other)) {
            for (int id : tok.encode(SYSTEM, true)) {
                sa.accept(id);
            }
            byte[] state = sa.saveState();
            sb.accept(7);
            byte[] kept = sb.saveState();
            byte[] bad = state.clone();
            bad[90] ^= 4;
            MinkeException e = expectStatus(Status.ERR_STATE, () -> sb.restoreState(bad));
            check(e.getMessage().contains("checksum"), e.getMessage());
            expectStatus(Status.ERR_STATE,
                    () -> sb.restoreState(Arrays.copyOf(state, state.length - 1)));
            expectStatus(Status.ERR_STATE, () -> sb.restoreState(new byte[0]));
            expect(NullPointerException.class, () -> sb.restoreState(null));
            // Another penalty window: more tokens than it remembers, or fewer.
            e = expectStatus(Status.ERR_STATE, () -> narrow.restoreState(state));
            check(e.getMessage().contains("penalty window"), e.getMessage());
            e = expectStatus(Status.ERR_STATE, () -> narrow.restoreState(kept));
            check(e.getMessage().contains("penalty window"), e.getMessage());
            expectStatus(Status.ERR_STATE, () -> foreign.restoreState(state));
            check(Arrays.equals(kept, sb.saveState()), "the sampler is unchanged");
            sb.restoreState(state);
            check(Arrays.equals(state, sb.saveState()), "a good state after bad ones");
        }
    }
}
