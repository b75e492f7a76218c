// test_wrapper.cpp: examples/cpp/minke.hpp on the real model, every class
// and function of it used once at least: versions, the model's getters,
// tokenizers (the model's and one opened alone, shared by copies), the chat
// template, sizing, a greedy loop by hand against generate(), logits,
// rewind, cancellation and exceptions from callables, scores, rewards and
// LoRA on the fixtures, best-of-N with both rankers, session state in
// memory and in files, the abort callable, the tokens a session holds,
// logits at a position, generated ids, the model's description and
// metadata, token spellings and custom chat templates, a session's thread
// count changed, load progress (a load cancelled), the log callable, and
// errors as minke::Error. Built by scripts/test-c.sh with -Werror, and
// under ASan.
//
//   test_wrapper MODEL [FIXTURES]     (FIXTURES: default tests/fixtures)
#include "minke.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace {

int passed = 0, failed = 0;
std::string fixtures = "tests/fixtures";

void check_at(bool ok, const char *what, int line) {
    if (ok) {
        passed++;
    } else {
        failed++;
        std::fprintf(stderr, "test_wrapper.cpp:%d: check failed: %s\n", line, what);
    }
}
#define CHECK(cond) check_at((cond), #cond, __LINE__)

// Runs `f`, which must throw minke::Error with `status`.
template <class F>
void expect_error_at(F f, minke_status status, const char *what, int line) {
    try {
        f();
        check_at(false, what, line);
        std::fprintf(stderr, "  (nothing was thrown)\n");
    } catch (const minke::Error &e) {
        check_at(e.status() == status, what, line);
        if (e.status() != status) std::fprintf(stderr, "  (got %s)\n", e.what());
        check_at(std::strncmp(e.what(), minke_status_name(status), 9) == 0, "message", line);
    }
}
#define EXPECT_ERROR(expr, status) \
    expect_error_at([&] { (void)(expr); }, (status), #expr, __LINE__)

std::string fixture(const char *rel) { return fixtures + "/" + rel; }

struct Boom {};

const char *const PROMPT = "The capital of France is";

void versions() {
    char want[32];
    std::snprintf(want, sizeof want, "%d.%d.%d", MINKE_VERSION_MAJOR, MINKE_VERSION_MINOR,
                  MINKE_VERSION_PATCH);
    CHECK(minke::version() == want);
    CHECK(minke::abi_version() == MINKE_ABI_VERSION);
}

void model_getters(const minke::Model &m) {
    CHECK(m.arch() == "LlamaForCausalLM");
    CHECK(m.n_vocab() == 49152);
    CHECK(m.n_layers() == 30 && m.n_embd() == 576);
    CHECK(m.n_ctx_train() >= 2048);
    CHECK(m.n_labels() == 0);
    CHECK(m.weight_bytes() > 50u * 1000 * 1000);
    minke_model_params mp = minke::Model::default_params();
    CHECK(mp.use_mmap && !mp.validate);
    EXPECT_ERROR(minke::Model("/no/such/model.gguf"), MINKE_ERR_IO);
    try {
        minke::Model bad("/no/such/model.gguf");
    } catch (const minke::Error &e) {
        CHECK(std::strstr(e.what(), "/no/such/model.gguf") != nullptr);
    }
}

void tokenizer(const minke::Tokenizer &tok, const std::string &model_path) {
    CHECK(tok.n_vocab() == 49152);
    for (const char *text : {"Hello, world!", "Zürich 東京 🐋 👨‍👩‍👧‍👦", ""}) {
        std::vector<uint32_t> ids = tok.encode(text, false);
        CHECK(tok.decode(ids) == text);
        std::string joined;
        for (uint32_t id : ids) joined += tok.piece(id);
        CHECK(joined == text);
    }
    uint32_t im_end = tok.token_to_id("<|im_end|>");
    CHECK(tok.is_eog(im_end) && tok.is_special(im_end));
    CHECK(!tok.is_special(tok.encode("Paris", false)[0]));
    CHECK(tok.piece(im_end) == "<|im_end|>");
    std::vector<uint32_t> eog = tok.eog_ids();
    size_t found = 0;
    for (uint32_t id : eog) found += id == im_end;
    CHECK(found == 1);
    CHECK(tok.eos() >= 0 && tok.bos() >= -1 && tok.pad() >= -1);
    EXPECT_ERROR(tok.token_to_id("no such token, surely"), MINKE_ERR_TOKENIZER);
    EXPECT_ERROR(tok.decode({49152}), MINKE_ERR_TOKEN_OUT_OF_RANGE);
    // Special-token text: parsed for the app's text, text for a user's.
    CHECK(tok.encode("<|im_end|>", false) == std::vector<uint32_t>{im_end});
    CHECK(tok.encode_ex("<|im_end|>", MINKE_ENCODE_PARSE_SPECIAL) ==
          std::vector<uint32_t>{im_end});
    CHECK(tok.encode_ex("<|im_end|>", 0).size() > 1);
    EXPECT_ERROR(tok.encode_ex("x", 1u << 20), MINKE_ERR_INVALID_ARG);

    // The chat template.
    CHECK(tok.has_chat_template());
    std::vector<minke::Tokenizer::Message> chat = {{"system", "Be brief."}, {"user", "Hi! 🐋"}};
    std::string text = tok.apply_chat_template(chat, true);
    CHECK(text.find("<|im_start|>user\nHi! 🐋<|im_end|>") != std::string::npos);
    CHECK(text.size() > 22 && text.compare(text.size() - 22, 22, "<|im_start|>assistant\n") == 0);
    CHECK(tok.encode_chat(chat, true) == tok.encode_ex(text, MINKE_ENCODE_PARSE_SPECIAL));

    // A tokenizer opened alone gives the same ids; copies share it.
    minke::Tokenizer copy(nullptr);
    {
        minke::Tokenizer alone = minke::Tokenizer::open(model_path);
        CHECK(alone.encode("Hello 🐋", true) == tok.encode("Hello 🐋", true));
        copy = alone;
    }
    CHECK(copy.n_vocab() == 49152 && copy.decode(copy.encode("still here", false)) == "still here");
    minke::Tokenizer vocab =
        minke::Tokenizer::open(fixture("tokenizer/deepseek_coder/ggml-vocab-deepseek-coder.gguf"));
    CHECK(vocab.n_vocab() == 32256 && !vocab.has_chat_template());
    CHECK((vocab.encode("Hello world", true) == std::vector<uint32_t>{32013, 17535, 1835}));
    EXPECT_ERROR(minke::Tokenizer::open("/no/such/tokenizer.json"), MINKE_ERR_IO);
}

void sizing(const minke::Model &m) {
    minke_session_params sp = minke::Session::default_params();
    CHECK(sp.n_ctx == 2048 && sp.kv_type == MINKE_KV_F16);
    sp.n_ctx = 512;
    uint64_t bytes = minke::Session::bytes(m, sp);
    uint32_t n_ctx = minke::Session::max_ctx(m, sp, bytes);
    CHECK(bytes > 0 && n_ctx >= 512 && n_ctx < 520);
    EXPECT_ERROR(minke::Session::max_ctx(m, sp, 1), MINKE_ERR_INVALID_ARG);
    sp.n_ctx = 64;
    sp.n_threads = 2;
    minke::Session s(m, sp);
    CHECK(s.n_ctx() == 64 && s.n_threads() == 2 && s.n_vocab() == 49152 && s.pos() == 0);
    sp.n_ctx = 0;
    EXPECT_ERROR(minke::Session(m, sp), MINKE_ERR_INVALID_ARG);
}

// generate() against a loop by hand; logits, rewind, stops and exceptions.
minke_session_params session_params(uint32_t n_ctx) {
    minke_session_params p = minke::Session::default_params();
    p.n_ctx = n_ctx;
    p.n_threads = 2;
    return p;
}

void generation(const minke::Model &m, const minke::Tokenizer &tok) {
    std::vector<uint32_t> prompt = tok.encode(PROMPT, true);
    minke_generate_params gp = minke::default_generate_params();
    gp.max_tokens = 16;
    gp.stop_at_eos = false;

    minke::Session s(m);
    minke::Sampler smp(m);
    std::string text;
    minke_generate_result r = minke::generate(
        s, smp, prompt,
        [&](std::string_view piece) {
            text += piece;
            return true;
        },
        gp);
    CHECK(r.stop_reason == MINKE_STOP_MAX_TOKENS && r.n_tokens == 16);
    CHECK(r.n_prompt_tokens == prompt.size() && s.pos() == prompt.size() + 15);
    CHECK(text.rfind(" Paris", 0) == 0);

    // By hand: the same text.
    minke::Session s2(m);
    minke::Sampler smp2(m, minke::Sampler::default_params());
    const float *logits = s2.prefill(prompt);
    CHECK(logits == s2.logits());
    std::string by_hand;
    for (int i = 0; i < 16; i++) {
        uint32_t t = smp2.sample(s2);
        CHECK(t == smp2.sample(logits));
        smp2.accept(t);
        by_hand += tok.piece(t);
        if (i + 1 < 16) logits = s2.decode(t);
    }
    CHECK(by_hand == text);

    // Rewind: the same logits, bit for bit.
    s2.rewind(0);
    const float *l1 = s2.prefill(prompt);
    std::vector<float> first(l1, l1 + s2.n_vocab());
    s2.rewind(0);
    CHECK(std::memcmp(first.data(), s2.prefill(prompt), first.size() * sizeof(float)) == 0);
    EXPECT_ERROR(s2.rewind(s2.pos() + 1), MINKE_ERR_INVALID_ARG);

    // Shift: the dropped positions leave the cache and the tokens held.
    {
        uint32_t before = s2.pos();
        std::vector<uint32_t> held = s2.tokens();
        s2.shift(1, 2);
        CHECK(s2.pos() == before - 2);
        std::vector<uint32_t> now = s2.tokens();
        CHECK(now.size() == held.size() - 2 && now[0] == held[0] && now[1] == held[3]);
        EXPECT_ERROR(s2.shift(0, s2.pos() + 1), MINKE_ERR_INVALID_ARG);
    }
    // With a context shift, generate() runs past the context and returns
    // every id.
    {
        minke::Session small(m, session_params(32));
        minke_generate_params gp = minke::default_generate_params();
        gp.max_tokens = 80;
        gp.stop_at_eos = false;
        gp.context_shift = true;
        gp.n_keep = 4;
        minke::GenerateResult r =
            minke::generate(small, smp2, prompt, [](std::string_view) { return true; }, gp);
        CHECK(r.n_tokens == 80 && r.tokens.size() == 80 && r.n_discarded > 0);
    }
    EXPECT_ERROR(s2.decode(49152), MINKE_ERR_TOKEN_OUT_OF_RANGE);
    EXPECT_ERROR(smp2.accept(49152), MINKE_ERR_TOKEN_OUT_OF_RANGE);

    // The callable stops it; then one throws and it is rethrown.
    s.rewind(0);
    smp.reset();
    int calls = 0;
    r = minke::generate(s, smp, prompt, [&](std::string_view) { return ++calls < 2; }, gp);
    CHECK(r.stop_reason == MINKE_STOP_CANCELLED && calls == 2);
    s.rewind(0);
    calls = 0;
    try {
        minke::generate(
            s, smp, prompt,
            [&](std::string_view) -> bool {
                if (++calls == 3) throw Boom();
                return true;
            },
            gp);
        CHECK(false);
    } catch (const Boom &) {
        CHECK(calls == 3);
    }

    // Moved handles keep working; sampling with a temperature repeats
    // after a reset.
    minke::Session moved(std::move(s));
    moved.rewind(0);
    minke_sampler_params sp = minke::Sampler::default_params();
    sp.temperature = 1.2f;
    sp.seed = 7;
    minke::Sampler hot(m, sp);
    const float *l = moved.prefill(prompt);
    uint32_t a = hot.sample(l), b = hot.sample(l);
    hot.reset();
    CHECK(hot.sample(l) == a && hot.sample(l) == b);
    // Its state() puts the generator back where it was, in another sampler.
    std::vector<uint8_t> at = hot.state();
    uint32_t c = hot.sample(l), d = hot.sample(l);
    minke::Sampler twin(m, sp);
    twin.restore_state(at);
    CHECK(twin.sample(l) == c && twin.sample(l) == d);
    sp.repeat_penalty = 1.1f;
    minke::Sampler penalised(m, sp);
    EXPECT_ERROR(penalised.restore_state(at), MINKE_ERR_STATE);
    at.back() ^= 1;
    EXPECT_ERROR(twin.restore_state(at), MINKE_ERR_STATE);
    sp.repeat_penalty = 1.0f;
    sp.top_p = 2.0f;
    EXPECT_ERROR(minke::Sampler(m, sp), MINKE_ERR_INVALID_ARG);
}

void score_and_reward(const minke::Model &m, const minke::Tokenizer &tok) {
    std::vector<uint32_t> prompt = tok.encode(PROMPT, true);
    std::vector<uint32_t> cont = tok.encode(" Paris, and Berlin.", false);
    minke_session_params p = minke::Session::default_params();
    p.n_ctx = 128;
    minke::Session plain(m, p);
    p.logits_all = true;
    minke::Session s(m, p);
    minke::Score sc = s.score(prompt, cont);
    double sum = 0;
    for (double lp : sc.logprobs) sum += lp;
    CHECK(sc.logprobs.size() == cont.size() && sc.total < 0 && std::fabs(sum - sc.total) < 1e-9);
    CHECK(sc.logprobs[0] > -2.0);
    CHECK(s.score(prompt, {}).total == 0.0);
    EXPECT_ERROR(plain.score(prompt, cont), MINKE_ERR_INVALID_ARG);
    EXPECT_ERROR(plain.reward(prompt), MINKE_ERR_INVALID_ARG);

    minke::Model rm(fixture("llama_reward"));
    CHECK(rm.n_labels() == 1);
    minke_session_params rp = minke::Session::default_params();
    rp.kv_type = MINKE_KV_F32;
    minke::Session rs(rm, rp);
    std::vector<float> r = rs.reward({5, 6, 7, 8});
    // What `minke reward` prints for these ids.
    CHECK(r.size() == 1 && std::fabs(r[0] - 0.616983) < 1e-4);
    EXPECT_ERROR(rs.reward({}), MINKE_ERR_INVALID_ARG);
}

double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = std::fmax(d, std::fabs((double)a[i] - (double)b[i]));
    return d;
}

