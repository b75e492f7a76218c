/*
 * test_speculative.c: speculative decoding through minke_generate()
 * (minke_generate_params.n_draft and .draft) on the real model. For
 * prompts whose answer repeats their input, greedy text with prompt
 * lookup (n_draft 1, 4, 8) and with a draft model (the same file opened a
 * second time) is token for token the text without; misuse is refused;
 * callers compiled against the structs before the new fields get no
 * speculation and no writes past their structs. Prints each run's
 * acceptance rate and speed.
 *
 *   test_speculative MODEL [OTHER_MODEL]
 *
 * OTHER_MODEL (default tests/fixtures/llama_gqa, from the repository
 * root) has another vocabulary: refused as a draft model.
 */
#include "check.h"

#include <stddef.h>
#include <string.h>

#define N_CTX 640
#define MAX_TOKENS 120

/* Input-grounded prompts: the answer copies much of the question. */
static const char *const PROMPTS[] = {
    "Repeat the following sentence exactly, word for word: The old lighthouse keeper "
    "climbed the spiral stairs every evening at dusk to light the great lamp that "
    "guided the fishing boats safely past the rocks.",
    "Add a comment above each line of this C function and give back the whole "
    "function:\n\nint sum(const int *v, int n)\n{\n    int total = 0;\n    for (int i = "
    "0; i < n; i++)\n        total += v[i];\n    return total;\n}\n",
    "Rewrite this list in alphabetical order, one item a line: pear, apple, "
    "orange, banana, cherry, grape, lemon, mango, kiwi, plum.",
};
#define N_PROMPTS (sizeof PROMPTS / sizeof PROMPTS[0])

/* One generation's output: ids, text and the result. */
struct run {
    uint32_t ids[MAX_TOKENS];
    char text[4096];
    size_t len;
    minke_generate_result r;
    minke_status st;
};

static bool on_piece(const char *piece, size_t len, void *user_data)
{
    struct run *o = user_data;
    if (o->len + len < sizeof o->text) {
        memcpy(o->text + o->len, piece, len);
        o->len += len;
        o->text[o->len] = '\0';
    }
    return true;
}

static minke_session *new_session(const minke_model *m)
{
    minke_session_params sp;
    minke_session *s = NULL;
    minke_session_default_params(&sp, sizeof sp);
    sp.n_ctx = N_CTX;
    sp.n_threads = 2;
    CHECK_ST(minke_session_new(m, &sp, &s), MINKE_OK);
    return s;
}

static minke_sampler *new_sampler(const minke_model *m, float temperature)
{
    minke_sampler_params p;
    minke_sampler *sm = NULL;
    minke_sampler_default_params(&p, sizeof p);
    p.temperature = temperature;
    p.seed = 7;
    CHECK_ST(minke_sampler_new(m, &p, &sm), MINKE_OK);
    return sm;
}

/* Generates from `ids` in `s` from position 0 with a fresh sampler of
 * `temperature`, guessing `n_draft` tokens from `draft` (NULL: prompt
 * lookup); the output to `o`. */
static void generate(const minke_model *m, minke_session *s, const uint32_t *ids, size_t n,
                     uint32_t n_draft, minke_session *draft, float temperature, struct run *o)
{
    minke_generate_params gp;
    minke_sampler *sm = new_sampler(m, temperature);
    memset(o, 0, sizeof *o);
    minke_generate_default_params(&gp, sizeof gp);
    minke_generate_default_result(&o->r, sizeof o->r);
    gp.max_tokens = MAX_TOKENS;
    gp.tokens = o->ids;
    gp.tokens_capacity = MAX_TOKENS;
    gp.n_draft = n_draft;
    gp.draft = draft;
    CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
    o->st = minke_generate(s, sm, ids, n, &gp, on_piece, o, &o->r);
    CHECK_ST(o->st, MINKE_OK);
    minke_sampler_free(sm);
}

static double tok_s(const minke_generate_result *r)
{
    return r->decode_ms > 0 ? (r->n_tokens > 1 ? r->n_tokens - 1 : 0) / (r->decode_ms / 1e3) : 0;
}

