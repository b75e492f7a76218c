// minke.hpp: a small header-only C++17 wrapper over the C API in minke.h.
//
// Handles become move-only RAII objects, status codes become exceptions
// (minke::Error, carrying the status and minke_last_error()'s message),
// and minke_generate takes any callable `bool(std::string_view)`.
// Thread rules are the C API's: share a Model between threads; keep a
// Session or Sampler to one thread at a time.
#ifndef MINKE_HPP
#define MINKE_HPP

#include <minke.h>

#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
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
}  // namespace detail

// The tokenizer of a Model: a borrowed view, valid while the Model lives.
class Tokenizer {
public:
    explicit Tokenizer(const minke_tokenizer *t) : t_(t) {}

    // Text the app wrote: special-token text (`<|im_end|>`) becomes that
    // control token. For a user's text use encode_ex(text, 0), for a chat
    // encode_chat().
    std::vector<uint32_t> encode(const std::string &text, bool add_special) const {
        return sized_ids(text.size() + 8, [&](uint32_t *ids, size_t cap, size_t *n) {
            return minke_tokenizer_encode(t_, text.c_str(), add_special, ids, cap, n);
        });
    }

    // Text as `flags` (MINKE_ENCODE_* bits) say; 0 is a user's text: no
    // prefix tokens, special-token text stays text.
    std::vector<uint32_t> encode_ex(const std::string &text, uint32_t flags) const {
        return sized_ids(text.size() + 8, [&](uint32_t *ids, size_t cap, size_t *n) {
            return minke_tokenizer_encode_ex(t_, text.c_str(), flags, ids, cap, n);
        });
    }

    std::string decode(const std::vector<uint32_t> &ids) const {
        return sized([&](char *buf, size_t size, size_t *n) {
            return minke_tokenizer_decode(t_, ids.data(), ids.size(), buf, size, n);
        });
    }

    // The raw bytes of one token (may be part of a UTF-8 character).
    std::string piece(uint32_t id) const {
        return sized([&](char *buf, size_t size, size_t *n) {
            return minke_tokenizer_token_to_piece(t_, id, buf, size, n);
        });
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
        return sized_ids(256, [&](uint32_t *ids, size_t cap, size_t *n) {
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
        return sized([&](char *buf, size_t size, size_t *n) {
            return minke_tokenizer_apply_chat_template(t_, c.data(), c.size(),
                                                       add_generation_prompt, buf, size, n);
        });
    }

    bool is_eog(uint32_t id) const { return minke_tokenizer_is_eog(t_, id); }
    int32_t bos() const { return minke_tokenizer_bos(t_); }
    const minke_tokenizer *get() const noexcept { return t_; }

private:
    static std::vector<minke_chat_message> c_messages(const std::vector<Message> &messages) {
        std::vector<minke_chat_message> c;
        c.reserve(messages.size());
        for (const Message &m : messages) c.push_back({m.role.c_str(), m.content.c_str()});
        return c;
    }

    // Calls `f(ids, capacity, &n)` with room for `guess` ids, then again
    // with the room it asked for.
    template <class F>
    static std::vector<uint32_t> sized_ids(size_t guess, F f) {
        std::vector<uint32_t> ids(guess);
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

    // Calls `f(buf, size, &n)` snprintf-style: first with a guess, then
    // with the size it asked for.
    template <class F>
    static std::string sized(F f) {
        std::string s(256, '\0');
        size_t n = 0;
        minke_status st = f(&s[0], s.size(), &n);
        if (st == MINKE_ERR_BUFFER_TOO_SMALL) {
            s.assign(n + 1, '\0');
            st = f(&s[0], s.size(), &n);
        }
        check(st);
        s.resize(n);
        return s;
    }

    const minke_tokenizer *t_;
};

class Model {
public:
    static minke_model_params default_params() {
        minke_model_params p;
        check(minke_model_default_params(&p, sizeof p));
        return p;
    }

    explicit Model(const std::string &path, const minke_model_params &params = default_params()) {
        minke_model *m = nullptr;
        check(minke_model_open(path.c_str(), &params, &m));
        m_.reset(m);
    }

    Tokenizer tokenizer() const {
        const minke_tokenizer *t = nullptr;
        check(minke_model_tokenizer(m_.get(), &t));
        return Tokenizer(t);
    }

    uint32_t n_vocab() const { return minke_model_n_vocab(m_.get()); }
    std::string arch() const { return minke_model_arch(m_.get()); }
    const minke_model *get() const noexcept { return m_.get(); }

private:
    std::unique_ptr<minke_model, detail::ModelFree> m_;
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
        check(minke_session_prefill(s_.get(), tokens.data(), tokens.size(), &logits));
        return logits;
    }

    const float *decode(uint32_t token) {
        const float *logits = nullptr;
        check(minke_session_decode(s_.get(), token, &logits));
        return logits;
    }

    void rewind(uint32_t pos) { check(minke_session_rewind(s_.get(), pos)); }
    uint32_t pos() const { return minke_session_pos(s_.get()); }
    uint32_t n_ctx() const { return minke_session_n_ctx(s_.get()); }
    uint32_t n_vocab() const noexcept { return n_vocab_; }
    minke_session *get() noexcept { return s_.get(); }

private:
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

    void accept(uint32_t token) { check(minke_sampler_accept(s_.get(), token)); }
    void reset() { check(minke_sampler_reset(s_.get())); }
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

// minke_generate with a callable `bool(std::string_view piece)`; an
// exception from it stops generation and is rethrown here (it never
// crosses the C library).
template <class F>
minke_generate_result generate(Session &session, Sampler &sampler,
                               const std::vector<uint32_t> &prompt, F &&on_piece,
                               const minke_generate_params &params = default_generate_params()) {
    struct Ctx {
        F *f;
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
    minke_generate_result result;
    check(minke_generate_default_result(&result, sizeof result));
    minke_status st = minke_generate(session.get(), sampler.get(), prompt.data(), prompt.size(),
                                     &params, trampoline, &ctx, &result);
    if (ctx.error) std::rethrow_exception(ctx.error);
    check(st);
    return result;
}

}  // namespace minke

#endif  // MINKE_HPP