void lora() {
    const std::vector<uint32_t> ids = {1, 5, 9, 17, 33, 65};
    minke::Model base(fixture("llama_lora/base"));
    minke::Session s(base);
    const size_t nv = s.n_vocab();
    const float *l = s.prefill(ids);
    std::vector<float> plain(l, l + nv);
    {
        minke::Lora lora(fixture("llama_lora/adapter"));
        EXPECT_ERROR(s.set_adapter(lora, NAN), MINKE_ERR_INVALID_ARG);
        s.set_adapter(lora);
    }
    // The session keeps the adapter after the handle is gone.
    s.rewind(0);
    CHECK(max_diff(plain.data(), s.prefill(ids), nv) > 1e-3);
    s.clear_adapter();
    s.rewind(0);
    CHECK(max_diff(plain.data(), s.prefill(ids), nv) < 1e-6);
    EXPECT_ERROR(minke::Lora(fixture("llama_lora/no_such_adapter")), MINKE_ERR_IO);
}

void best_of_n(const minke::Model &m, const minke::Tokenizer &tok) {
    std::vector<uint32_t> prompt = tok.encode("Once upon a time,", true);
    minke_sampler_params sp = minke::Sampler::default_params();
    sp.temperature = 0.9f;
    sp.seed = 42;
    minke_generate_params gp = minke::default_generate_params();
    gp.max_tokens = 8;
    minke_session_params p = minke::Session::default_params();
    p.n_ctx = 128;
    minke::Session s(m, p);

    minke::Candidates c = minke::best_of_n(s, prompt, 3, sp, gp);
    CHECK(c.size() == 3);
    bool seen[3] = {false, false, false};
    for (size_t i = 0; i < c.size(); i++) {
        CHECK(std::isfinite(c.score(i)) && c.score(i) <= 0);
        if (i > 0) CHECK(c.score(i) <= c.score(i - 1));
        CHECK(c.seed(i) >= 42 && c.seed(i) < 45 && !seen[c.seed(i) - 42]);
        if (c.seed(i) >= 42 && c.seed(i) < 45) seen[c.seed(i) - 42] = true;
        std::vector<uint32_t> ids = c.tokens(i);
        CHECK(!ids.empty() && ids.size() <= 8);
        CHECK(c.stop_reason(i) == MINKE_STOP_MAX_TOKENS || c.stop_reason(i) == MINKE_STOP_EOS);
        std::printf("  %zu: seed %llu score %.4f: %s\n", i, (unsigned long long)c.seed(i),
                    c.score(i), c.text(i).c_str());
    }
    CHECK(c.get() != nullptr);
    EXPECT_ERROR(c.text(3), MINKE_ERR_INVALID_ARG);

    // A ranker: the longest text first, its score what it returned.
    s.rewind(0);
    int calls = 0;
    minke::Candidates byLen = minke::best_of_n(
        s, prompt, 3, sp, gp, [&](std::string_view text, const uint32_t *ids, size_t n) {
            calls++;
            CHECK(ids != nullptr && n >= 1);
            return (double)text.size();
        });
    CHECK(calls == 3 && byLen.size() == 3);
    for (size_t i = 0; i < byLen.size(); i++) CHECK(byLen.score(i) == byLen.text(i).size());
    CHECK(byLen.text(0).size() >= byLen.text(2).size());

    // NaN aborts; an exception aborts and is rethrown.
    s.rewind(0);
    EXPECT_ERROR(minke::best_of_n(s, prompt, 3, sp, gp,
                                  [](std::string_view, const uint32_t *, size_t) { return NAN; }),
                 MINKE_ERR_INVALID_ARG);
    s.rewind(0);
    try {
        minke::best_of_n(s, prompt, 3, sp, gp,
                         [](std::string_view, const uint32_t *, size_t) -> double { throw Boom(); });
        CHECK(false);
    } catch (const Boom &) {
        CHECK(true);
    }
    s.rewind(0);
    EXPECT_ERROR(minke::best_of_n(s, prompt, 0, sp, gp), MINKE_ERR_INVALID_ARG);
}

