// minke.hpp: a header-only C++17 wrapper over the whole C API in minke.h.
//
// Handles become move-only RAII objects, status codes become exceptions
// (minke::Error, carrying the status and minke_last_error()'s message),
// and the C callbacks take any callable: minke::generate a
// `bool(std::string_view piece)`, minke::best_of_n a ranker
// `double(std::string_view text, const uint32_t *tokens, size_t n)`,
// Session::set_abort_callback a `bool()`, Model's constructor a load
// progress `bool(float)`. An exception from a callable stops the C call
// and is rethrown after it. minke::set_log takes a
// `void(minke_log_level, std::string_view)` for the library's log, which
// runs on any thread; what it throws is dropped.
// Thread rules are the C API's: share a Model (and its Tokenizer) between
// threads; keep a Session or Sampler to one thread at a time.
// scripts/test-c.sh checks that every function of minke.h is used here.
#ifndef MINKE_HPP
#define MINKE_HPP

#include <minke.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace minke {

// A failed call: the status and the message the library gave.
class Error : public std::runtime_error {
public:
    Error(minke_status status, const char *message)
        : std::runtime_error(std::string(minke_status_name(status)) + ": " + message),
          status_(status) {}
    minke_status status() const noexcept { return status_; }

private:
    minke_status status_;
};

inline void check(minke_status st) {
    if (st != MINKE_OK) throw Error(st, minke_last_error());
}

// The library loaded, which may differ from the header's MINKE_VERSION_*
// when linking dynamically.
inline std::string version() { return minke_version(); }
inline uint32_t abi_version() { return minke_abi_version(); }

// The kernel set that runs the arithmetic on this CPU ("avx2", "neon-dotprod",
// "scalar"...; "" if MINKE_ISA names one the CPU lacks).
inline std::string kernels_name() { return minke_kernels_name(); }

namespace detail {
struct ModelFree {
    void operator()(minke_model *p) const noexcept { minke_model_free(p); }
};
struct SessionFree {
    void operator()(minke_session *p) const noexcept { minke_session_free(p); }
};
struct SamplerFree {
    void operator()(minke_sampler *p) const noexcept { minke_sampler_free(p); }
};
struct TokenizerFree {
    void operator()(minke_tokenizer *p) const noexcept { minke_tokenizer_free(p); }
};
struct LoraFree {
    void operator()(minke_lora *p) const noexcept { minke_lora_free(p); }
};
struct CandidatesFree {
    void operator()(minke_candidates *p) const noexcept { minke_candidates_free(p); }
};

// A Session's abort callable and what it threw, on the heap so that the
// pointer the C library holds survives moves of the Session.
struct Abort {
    std::function<bool()> f;
    std::exception_ptr error;

    static bool trampoline(void *user_data) noexcept {
        Abort *a = static_cast<Abort *>(user_data);
        try {
            return a->f();
        } catch (...) {
            a->error = std::current_exception();
            return true;
        }
    }
};

// Calls `f(ids, capacity, &n)` with room for `guess` ids, then again with
// the room it asked for.
template <class F>
std::vector<uint32_t> sized_ids(size_t guess, F f) {
    std::vector<uint32_t> ids(guess > 0 ? guess : 1);
    size_t n = 0;
    minke_status st = f(ids.data(), ids.size(), &n);
    if (st == MINKE_ERR_BUFFER_TOO_SMALL) {
        ids.resize(n);
        st = f(ids.data(), ids.size(), &n);
    }
    check(st);
    ids.resize(n);
    return ids;
}

// Calls `f(buf, size, &n)` snprintf-style: first with a guess, then with
// the size it asked for. The text goes to `out` on MINKE_OK; returns the
// status, unchecked.
template <class F>
minke_status sized_text_status(F f, std::string &out) {
    std::string s(256, '\0');
    size_t n = 0;
    minke_status st = f(&s[0], s.size(), &n);
    if (st == MINKE_ERR_BUFFER_TOO_SMALL) {
        s.assign(n + 1, '\0');
        st = f(&s[0], s.size(), &n);
    }
    if (st == MINKE_OK) {
        s.resize(n);
        out = std::move(s);
    }
    return st;
}

// The same, throwing on failure.
template <class F>
std::string sized_text(F f) {
    std::string s;
    check(sized_text_status(f, s));
    return s;
}

// A load-progress callable and what it threw, for minke_model_open.
struct Progress {
    const std::function<bool(float)> *f;
    std::exception_ptr error;