static void report(const char *label, const struct run *o, const struct run *plain)
{
    const minke_generate_result *r = &o->r;
    printf("  %-16s %3u tokens  %6.1f tok/s (x%.2f)  drafted %3u accepted %3u (%5.1f%%)\n",
           label, r->n_tokens, tok_s(r), tok_s(&plain->r) > 0 ? tok_s(r) / tok_s(&plain->r) : 0,
           r->n_drafted, r->n_accepted,
           r->n_drafted ? 100.0 * r->n_accepted / r->n_drafted : 0.0);
}

/* `o` is `plain`, token for token, and the session holds what it would. */
static void check_same(const struct run *o, const struct run *plain, minke_session *s,
                       const uint32_t *held, size_t n_held, const char *what)
{
    uint32_t now[N_CTX];
    size_t n_now = 0;
    CHECK_MSG(o->r.n_tokens == plain->r.n_tokens, what);
    CHECK_MSG(o->r.stop_reason == plain->r.stop_reason, what);
    CHECK_MSG(memcmp(o->ids, plain->ids, sizeof o->ids) == 0, what);
    CHECK_MSG(o->len == plain->len && strcmp(o->text, plain->text) == 0, what);
    CHECK_MSG(o->r.n_accepted <= o->r.n_drafted, what);
    CHECK_ST(minke_session_tokens(s, now, N_CTX, &n_now), MINKE_OK);
    CHECK_MSG(n_now == n_held && memcmp(now, held, n_held * sizeof *held) == 0, what);
}

static size_t encode_chat(const minke_model *m, const char *text, uint32_t *ids, size_t cap)
{
    const minke_tokenizer *tok = NULL;
    minke_chat_message msg;
    size_t n = 0;
    msg.role = "user";
    msg.content = text;
    CHECK_ST(minke_model_tokenizer(m, &tok), MINKE_OK);
    CHECK_ST(minke_tokenizer_encode_chat(tok, &msg, 1, true, ids, cap, &n), MINKE_OK);
    return n;
}

/* Greedy: plain decoding, prompt lookup at 1, 4 and 8, a draft model. */
static void check_greedy(const minke_model *m, const minke_model *m2)
{
    static const uint32_t LOOKUP[] = {1, 4, 8};
    static struct run plain, o;
    static uint32_t held[N_CTX];
    uint32_t ids[256];
    minke_session *s = new_session(m), *d = new_session(m2);
    size_t i, k, n_held = 0;
    uint32_t drafted = 0, accepted = 0;

    for (i = 0; i < N_PROMPTS; i++) {
        size_t n = encode_chat(m, PROMPTS[i], ids, 256);
        char what[64], label[32];
        printf("prompt %zu (%zu tokens):\n", i, n);
        generate(m, s, ids, n, 0, NULL, 0.0f, &plain);
        CHECK(plain.r.n_tokens > 8 && plain.r.n_drafted == 0 && plain.r.n_accepted == 0);
        CHECK_ST(minke_session_tokens(s, held, N_CTX, &n_held), MINKE_OK);
        report("plain", &plain, &plain);
        for (k = 0; k < sizeof LOOKUP / sizeof LOOKUP[0]; k++) {
            snprintf(label, sizeof label, "lookup %u", LOOKUP[k]);
            snprintf(what, sizeof what, "prompt %zu, %s", i, label);
            generate(m, s, ids, n, LOOKUP[k], NULL, 0.0f, &o);
            check_same(&o, &plain, s, held, n_held, what);
            report(label, &o, &plain);
            drafted += o.r.n_drafted;
            accepted += o.r.n_accepted;
        }
        /* The same model drafting: its greedy guesses are the model's own
         * choices (a batch's logits are the same bits as one token's), so
         * every guess it checks is accepted (guesses past the end of
         * generation are not counted). Twice: the second reuses what the
         * draft session holds. */
        snprintf(what, sizeof what, "prompt %zu, draft model 4", i);
        for (k = 0; k < 2; k++) {
            generate(m, s, ids, n, 4, d, 0.0f, &o);
            check_same(&o, &plain, s, held, n_held, what);
            CHECK_MSG(o.r.n_drafted > 0 && o.r.n_accepted <= o.r.n_drafted, what);
            CHECK_MSG(o.r.n_accepted == o.r.n_drafted, what);
            report(k == 0 ? "draft model 4" : "  again", &o, &plain);
        }
        printf("  text: %.*s%s\n", 160, plain.text, plain.len > 160 ? "..." : "");
    }
    /* Prompts that repeat their input give prompt lookup something. */
    CHECK(drafted > 0 && accepted > 0);
    printf("prompt lookup over all prompts: %u of %u guesses accepted (%.1f%%)\n", accepted,
           drafted, drafted ? 100.0 * accepted / drafted : 0.0);
    minke_session_free(d);
    minke_session_free(s);
}