bool same_logits(const minke::Session &a, const minke::Session &b) {
    return std::memcmp(a.logits(), b.logits(), a.n_vocab() * sizeof(float)) == 0;
}

// state() into another session: the same tokens, logits and continuation;
// a damaged state refused; the same through a file.
void state(const minke::Model &m, const minke::Tokenizer &tok) {
    std::vector<uint32_t> prompt = tok.encode(
        "You are a careful assistant for a small museum of maritime history. Answer in short, "
        "plain sentences.",
        true);
    minke::Session a(m, session_params(128));
    minke::Session b(m, session_params(256));
    a.prefill(prompt);
    std::vector<uint8_t> st = a.state();
    CHECK(st.size() > 64);
    b.prefill({prompt[0], prompt[1], prompt[2]});
    b.restore_state(st);
    CHECK(b.pos() == prompt.size() && b.tokens() == prompt && a.tokens() == prompt);
    CHECK(same_logits(a, b));
    // The continuation, token for token and bit for bit.
    minke_generate_params gp = minke::default_generate_params();
    gp.max_tokens = 8;
    gp.stop_at_eos = false;
    minke::Sampler sa(m), sb(m);
    std::vector<uint32_t> next = tok.encode(" Hello", false);
    auto quiet = [](std::string_view) { return true; };
    minke::GenerateResult ra = minke::generate(a, sa, next, quiet, gp);
    minke::GenerateResult rb = minke::generate(b, sb, next, quiet, gp);
    CHECK(ra.tokens.size() == 8 && ra.tokens == rb.tokens);
    CHECK(a.tokens() == b.tokens() && same_logits(a, b));

    // Refused whole, with the status and the reason; the session is kept.
    uint32_t pos = b.pos();
    std::vector<uint8_t> bad = st;
    bad[bad.size() / 2] ^= 0x40;
    EXPECT_ERROR(b.restore_state(bad), MINKE_ERR_STATE);
    try {
        b.restore_state(bad);
    } catch (const minke::Error &e) {
        CHECK(std::strncmp(e.what(), "MINKE_ERR_STATE: ", 17) == 0);
        CHECK(std::strstr(e.what(), "checksum") != nullptr);
    }
    EXPECT_ERROR(b.restore_state(std::vector<uint8_t>(st.begin(), st.end() - 1)),
                 MINKE_ERR_STATE);
    EXPECT_ERROR(b.restore_state({}), MINKE_ERR_STATE);
    CHECK(b.pos() == pos && b.tokens() == a.tokens());
    minke_session_params f32 = session_params(128);
    f32.kv_type = MINKE_KV_F32;
    minke::Session other(m, f32);
    EXPECT_ERROR(other.restore_state(st), MINKE_ERR_STATE);
    minke::Session tiny(m, session_params(16));
    EXPECT_ERROR(tiny.restore_state(st), MINKE_ERR_STATE);

    // Through a file.
    const char *dir = std::getenv("TMPDIR");
    std::string path = std::string(dir ? dir : "/tmp") + "/minke-test-wrapper-" +
                       std::to_string(getpid()) + ".state";
    a.save_state_file(path);
    minke::Session c(m, session_params(128));
    c.load_state_file(path);
    CHECK(c.tokens() == a.tokens() && same_logits(a, c));
    CHECK(c.state() == a.state());
    std::remove(path.c_str());
    EXPECT_ERROR(c.load_state_file(path), MINKE_ERR_IO);
    EXPECT_ERROR(a.save_state_file("/nonexistent/dir/minke.state"), MINKE_ERR_IO);
}