    static bool trampoline(float progress, void *user_data) noexcept {
        Progress *p = static_cast<Progress *>(user_data);
        try {
            return (*p->f)(progress);
        } catch (...) {
            p->error = std::current_exception();
            return false;
        }
    }
};

// The log callable minke_log_set holds, and the lock that orders set_log
// calls. Never destroyed: a thread minke started could log during exit.
using LogFn = std::function<void(minke_log_level, std::string_view)>;
struct Log {
    std::mutex lock;
    LogFn *current = nullptr;  // the one minke calls, owned here

    static Log &get() {
        static Log *log = new Log();
        return *log;
    }
    // Set while this thread runs the log callable: set_log from inside it
    // is refused before it takes `lock` (minke_log_set would wait for it).
    static bool &inside() {
        static thread_local bool in = false;
        return in;
    }
    static void trampoline(minke_log_level level, const char *text, void *user_data) noexcept {
        inside() = true;
        try {
            (*static_cast<LogFn *>(user_data))(level, std::string_view(text));
        } catch (...) {
            // Nowhere to go: the log must not stop the call that logged.
        }
        inside() = false;
    }
};
}  // namespace detail

// A tokenizer: a Model's (a borrowed view, valid while the Model lives), or
// one opened alone with Tokenizer::open(), which this object and its copies
// own together. Copies are cheap; any number of threads may use one.
class Tokenizer {
public:
    explicit Tokenizer(const minke_tokenizer *t) : t_(t) {}

    // Only the tokenizer of a model file (GGUF, also vocabulary-only;
    // .minke; a Hugging Face folder; a tokenizer.json).
    static Tokenizer open(const std::string &path) {
        minke_tokenizer *t = nullptr;
        check(minke_tokenizer_open(path.c_str(), &t));
        return Tokenizer(std::shared_ptr<minke_tokenizer>(t, detail::TokenizerFree()));
    }

    // Text the app wrote: special-token text (`<|im_end|>`) becomes that
    // control token. For a user's text use encode_ex(text, 0), for a chat
    // encode_chat().
    std::vector<uint32_t> encode(const std::string &text, bool add_special) const {
        return detail::sized_ids(text.size() + 8, [&](uint32_t *ids, size_t cap, size_t *n) {
            return minke_tokenizer_encode(t_, text.c_str(), add_special, ids, cap, n);
        });
    }

    // Text as `flags` (MINKE_ENCODE_* bits) say; 0 is a user's text: no
    // prefix tokens, special-token text stays text.
    std::vector<uint32_t> encode_ex(const std::string &text, uint32_t flags) const {
        return detail::sized_ids(text.size() + 8, [&](uint32_t *ids, size_t cap, size_t *n) {
            return minke_tokenizer_encode_ex(t_, text.c_str(), flags, ids, cap, n);
        });
    }

    std::string decode(const std::vector<uint32_t> &ids) const {
        return detail::sized_text([&](char *buf, size_t size, size_t *n) {
            return minke_tokenizer_decode(t_, ids.data(), ids.size(), buf, size, n);
        });
    }

    // The raw bytes of one token (may be part of a UTF-8 character).
    std::string piece(uint32_t id) const {
        return detail::sized_text([&](char *buf, size_t size, size_t *n) {
            return minke_tokenizer_token_to_piece(t_, id, buf, size, n);
        });
    }

    // The id of a token as the vocabulary spells it; throws if none.
    uint32_t token_to_id(const std::string &piece) const {
        uint32_t id = 0;
        check(minke_tokenizer_token_to_id(t_, piece.c_str(), &id));
        return id;
    }

    struct Message {
        std::string role, content;
    };

    // The prompt for `messages` as token ids, ready to generate from: only
    // the template's own special tokens are control tokens, never text a
    // user typed.
    std::vector<uint32_t> encode_chat(const std::vector<Message> &messages,
                                      bool add_generation_prompt) const {
        std::vector<minke_chat_message> c = c_messages(messages);
        return detail::sized_ids(256, [&](uint32_t *ids, size_t cap, size_t *n) {
            return minke_tokenizer_encode_chat(t_, c.data(), c.size(), add_generation_prompt, ids,
                                               cap, n);
        });
    }