/* At a temperature the text is drawn from the same distribution, not the
 * same draw: each way generates, and counts its guesses. */
static void check_sampled(const minke_model *m, const minke_model *m2)
{
    static struct run o;
    uint32_t ids[256];
    minke_session *s = new_session(m), *d = new_session(m2);
    size_t n = encode_chat(m, PROMPTS[0], ids, 256);
    generate(m, s, ids, n, 6, NULL, 0.8f, &o);
    CHECK(o.r.n_tokens > 0 && o.r.n_accepted <= o.r.n_drafted);
    report("lookup 6, t=0.8", &o, &o);
    generate(m, s, ids, n, 6, d, 0.8f, &o);
    CHECK(o.r.n_tokens > 0 && o.r.n_drafted > 0 && o.r.n_accepted <= o.r.n_drafted);
    report("draft 6, t=0.8", &o, &o);
    minke_session_free(d);
    minke_session_free(s);
}

/* Refused: a draft that is the session, n_draft past the bound, a draft
 * of another vocabulary, a draft without n_draft. Nothing runs. */
static void check_misuse(const minke_model *m, const minke_model *other)
{
    uint32_t ids[256];
    minke_session *s = new_session(m), *o = NULL;
    minke_sampler *sm = new_sampler(m, 0.0f);
    minke_generate_params gp;
    minke_session_params sp;
    size_t n = encode_chat(m, PROMPTS[0], ids, 256);

    minke_session_default_params(&sp, sizeof sp);
    sp.n_ctx = 64;
    CHECK_ST(minke_session_new(other, &sp, &o), MINKE_OK);
    CHECK(MINKE_MAX_DRAFT == 32);
    minke_generate_default_params(&gp, sizeof gp);
    CHECK(gp.n_draft == 0 && gp.draft == NULL);
    gp.max_tokens = 4;
    gp.n_draft = 4;
    gp.draft = s;
    CHECK_ST(minke_generate(s, sm, ids, n, &gp, NULL, NULL, NULL), MINKE_ERR_INVALID_ARG);
    CHECK(strstr(minke_last_error(), "params.draft is the generating session") != NULL);
    gp.draft = o;
    CHECK_ST(minke_generate(s, sm, ids, n, &gp, NULL, NULL, NULL), MINKE_ERR_INVALID_ARG);
    CHECK(strstr(minke_last_error(), "vocabulary") != NULL);
    gp.n_draft = 0;
    CHECK_ST(minke_generate(s, sm, ids, n, &gp, NULL, NULL, NULL), MINKE_ERR_INVALID_ARG);
    CHECK(strstr(minke_last_error(), "n_draft is 0") != NULL);
    gp.draft = NULL;
    gp.n_draft = MINKE_MAX_DRAFT + 1;
    CHECK_ST(minke_generate(s, sm, ids, n, &gp, NULL, NULL, NULL), MINKE_ERR_INVALID_ARG);
    CHECK(strstr(minke_last_error(), "n_draft is 33") != NULL);
    CHECK(minke_session_pos(s) == 0 && minke_session_pos(o) == 0);
    /* The bound itself runs. */
    gp.n_draft = MINKE_MAX_DRAFT;
    CHECK_ST(minke_generate(s, sm, ids, n, &gp, NULL, NULL, NULL), MINKE_OK);
    minke_sampler_free(sm);
    minke_session_free(o);
    minke_session_free(s);
}

/* For the sizes of the structs before the new fields: each ended at the
 * first new field, rounded up to its widest member. */
struct align_ptr {
    char c;
    void *p;
};
struct align_double {
    char c;
    double d;
};
#define ROUND_UP(n, a) (((n) + (a) - 1) / (a) * (a))