// The abort callable: stops a long prefill and a generation, its exception
// is rethrown, it moves with the Session, and an empty one removes it.
void abort_callback(const minke::Model &m, const minke::Tokenizer &tok) {
    minke_session_params p = session_params(2048);
    std::vector<uint32_t> ids(2000);
    for (size_t i = 0; i < ids.size(); i++) ids[i] = (uint32_t)((i * 7919u + 17u) % m.n_vocab());
    minke::Session s(m, p);
    int calls = 0;
    s.set_abort_callback([&] { return ++calls > 100; });
    EXPECT_ERROR(s.prefill(ids), MINKE_ERR_ABORTED);
    // Asked before each layer: 100 layers ran, the batches they finished stay.
    CHECK(calls == 101);
    CHECK(s.pos() > 0 && s.pos() < ids.size() && s.pos() % p.n_batch == 0);
    CHECK(s.tokens() == std::vector<uint32_t>(ids.begin(), ids.begin() + s.pos()));
    std::printf("  aborted after %d layers at position %u\n", calls - 1, s.pos());

    // An exception stops the call and is rethrown; the session goes on.
    const uint32_t kept = s.pos();
    calls = 0;
    s.set_abort_callback([&]() -> bool {
        if (++calls == 5) throw Boom();
        return false;
    });
    try {
        s.prefill({ids[0], ids[1]});
        CHECK(false);
    } catch (const Boom &) {
        CHECK(calls == 5);
    }
    CHECK(s.pos() == kept);
    s.decode(ids[0]);
    CHECK(calls > 5 && s.pos() == kept + 1);

    // Moved, the Session keeps its callable: it stops generate() too.
    minke::Session moved(std::move(s));
    moved.rewind(0);
    bool stop = false;
    moved.set_abort_callback([&] { return stop; });
    minke::Sampler smp(m);
    std::vector<uint32_t> prompt = tok.encode(PROMPT, true);
    int pieces = 0;
    EXPECT_ERROR(minke::generate(moved, smp, prompt,
                                 [&](std::string_view) {
                                     pieces++;
                                     stop = true;
                                     return true;
                                 }),
                 MINKE_ERR_ABORTED);
    CHECK(pieces == 1 && moved.pos() == prompt.size());
    moved.set_abort_callback(nullptr);
    moved.rewind(0);
    smp.reset();
    minke_generate_params gp = minke::default_generate_params();
    gp.max_tokens = 4;
    CHECK(minke::generate(moved, smp, prompt, [](std::string_view) { return true; }, gp)
              .n_tokens == 4);
}