    // The prompt as text, to show or log. Encoding it with special tokens
    // on also turns special-token text in the messages into control
    // tokens: to prompt the model, use encode_chat().
    std::string apply_chat_template(const std::vector<Message> &messages,
                                    bool add_generation_prompt) const {
        std::vector<minke_chat_message> c = c_messages(messages);
        return detail::sized_text([&](char *buf, size_t size, size_t *n) {
            return minke_tokenizer_apply_chat_template(t_, c.data(), c.size(),
                                                       add_generation_prompt, buf, size, n);
        });
    }

    // The prompt as text from `tmpl`, a Jinja chat template of the app's,
    // in place of the model's (which need not have one); rendered as
    // apply_chat_template() renders the model's.
    std::string apply_template(const std::string &tmpl, const std::vector<Message> &messages,
                               bool add_generation_prompt) const {
        std::vector<minke_chat_message> c = c_messages(messages);
        return detail::sized_text([&](char *buf, size_t size, size_t *n) {
            return minke_tokenizer_apply_template(t_, tmpl.c_str(), c.data(), c.size(),
                                                  add_generation_prompt, buf, size, n);
        });
    }

    // encode_chat() with `tmpl` in place of the model's template.
    std::vector<uint32_t> encode_chat_template(const std::string &tmpl,
                                               const std::vector<Message> &messages,
                                               bool add_generation_prompt) const {
        std::vector<minke_chat_message> c = c_messages(messages);
        return detail::sized_ids(256, [&](uint32_t *ids, size_t cap, size_t *n) {
            return minke_tokenizer_encode_chat_template(t_, tmpl.c_str(), c.data(), c.size(),
                                                        add_generation_prompt, ids, cap, n);
        });
    }

    // The model's chat template, its Jinja source; throws
    // MINKE_ERR_TOKENIZER if it has none.
    std::string chat_template() const {
        return detail::sized_text([&](char *buf, size_t size, size_t *n) {
            return minke_tokenizer_chat_template(t_, buf, size, n);
        });
    }

    // Token `id` as the vocabulary spells it ("Ġhello"), the inverse of
    // token_to_id(); piece() gives the bytes it stands for instead.
    std::string id_to_token(uint32_t id) const {
        return detail::sized_text([&](char *buf, size_t size, size_t *n) {
            return minke_tokenizer_id_to_token(t_, id, buf, size, n);
        });
    }

    // The ids that end generation (is_eog() is true for each).
    std::vector<uint32_t> eog_ids() const {
        const uint32_t *ids = nullptr;
        size_t n = 0;
        check(minke_tokenizer_eog_ids(t_, &ids, &n));
        return n > 0 ? std::vector<uint32_t>(ids, ids + n) : std::vector<uint32_t>();
    }

    uint32_t n_vocab() const { return minke_tokenizer_n_vocab(t_); }
    // -1 where the model has none.
    int32_t bos() const { return minke_tokenizer_bos(t_); }
    int32_t eos() const { return minke_tokenizer_eos(t_); }
    int32_t pad() const { return minke_tokenizer_pad(t_); }
    // The end of a turn in the chat format (<|im_end|>), one of the eog ids.
    int32_t eot() const { return minke_tokenizer_eot(t_); }
    bool is_eog(uint32_t id) const { return minke_tokenizer_is_eog(t_, id); }
    bool is_special(uint32_t id) const { return minke_tokenizer_is_special(t_, id); }
    bool has_chat_template() const { return minke_tokenizer_has_chat_template(t_); }
    const minke_tokenizer *get() const noexcept { return t_; }

private:
    explicit Tokenizer(std::shared_ptr<minke_tokenizer> owned)
        : owned_(std::move(owned)), t_(owned_.get()) {}

    static std::vector<minke_chat_message> c_messages(const std::vector<Message> &messages) {
        std::vector<minke_chat_message> c;
        c.reserve(messages.size());
        for (const Message &m : messages) c.push_back({m.role.c_str(), m.content.c_str()});
        return c;
    }