/* A caller compiled before n_draft and draft (64 bytes on 64-bit
 * targets: the struct ended with context_shift and padding) gets no
 * speculation, whatever its padding holds; one compiled before n_drafted
 * (40 bytes) has no byte of its result written past n_discarded. */
static void check_old_sizes(const minke_model *m)
{
    uint32_t ids[256], gen[16], want[16];
    minke_session *s = new_session(m);
    minke_sampler *sm = new_sampler(m, 0.0f);
    minke_generate_params gp;
    /* The old result, with the bytes past it: they must stay 0xAB. */
    union {
        minke_generate_result r;
        unsigned char bytes[sizeof(minke_generate_result) + 16];
    } res;
    size_t n = encode_chat(m, PROMPTS[0], ids, 256), i;
    const size_t old_p = ROUND_UP(offsetof(minke_generate_params, n_draft),
                                  offsetof(struct align_ptr, p));
    const size_t old_r = ROUND_UP(offsetof(minke_generate_result, n_drafted),
                                  offsetof(struct align_double, d));
    bool untouched = true;

    minke_generate_default_params(&gp, sizeof gp);
    gp.max_tokens = 16;
    gp.tokens = want;
    gp.tokens_capacity = 16;
    CHECK_ST(minke_generate(s, sm, ids, n, &gp, NULL, NULL, NULL), MINKE_OK);

    /* Old params: what lies where n_draft and draft now are is garbage. */
    CHECK(sizeof(void *) != 8 || (old_p == 64 && old_r == 40));
    memset(&gp, 0xFF, sizeof gp);
    CHECK_ST(minke_generate_default_params(&gp, (uint32_t)old_p), MINKE_OK);
    CHECK(gp.size == old_p);
    gp.max_tokens = 16;
    gp.tokens = gen;
    gp.tokens_capacity = 16;
    CHECK(gp.n_draft == 0xFFFFFFFFu);
    /* Old result. */
    memset(&res, 0xAB, sizeof res);
    CHECK_ST(minke_generate_default_result(&res.r, (uint32_t)old_r), MINKE_OK);
    CHECK(res.r.size == old_r && res.r.n_discarded == 0);
    for (i = offsetof(minke_generate_result, n_drafted); i < sizeof res.bytes; i++)
        untouched = untouched && res.bytes[i] == 0xAB;
    CHECK(untouched);
    CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
    CHECK_ST(minke_sampler_reset(sm), MINKE_OK);
    CHECK_ST(minke_generate(s, sm, ids, n, &gp, NULL, NULL, &res.r), MINKE_OK);
    CHECK(res.r.n_tokens == 16 && memcmp(gen, want, sizeof gen) == 0);
    for (i = offsetof(minke_generate_result, n_drafted); i < sizeof res.bytes; i++)
        untouched = untouched && res.bytes[i] == 0xAB;
    CHECK(untouched);
    /* The current sizes: the counts come back. */
    minke_generate_default_params(&gp, sizeof gp);
    gp.max_tokens = 16;
    gp.n_draft = 4;
    minke_generate_default_result(&res.r, sizeof res.r);
    CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
    CHECK_ST(minke_generate(s, sm, ids, n, &gp, NULL, NULL, &res.r), MINKE_OK);
    CHECK(res.r.n_tokens == 16 && res.r.n_accepted <= res.r.n_drafted);
    minke_sampler_free(sm);
    minke_session_free(s);
}

int main(int argc, char **argv)
{
    minke_model *m = NULL, *m2 = NULL, *other = NULL;
    const char *other_path = argc > 2 ? argv[2] : "tests/fixtures/llama_gqa";
    if (argc < 2) {
        fprintf(stderr, "usage: test_speculative MODEL [OTHER_MODEL]\n");
        return 2;
    }
    CHECK_ST(minke_model_open(argv[1], NULL, &m), MINKE_OK);
    CHECK_ST(minke_model_open(argv[1], NULL, &m2), MINKE_OK);
    CHECK_ST(minke_model_open(other_path, NULL, &other), MINKE_OK);
    if (m && m2 && other) {
        check_greedy(m, m2);
        check_sampled(m, m2);
        check_misuse(m, other);
        check_old_sizes(m);
    }
    minke_model_free(other);
    minke_model_free(m2);
    minke_model_free(m);
    return check_summary("test_speculative");
}