// tokens(), logits_at() and the ids generate() returns.
void positions(const minke::Model &m, const minke::Tokenizer &tok) {
    // Each position's logits, bit for bit those of a prefill that stopped
    // there, on an f32 fixture. (With 8-bit activations some CPUs sum a
    // batch of one in another order than a longer one: test_state.c
    // checks that on the real model.)
    minke::Model tiny(fixture("llama_gqa"));
    const std::vector<uint32_t> ids = {1, 5, 9, 17, 33, 65, 100, 7, 3, 12};
    const size_t n = ids.size();
    minke_session_params p = session_params(64);
    p.logits_all = true;
    minke::Session all(tiny, p);
    minke::Session one(tiny, session_params(64));
    const size_t nv = all.n_vocab();
    CHECK(all.tokens().empty());
    EXPECT_ERROR(all.logits_at(0), MINKE_ERR_INVALID_ARG);
    all.prefill(ids);
    CHECK(all.tokens() == ids);
    CHECK(all.logits_at((uint32_t)n - 1) == all.logits());
    for (size_t i = 0; i < n; i++) {
        one.rewind(0);
        const float *want = one.prefill(std::vector<uint32_t>(ids.begin(), ids.begin() + i + 1));
        CHECK(std::memcmp(all.logits_at((uint32_t)i), want, nv * sizeof(float)) == 0);
    }
    EXPECT_ERROR(all.logits_at((uint32_t)n), MINKE_ERR_INVALID_ARG);
    // Without logits_all, the last position's only.
    CHECK(one.logits_at((uint32_t)n - 1) == one.logits());
    EXPECT_ERROR(one.logits_at(0), MINKE_ERR_INVALID_ARG);

    // Generated ids: what was streamed, and what the session now holds.
    std::vector<uint32_t> prompt = tok.encode(PROMPT, true);
    minke::Session s(m, session_params(128));
    minke::Sampler smp(m);
    minke_generate_params gp = minke::default_generate_params();
    gp.max_tokens = 12;
    gp.stop_at_eos = false;
    std::string text;
    minke::GenerateResult r = minke::generate(
        s, smp, prompt,
        [&](std::string_view piece) {
            text += piece;
            return true;
        },
        gp);
    CHECK(r.n_tokens == 12 && r.tokens.size() == 12 && tok.decode(r.tokens) == text);
    std::vector<uint32_t> held = s.tokens();
    CHECK(held.size() == prompt.size() + 11);
    CHECK(std::equal(prompt.begin(), prompt.end(), held.begin()));
    CHECK(std::equal(held.begin() + prompt.size(), held.end(), r.tokens.begin()));
    // A max_tokens far past the context: every id still comes back.
    minke::Session small(m, session_params((uint32_t)prompt.size() + 3));
    smp.reset();
    gp.max_tokens = 1000000;
    r = minke::generate(small, smp, prompt, [](std::string_view) { return true; }, gp);
    CHECK(r.stop_reason == MINKE_STOP_CONTEXT_FULL && r.n_tokens >= 3);
    CHECK(r.tokens.size() == r.n_tokens);

    // Speculative decoding passes through the params: prompt lookup gives
    // the greedy ids of plain decoding, and the result counts its guesses.
    std::vector<uint32_t> echo = tok.encode(
        "Copy: one two three four five six seven eight. Copy: one two three four", true);
    minke::Session plain_s(m, session_params(128)), spec_s(m, session_params(128));
    minke::Sampler plain_smp(m), spec_smp(m);
    gp.max_tokens = 24;
    minke::GenerateResult plain =
        minke::generate(plain_s, plain_smp, echo, [](std::string_view) { return true; }, gp);
    gp.n_draft = 6;
    minke::GenerateResult spec =
        minke::generate(spec_s, spec_smp, echo, [](std::string_view) { return true; }, gp);
    CHECK(spec.tokens == plain.tokens && spec_s.tokens() == plain_s.tokens());
    CHECK(plain.n_drafted == 0 && spec.n_drafted > 0 && spec.n_accepted <= spec.n_drafted);
    gp.draft = spec_s.get();
    EXPECT_ERROR(minke::generate(spec_s, spec_smp, echo, [](std::string_view) { return true; }, gp),
                 MINKE_ERR_INVALID_ARG);
}