    std::shared_ptr<minke_tokenizer> owned_;  // null for a borrowed tokenizer
    const minke_tokenizer *t_;
};

class Model {
public:
    static minke_model_params default_params() {
        minke_model_params p;
        check(minke_model_default_params(&p, sizeof p));
        return p;
    }

    // With a `progress` callable, it gets the fraction loaded (0 first, 1
    // last) on this thread, in place of params.progress; returning false
    // cancels the load (MINKE_ERR_ABORTED), and an exception from it
    // cancels it too and is rethrown here.
    explicit Model(const std::string &path, const minke_model_params &params = default_params(),
                   const std::function<bool(float)> &progress = nullptr) {
        minke_model_params p = params;
        detail::Progress ctx{&progress, nullptr};
        if (progress) {
            p.size = sizeof p;  // the progress fields are there
            p.progress = detail::Progress::trampoline;
            p.progress_user_data = &ctx;
        }
        minke_model *m = nullptr;
        minke_status st = minke_model_open(path.c_str(), &p, &m);
        m_.reset(m);
        if (ctx.error) {
            m_.reset();
            std::rethrow_exception(ctx.error);
        }
        check(st);
    }

    // One number format of the model's tensors (tensor_types()).
    struct TensorType {
        std::string name;  // "q4_1", "f32", ...
        uint64_t n_tensors;
        uint64_t n_params;
    };

    // Borrowed: valid while this Model lives.
    Tokenizer tokenizer() const {
        const minke_tokenizer *t = nullptr;
        check(minke_model_tokenizer(m_.get(), &t));
        return Tokenizer(t);
    }

    uint32_t n_vocab() const { return minke_model_n_vocab(m_.get()); }
    uint32_t n_ctx_train() const { return minke_model_n_ctx_train(m_.get()); }
    uint32_t n_layers() const { return minke_model_n_layers(m_.get()); }
    uint32_t n_embd() const { return minke_model_n_embd(m_.get()); }
    // Scores a reward model gives (Session::reward); 0 for a language model.
    uint32_t n_labels() const { return minke_model_n_labels(m_.get()); }
    uint64_t weight_bytes() const { return minke_model_weight_bytes(m_.get()); }
    std::string arch() const { return minke_model_arch(m_.get()); }
    uint32_t n_heads() const { return minke_model_n_heads(m_.get()); }
    uint32_t n_heads_kv() const { return minke_model_n_heads_kv(m_.get()); }
    uint32_t n_ff() const { return minke_model_n_ff(m_.get()); }
    // Routed experts, and those each token uses; 0 for a dense model.
    uint32_t n_experts() const { return minke_model_n_experts(m_.get()); }
    uint32_t n_experts_used() const { return minke_model_n_experts_used(m_.get()); }
    uint64_t n_params() const { return minke_model_n_params(m_.get()); }

    // One line naming the model, e.g. "llama 135M Q4_1".
    std::string desc() const {
        return detail::sized_text([&](char *buf, size_t size, size_t *n) {
            return minke_model_desc(m_.get(), buf, size, n);
        });
    }

    // The number formats of the tensors, most parameters first.
    std::vector<TensorType> tensor_types() const {
        std::vector<TensorType> types(minke_model_n_tensor_types(m_.get()));
        for (size_t i = 0; i < types.size(); i++) {
            const char *name = nullptr;
            check(minke_model_tensor_type(m_.get(), i, &name, &types[i].n_tensors,
                                          &types[i].n_params));
            types[i].name = name;
        }
        return types;
    }

    // The file's metadata as (key, value text) pairs: a GGUF file's in
    // file order; long arrays abridged (see minke_model_meta_value_at).
    std::vector<std::pair<std::string, std::string>> metadata() const {
        std::vector<std::pair<std::string, std::string>> kv(minke_model_meta_count(m_.get()));
        for (size_t i = 0; i < kv.size(); i++) {
            kv[i].first = detail::sized_text([&](char *buf, size_t size, size_t *n) {
                return minke_model_meta_key_at(m_.get(), i, buf, size, n);
            });
            kv[i].second = detail::sized_text([&](char *buf, size_t size, size_t *n) {
                return minke_model_meta_value_at(m_.get(), i, buf, size, n);
            });
        }
        return kv;
    }

    // The value of metadata `key` as text; nullopt if there is no such key.
    std::optional<std::string> meta(const std::string &key) const {
        std::string value;
        minke_status st = detail::sized_text_status(
            [&](char *buf, size_t size, size_t *n) {
                return minke_model_meta_value(m_.get(), key.c_str(), buf, size, n);
            },
            value);
        if (st == MINKE_ERR_INVALID_ARG) return std::nullopt;
        check(st);
        return value;
    }

    const minke_model *get() const noexcept { return m_.get(); }

private:
    std::unique_ptr<minke_model, detail::ModelFree> m_;
};

// A LoRA adapter (a PEFT folder), attached per session with
// Session::set_adapter(). Sessions keep it alive: it may go first.
class Lora {
public:
    explicit Lora(const std::string &path) {
        minke_lora *l = nullptr;
        check(minke_lora_open(path.c_str(), &l));
        l_.reset(l);
    }
    const minke_lora *get() const noexcept { return l_.get(); }

private:
    std::unique_ptr<minke_lora, detail::LoraFree> l_;
};

// The log-probabilities of a continuation (Session::score).
struct Score {
    double total;                  // their sum
    std::vector<double> logprobs;  // one per continuation token
};

class Session {
public:
    static minke_session_params default_params() {
        minke_session_params p;
        check(minke_session_default_params(&p, sizeof p));
        return p;
    }

    // Bytes a session with `params` takes, before making one.
    static uint64_t bytes(const Model &model, const minke_session_params &params) {
        uint64_t b = 0;
        check(minke_session_bytes(model.get(), &params, &b));
        return b;
    }

    // The largest n_ctx whose session (other fields as `params`) fits in
    // `budget` bytes.
    static uint32_t max_ctx(const Model &model, const minke_session_params &params,
                            uint64_t budget) {
        uint32_t n_ctx = 0;
        check(minke_session_max_ctx(model.get(), &params, budget, &n_ctx));
        return n_ctx;
    }

    explicit Session(const Model &model, const minke_session_params &params = default_params())
        : n_vocab_(model.n_vocab()) {
        minke_session *s = nullptr;
        check(minke_session_new(model.get(), &params, &s));
        s_.reset(s);
    }

    // Logits after the last token: n_vocab() floats, valid until the next
    // call that changes the session.
    const float *prefill(const std::vector<uint32_t> &tokens) {
        const float *logits = nullptr;
        finish(minke_session_prefill(s_.get(), tokens.data(), tokens.size(), &logits));
        return logits;
    }

    const float *decode(uint32_t token) {
        const float *logits = nullptr;
        finish(minke_session_decode(s_.get(), token, &logits));
        return logits;
    }

    // The logits after the last token run, as prefill/decode returned them.
    const float *logits() const {
        const float *logits = nullptr;
        size_t n = 0;
        check(minke_session_logits(s_.get(), &logits, &n));
        return logits;
    }

    // The logits after the token at `pos` (n_vocab() floats, valid until the
    // next call that changes the session): the last token's always, every
    // position of the last call with logits_all. Throws
    // MINKE_ERR_INVALID_ARG for a position whose logits are not held.
    const float *logits_at(uint32_t pos) const {
        const float *logits = nullptr;
        size_t n = 0;
        check(minke_session_logits_at(s_.get(), pos, &logits, &n));
        return logits;
    }

    // The tokens in the KV cache, pos() of them.
    std::vector<uint32_t> tokens() const {
        return detail::sized_ids(pos(), [&](uint32_t *ids, size_t cap, size_t *n) {
            return minke_session_tokens(s_.get(), ids, cap, n);
        });
    }

    // Teacher-forced log-probabilities of `cont` after `prompt`, from
    // position 0; needs a session made with logits_all.
    Score score(const std::vector<uint32_t> &prompt, const std::vector<uint32_t> &cont) {
        Score r{0.0, std::vector<double>(cont.size())};
        finish(minke_session_score(s_.get(), prompt.data(), prompt.size(), cont.data(),
                                   cont.size(), r.logprobs.data(), &r.total));
        return r;
    }