// The model's description, sizes, formats and metadata.
void queries(const minke::Model &m) {
    CHECK(m.desc().find("llama") != std::string::npos);
    CHECK(m.desc() == "llama 135M Q4_1");
    CHECK(m.n_params() > 100u * 1000 * 1000);
    CHECK(m.n_heads() == 9 && m.n_heads_kv() == 3 && m.n_ff() == 1536);
    CHECK(m.n_experts() == 0 && m.n_experts_used() == 0);
    std::vector<minke::Model::TensorType> types = m.tensor_types();
    CHECK(types.size() >= 2 && types[0].name == "q4_1");
    uint64_t params = 0;
    for (const minke::Model::TensorType &t : types) params += t.n_params;
    CHECK(params == m.n_params());

    std::vector<std::pair<std::string, std::string>> meta = m.metadata();
    CHECK(meta.size() > 10);
    CHECK(!meta.empty() && meta[0].first == "general.architecture" && meta[0].second == "llama");
    CHECK(m.meta("general.architecture") == std::optional<std::string>("llama"));
    CHECK(m.meta("llama.context_length") == std::to_string(m.n_ctx_train()));
    CHECK(!m.meta("no.such.key").has_value());
    EXPECT_ERROR(m.meta("\xff"), MINKE_ERR_UTF8);
    // Long values come back whole (past the first 256-byte guess).
    std::optional<std::string> tpl = m.meta("tokenizer.chat_template");
    CHECK(tpl && tpl->size() > 256);
    CHECK(!minke::kernels_name().empty());
}