    // A reward model's scores for `tokens`, one per label, from position 0.
    std::vector<float> reward(const std::vector<uint32_t> &tokens) {
        size_t n = 0;
        // Ask for the count first: nothing runs when the room is too small.
        minke_status st =
            minke_session_reward(s_.get(), tokens.data(), tokens.size(), nullptr, 0, &n);
        if (st != MINKE_ERR_BUFFER_TOO_SMALL) {
            finish(st);
            return {};
        }
        std::vector<float> scores(n);
        finish(minke_session_reward(s_.get(), tokens.data(), tokens.size(), scores.data(),
                                    scores.size(), &n));
        scores.resize(n);
        return scores;
    }

    // Applies `lora` times `scale` from the next token on.
    void set_adapter(const Lora &lora, float scale = 1.0f) {
        check(minke_session_set_adapter(s_.get(), lora.get(), scale));
    }
    void clear_adapter() { check(minke_session_set_adapter(s_.get(), nullptr, 1.0f)); }

    // The session's state (tokens, KV cache, last logits), to restore into
    // this or another session over the same model, now or in a later
    // process.
    std::vector<uint8_t> state() const {
        size_t n = 0;
        check(minke_session_state_size(s_.get(), &n));
        std::vector<uint8_t> buf(n);
        check(minke_session_state_get(s_.get(), buf.data(), buf.size(), &n));
        buf.resize(n);
        return buf;
    }

    // Restores a state() bit for bit. Throws MINKE_ERR_STATE (damaged, or
    // from another model, adapter or KV type, or too long for n_ctx()) and
    // then leaves the session as it was.
    void restore_state(const std::vector<uint8_t> &state) {
        check(minke_session_state_set(s_.get(), state.data(), state.size()));
    }

    // The same through a file (written to a temporary name, then renamed).
    void save_state_file(const std::string &path) const {
        check(minke_session_state_save_file(s_.get(), path.c_str()));
    }
    void load_state_file(const std::string &path) {
        check(minke_session_state_load_file(s_.get(), path.c_str()));
    }

    // A callable asked before every layer of every prefill, decode, score,
    // reward, generate() and best_of_n() of this session, on the thread
    // running it: returning true ends the call with MINKE_ERR_ABORTED,
    // keeping the batches that completed (pos() says how far it got). An
    // exception from it stops the call too, and is rethrown instead. The
    // Session keeps the callable; an empty one removes it. Cheap, please:
    // it runs some thirty times per token.
    void set_abort_callback(std::function<bool()> abort) {
        if (!abort) {
            check(minke_session_set_abort_callback(s_.get(), nullptr, nullptr));
            abort_.reset();
            return;
        }
        std::unique_ptr<detail::Abort> a(new detail::Abort{std::move(abort), nullptr});
        check(minke_session_set_abort_callback(s_.get(), detail::Abort::trampoline, a.get()));
        abort_ = std::move(a);
    }

    void rewind(uint32_t pos) { check(minke_session_rewind(s_.get(), pos)); }
    // Context shift: forgets positions keep..keep+discard, moving the
    // rest down (their keys rotated back), so a full context goes on.
    void shift(uint32_t keep, uint32_t discard)
    {
        check(minke_session_shift(s_.get(), keep, discard));
    }
    uint32_t pos() const { return minke_session_pos(s_.get()); }
    uint32_t n_ctx() const { return minke_session_n_ctx(s_.get()); }
    uint32_t n_threads() const { return minke_session_n_threads(s_.get()); }
    // Runs on `n` threads from now on (KV cache kept; results the same bits).
    void set_n_threads(uint32_t n) { check(minke_session_set_n_threads(s_.get(), n)); }
    uint32_t n_vocab() const noexcept { return n_vocab_; }
    minke_session *get() noexcept { return s_.get(); }

    // The end of a call that runs layers (generate() and best_of_n() use it
    // too): rethrows `first` (what their own callable threw), else what the
    // abort callable threw during the call, else check(st).
    void finish(minke_status st, std::exception_ptr first = nullptr) {
        std::exception_ptr aborted;
        if (abort_) std::swap(aborted, abort_->error);
        if (first) std::rethrow_exception(first);
        if (aborted) std::rethrow_exception(aborted);
        check(st);
    }

private:
    // Declared before s_, so destroyed after the session that points to it.
    std::unique_ptr<detail::Abort> abort_;
    std::unique_ptr<minke_session, detail::SessionFree> s_;
    uint32_t n_vocab_;
};