// Token spellings, the template text and templates of the app's.
void templates(const minke::Tokenizer &tok) {
    const uint32_t im_end = tok.token_to_id("<|im_end|>");
    CHECK(tok.eot() == (int32_t)im_end);
    CHECK(tok.id_to_token(im_end) == "<|im_end|>");
    for (uint32_t id = 300; id < 310; id++) CHECK(tok.token_to_id(tok.id_to_token(id)) == id);
    CHECK(tok.id_to_token(tok.encode(" hello", false)[0]).rfind("\xc4\xa0", 0) == 0);  // "Ġ"
    EXPECT_ERROR(tok.id_to_token(tok.n_vocab()), MINKE_ERR_TOKEN_OUT_OF_RANGE);

    const std::string tpl = tok.chat_template();
    CHECK(tpl.find("<|im_start|>") != std::string::npos);
    std::vector<minke::Tokenizer::Message> chat = {{"system", "Be brief."},
                                                   {"user", "Hi <|im_end|>"}};
    const std::string custom =
        "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}{{ eos_token }}";
    CHECK(tok.apply_template(custom, chat, true) ==
          "[system] Be brief.\n[user] Hi <|im_end|>\n[assistant]<|im_end|>");
    CHECK(tok.apply_template(custom, chat, false) ==
          "[system] Be brief.\n[user] Hi <|im_end|>\n<|im_end|>");
    // Only the template's own end of turn is a control token.
    std::vector<uint32_t> ids = tok.encode_chat_template(custom, chat, true);
    CHECK(std::count_if(ids.begin(), ids.end(),
                        [&](uint32_t id) { return tok.is_special(id); }) == 1);
    CHECK(!ids.empty() && ids.back() == im_end);
    // The model's own template, given as the app's, renders the same.
    CHECK(tok.apply_template(tpl, chat, true) == tok.apply_chat_template(chat, true));
    CHECK(tok.encode_chat_template(tpl, chat, true) == tok.encode_chat(chat, true));
    EXPECT_ERROR(tok.apply_template("{% if %}", chat, true), MINKE_ERR_TOKENIZER);
    EXPECT_ERROR(tok.encode_chat_template("{% if %}", chat, true), MINKE_ERR_TOKENIZER);
}