class Sampler {
public:
    static minke_sampler_params default_params() {
        minke_sampler_params p;
        check(minke_sampler_default_params(&p, sizeof p));
        return p;
    }

    explicit Sampler(const Model &model, const minke_sampler_params &params = default_params())
        : n_vocab_(model.n_vocab()) {
        minke_sampler *s = nullptr;
        check(minke_sampler_new(model.get(), &params, &s));
        s_.reset(s);
    }

    uint32_t sample(const float *logits) {
        uint32_t t = 0;
        check(minke_sampler_sample(s_.get(), logits, n_vocab_, &t));
        return t;
    }

    // From the session's logits after its last token.
    uint32_t sample(const Session &session) { return sample(session.logits()); }

    void accept(uint32_t token) { check(minke_sampler_accept(s_.get(), token)); }
    void reset() { check(minke_sampler_reset(s_.get())); }

    // The generator's position and the penalties' memory, to save beside
    // a Session's state(); restore_state() puts them back (same vocabulary
    // and penalty_last_n, else MINKE_ERR_STATE and nothing changes).
    std::vector<uint8_t> state() const {
        size_t n = 0;
        check(minke_sampler_state_size(s_.get(), &n));
        std::vector<uint8_t> buf(n);
        check(minke_sampler_state_get(s_.get(), buf.data(), buf.size(), &n));
        return buf;
    }
    void restore_state(const std::vector<uint8_t> &state) {
        check(minke_sampler_state_set(s_.get(), state.data(), state.size()));
    }

    minke_sampler *get() noexcept { return s_.get(); }

private:
    std::unique_ptr<minke_sampler, detail::SamplerFree> s_;
    uint32_t n_vocab_;
};

inline minke_generate_params default_generate_params() {
    minke_generate_params p;
    check(minke_generate_default_params(&p, sizeof p));
    return p;
}

// What generate() did: minke_generate_result's counts, timings and stop
// reason, and the ids it generated (n_tokens of them; an end-of-generation
// token that stopped it included).
struct GenerateResult : minke_generate_result {
    std::vector<uint32_t> tokens;
};

// minke_generate with a callable `bool(std::string_view piece)`; an
// exception from it stops generation and is rethrown here (it never
// crosses the C library). The wrapper sets params.tokens and
// tokens_capacity itself: the ids come back in the result.
template <class F>
GenerateResult generate(Session &session, Sampler &sampler, const std::vector<uint32_t> &prompt,
                        F &&on_piece,
                        const minke_generate_params &params = default_generate_params()) {
    struct Ctx {
        std::remove_reference_t<F> *f;  // F is a reference for an lvalue
        std::exception_ptr error;
    } ctx{&on_piece, nullptr};
    auto trampoline = [](const char *piece, size_t len, void *user_data) -> bool {
        Ctx *c = static_cast<Ctx *>(user_data);
        try {
            return (*c->f)(std::string_view(piece, len));
        } catch (...) {
            c->error = std::current_exception();
            return false;
        }
    };
    GenerateResult result;
    check(minke_generate_default_result(&result, sizeof(minke_generate_result)));
    // No more than max_tokens, and (without a context shift) no more than
    // fit in the context; with one, at most 16 Mi ids are kept, so that a
    // huge max_tokens does not reserve gigabytes up front.
    size_t most = params.context_shift ? size_t{1} << 24 : size_t{session.n_ctx()} + 1;
    result.tokens.resize(std::min<size_t>(params.max_tokens, most));
    minke_generate_params p = params;
    p.size = sizeof p;  // this struct, with its tokens fields, whatever params said
    p.tokens = result.tokens.data();
    p.tokens_capacity = result.tokens.size();
    minke_status st = minke_generate(session.get(), sampler.get(), prompt.data(), prompt.size(),
                                     &p, trampoline, &ctx, &result);
    session.finish(st, ctx.error);
    result.tokens.resize(std::min<size_t>(result.n_tokens, result.tokens.size()));
    return result;
}

// The answers of best_of_n(), best first.
class Candidates {
public:
    explicit Candidates(minke_candidates *c) : c_(c) {}

    size_t size() const { return minke_candidates_count(c_.get()); }
    double score(size_t i) const { return minke_candidates_score(c_.get(), i); }
    // A fresh sampler with this seed and the same params generates it again.
    uint64_t seed(size_t i) const { return minke_candidates_seed(c_.get(), i); }
    // A minke_stop_reason value.
    uint32_t stop_reason(size_t i) const { return minke_candidates_stop_reason(c_.get(), i); }

    std::string text(size_t i) const {
        return detail::sized_text([&](char *buf, size_t size, size_t *n) {
            return minke_candidates_text(c_.get(), i, buf, size, n);
        });
    }

    std::vector<uint32_t> tokens(size_t i) const {
        return detail::sized_ids(64, [&](uint32_t *ids, size_t cap, size_t *n) {
            return minke_candidates_tokens(c_.get(), i, ids, cap, n);
        });
    }

    const minke_candidates *get() const noexcept { return c_.get(); }

private:
    std::unique_ptr<minke_candidates, detail::CandidatesFree> c_;
};

// Best-of-N ranked by each answer's mean log-probability per token.
inline Candidates best_of_n(Session &session, const std::vector<uint32_t> &prompt, uint32_t n,
                            const minke_sampler_params &sampler_params,
                            const minke_generate_params &generate_params) {
    minke_candidates *c = nullptr;
    minke_status st = minke_best_of_n(session.get(), &sampler_params, &generate_params,
                                      prompt.data(), prompt.size(), n, nullptr, nullptr, &c);
    Candidates owned(c);
    session.finish(st);
    return owned;
}

// Best-of-N ranked by a callable `double(std::string_view text, const
// uint32_t *tokens, size_t n_tokens)`, higher is better; NaN aborts, and so
// does an exception, which is rethrown here.
template <class R>
Candidates best_of_n(Session &session, const std::vector<uint32_t> &prompt, uint32_t n,
                     const minke_sampler_params &sampler_params,
                     const minke_generate_params &generate_params, R &&rank) {
    struct Ctx {
        std::remove_reference_t<R> *r;
        std::exception_ptr error;
    } ctx{&rank, nullptr};
    auto trampoline = [](const char *text, size_t len, const uint32_t *tokens, size_t n_tokens,
                         void *user_data) -> double {
        Ctx *c = static_cast<Ctx *>(user_data);
        try {
            return (*c->r)(std::string_view(text, len), tokens, n_tokens);
        } catch (...) {
            c->error = std::current_exception();
            return std::numeric_limits<double>::quiet_NaN();
        }
    };
    minke_candidates *c = nullptr;
    minke_status st = minke_best_of_n(session.get(), &sampler_params, &generate_params,
                                      prompt.data(), prompt.size(), n, trampoline, &ctx, &c);
    Candidates owned(c);
    session.finish(st, ctx.error);
    return owned;
}

// Sends the library's log messages of `min_level` and above to `log`, on
// whichever thread logs (so it must be thread-safe), each one line of
// UTF-8 borrowed for the call; an exception from it is dropped. An empty
// `log` silences the library again (the default). When this returns, the
// callable it replaced runs nowhere and is destroyed. Thread-safe; throws
// MINKE_ERR_INVALID_ARG for a level that is not one, or when called from
// inside the log callable.
inline void set_log(std::function<void(minke_log_level, std::string_view)> log,
                    minke_log_level min_level = MINKE_LOG_INFO) {
    if (detail::Log::inside())
        throw Error(MINKE_ERR_INVALID_ARG, "minke::set_log: called from inside the log callable");
    detail::Log &l = detail::Log::get();
    std::lock_guard<std::mutex> guard(l.lock);
    std::unique_ptr<detail::LogFn> next(log ? new detail::LogFn(std::move(log)) : nullptr);
    check(minke_log_set(next ? detail::Log::trampoline : nullptr, min_level, next.get()));
    // minke no longer calls the old one, on any thread.
    delete l.current;
    l.current = next.release();
}

}  // namespace minke

#endif  // MINKE_HPP