// set_n_threads: the same logits, bit for bit, on any number of threads.
void threads(const minke::Model &m, const minke::Tokenizer &tok) {
    std::vector<uint32_t> prompt = tok.encode(PROMPT, true);
    minke::Session s(m, session_params(64));
    s.set_n_threads(1);
    CHECK(s.n_threads() == 1);
    const float *l = s.prefill(prompt);
    std::vector<float> one(l, l + s.n_vocab());
    s.decode(42);
    std::vector<float> one_next(s.logits(), s.logits() + s.n_vocab());
    for (uint32_t n : {3u, 2u}) {
        s.set_n_threads(n);
        CHECK(s.n_threads() == n);
        s.rewind(0);
        CHECK(std::memcmp(s.prefill(prompt), one.data(), one.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(s.decode(42), one_next.data(), one.size() * sizeof(float)) == 0);
    }
    // The KV cache is kept across a change.
    s.set_n_threads(1);
    CHECK(s.pos() == prompt.size() + 1);
    EXPECT_ERROR(s.set_n_threads(0), MINKE_ERR_INVALID_ARG);
}

// Load progress: fractions from 0 to 1; false or an exception cancels.
void progress(const std::string &path) {
    std::vector<float> seen;
    {
        minke::Model m(path, minke::Model::default_params(), [&](float x) {
            seen.push_back(x);
            return true;
        });
        CHECK(m.n_vocab() == 49152);
    }
    CHECK(seen.size() > 10 && seen.front() == 0.0f && seen.back() == 1.0f);
    CHECK(std::is_sorted(seen.begin(), seen.end()));

    int calls = 0;
    auto stop_at_3 = [&](float) { return ++calls < 3; };
    EXPECT_ERROR(minke::Model(path, minke::Model::default_params(), stop_at_3),
                 MINKE_ERR_ABORTED);
    CHECK(calls == 3);
    calls = 0;
    try {
        minke::Model m(path, minke::Model::default_params(), [&](float) -> bool {
            if (++calls == 2) throw Boom();
            return true;
        });
        CHECK(false);
    } catch (const Boom &) {
        CHECK(calls == 2);
    }
    // Not mapped: progress by bytes read, then the same to the end.
    minke_model_params mp = minke::Model::default_params();
    mp.use_mmap = false;
    seen.clear();
    minke::Model read(path, mp, [&](float x) {
        seen.push_back(x);
        return true;
    });
    CHECK(seen.size() > 10 && seen.back() == 1.0f);
}

// The log callable: an INFO line per model opened, from any thread.
void logging(const std::string &path) {
    std::mutex lock;
    std::vector<std::pair<minke_log_level, std::string>> lines;
    std::atomic<int> refused{0};
    minke::set_log([&](minke_log_level level, std::string_view text) {
        std::lock_guard<std::mutex> g(lock);
        lines.emplace_back(level, std::string(text));
    });
    std::string desc;
    {
        minke::Model m(path);
        desc = m.desc();
    }
    {
        std::lock_guard<std::mutex> g(lock);
        CHECK(lines.size() >= 1);
        CHECK(std::any_of(lines.begin(), lines.end(), [&](const auto &l) {
            return l.first == MINKE_LOG_INFO && l.second.find(desc) != std::string::npos;
        }));
        CHECK(std::none_of(lines.begin(), lines.end(),
                           [](const auto &l) { return l.first == MINKE_LOG_DEBUG; }));
        lines.clear();
    }
    // DEBUG: a failing call logs its message. A callable that throws, or
    // calls set_log, harms nothing.
    minke::set_log(
        [&](minke_log_level level, std::string_view text) {
            {
                std::lock_guard<std::mutex> g(lock);
                lines.emplace_back(level, std::string(text));
            }
            try {
                minke::set_log(nullptr);
            } catch (const minke::Error &e) {
                if (e.status() == MINKE_ERR_INVALID_ARG) refused++;
            }
            throw Boom();
        },
        MINKE_LOG_DEBUG);
    EXPECT_ERROR(minke::Model("/no/such/model.gguf"), MINKE_ERR_IO);
    const std::string last = minke_last_error();
    CHECK(refused > 0);
    {
        std::lock_guard<std::mutex> g(lock);
        CHECK(!lines.empty() && lines.back().first == MINKE_LOG_DEBUG && lines.back().second == last);
        lines.clear();
    }
    EXPECT_ERROR(minke::set_log([](minke_log_level, std::string_view) {}, (minke_log_level)9),
                 MINKE_ERR_INVALID_ARG);
    // Silenced: nothing more arrives.
    minke::set_log(nullptr);
    lines.clear();
    { minke::Model m(path); }
    CHECK(lines.empty());
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s MODEL [FIXTURES]\n", argv[0]);
        return 2;
    }
    if (argc > 2) fixtures = argv[2];
    try {
        versions();
        minke_model_params mp = minke::Model::default_params();
        mp.validate = true;
        minke::Model model(argv[1], mp);
        minke::Tokenizer tok = model.tokenizer();
        model_getters(model);
        tokenizer(tok, argv[1]);
        sizing(model);
        generation(model, tok);
        score_and_reward(model, tok);
        lora();
        best_of_n(model, tok);
        state(model, tok);
        abort_callback(model, tok);
        positions(model, tok);
        queries(model);
        templates(tok);
        threads(model, tok);
        progress(argv[1]);
        logging(argv[1]);
    } catch (const std::exception &e) {
        failed++;
        std::fprintf(stderr, "test_wrapper: unexpected exception: %s\n", e.what());
    }
    std::printf("test_wrapper: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
