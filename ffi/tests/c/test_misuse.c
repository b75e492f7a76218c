/*
 * test_misuse.c: the C API used wrongly. Every function given NULL, params
 * with a bad size, a model freed while its session lives and then opened
 * again, buffers too small, a path that does not exist or is not a model,
 * token ids out of range, strings that are not UTF-8 and chat templates
 * built to abort, overflow the stack or hang: each must give its own status
 * and a message, never a crash.
 *
 *   test_misuse MODEL
 */
#define _POSIX_C_SOURCE 200809L /* mkdir, rmdir */
#include "check.h"
#include <math.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NUL_ARG MINKE_ERR_NULL_ARG

static int contains(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

static void null_everywhere(const minke_model *m, const minke_tokenizer *t, minke_session *s,
                            minke_sampler *smp)
{
    minke_model *mo = NULL;
    minke_session *so = NULL;
    minke_sampler *sa = NULL;
    const minke_tokenizer *to = NULL;
    minke_tokenizer *own = NULL;
    minke_model_params mp;
    minke_session_params sp;
    minke_sampler_params smpp;
    minke_generate_params gp;
    uint32_t id = 0, ids[4] = {1, 2, 3, 4};
    size_t n = 0;
    uint64_t bytes = 0;
    const float *logits = NULL;
    const uint32_t *eog = NULL;
    char buf[16];
    minke_chat_message msg = {"user", NULL};

    CHECK_ST(minke_model_default_params(NULL, sizeof mp), NUL_ARG);
    CHECK_ST(minke_session_default_params(NULL, sizeof sp), NUL_ARG);
    CHECK_ST(minke_sampler_default_params(NULL, sizeof smpp), NUL_ARG);
    CHECK_ST(minke_generate_default_params(NULL, sizeof gp), NUL_ARG);

    CHECK_ST(minke_model_open(NULL, NULL, &mo), NUL_ARG);
    CHECK(mo == NULL);
    CHECK(contains(minke_last_error(), "minke_model_open: `path` is NULL"));
    CHECK_ST(minke_model_open("x", NULL, NULL), NUL_ARG);
    CHECK_ST(minke_model_tokenizer(NULL, &to), NUL_ARG);
    CHECK_ST(minke_model_tokenizer(m, NULL), NUL_ARG);
    CHECK_ST(minke_tokenizer_open(NULL, &own), NUL_ARG);
    CHECK(own == NULL);
    CHECK(contains(minke_last_error(), "minke_tokenizer_open: `path` is NULL"));
    CHECK_ST(minke_tokenizer_open("x", NULL), NUL_ARG);
    CHECK_ST(minke_tokenizer_open("/nonexistent/vocab.gguf", &own), MINKE_ERR_IO);
    CHECK(own == NULL);
    CHECK(minke_model_n_vocab(NULL) == 0);
    CHECK(minke_model_n_ctx_train(NULL) == 0);
    CHECK(minke_model_n_layers(NULL) == 0);
    CHECK(minke_model_n_embd(NULL) == 0);
    CHECK(minke_model_weight_bytes(NULL) == 0);
    CHECK(strcmp(minke_model_arch(NULL), "") == 0);

    CHECK_ST(minke_session_bytes(NULL, NULL, &bytes), NUL_ARG);
    CHECK_ST(minke_session_bytes(m, NULL, NULL), NUL_ARG);
    CHECK_ST(minke_session_max_ctx(NULL, NULL, 1u << 30, &id), NUL_ARG);
    CHECK_ST(minke_session_max_ctx(m, NULL, 1u << 30, NULL), NUL_ARG);
    CHECK_ST(minke_session_new(NULL, NULL, &so), NUL_ARG);
    CHECK(so == NULL);
    CHECK_ST(minke_session_new(m, NULL, NULL), NUL_ARG);
    CHECK_ST(minke_session_prefill(NULL, ids, 1, &logits), NUL_ARG);
    CHECK_ST(minke_session_prefill(s, NULL, 2, &logits), NUL_ARG);
    CHECK_ST(minke_session_decode(NULL, 1, &logits), NUL_ARG);
    CHECK_ST(minke_session_logits(NULL, &logits, &n), NUL_ARG);
    CHECK_ST(minke_session_logits(s, NULL, &n), NUL_ARG);
    CHECK_ST(minke_session_logits(s, &logits, NULL), NUL_ARG);
    CHECK_ST(minke_session_rewind(NULL, 0), NUL_ARG);
    CHECK(minke_session_pos(NULL) == 0);
    CHECK(minke_session_n_ctx(NULL) == 0);
    CHECK(minke_session_n_threads(NULL) == 0);

    CHECK_ST(minke_sampler_new(NULL, NULL, &sa), NUL_ARG);
    CHECK(sa == NULL);
    CHECK_ST(minke_sampler_new(m, NULL, NULL), NUL_ARG);
    CHECK_ST(minke_sampler_sample(NULL, logits, 1, &id), NUL_ARG);
    CHECK_ST(minke_sampler_sample(smp, NULL, 5, &id), NUL_ARG);
    CHECK_ST(minke_sampler_sample(smp, logits, minke_model_n_vocab(m), NULL), NUL_ARG);
    CHECK_ST(minke_sampler_accept(NULL, 1), NUL_ARG);
    CHECK_ST(minke_sampler_reset(NULL), NUL_ARG);

    CHECK_ST(minke_tokenizer_encode(NULL, "a", true, ids, 4, &n), NUL_ARG);
    CHECK_ST(minke_tokenizer_encode(t, NULL, true, ids, 4, &n), NUL_ARG);
    CHECK_ST(minke_tokenizer_encode(t, "a", true, ids, 4, NULL), NUL_ARG);
    CHECK_ST(minke_tokenizer_encode(t, "hello", true, NULL, 4, &n), NUL_ARG);
    CHECK_ST(minke_tokenizer_decode(NULL, ids, 1, buf, sizeof buf, &n), NUL_ARG);
    CHECK_ST(minke_tokenizer_decode(t, NULL, 1, buf, sizeof buf, &n), NUL_ARG);
    CHECK_ST(minke_tokenizer_decode(t, ids, 1, NULL, sizeof buf, &n), NUL_ARG);
    CHECK_ST(minke_tokenizer_decode(t, ids, 1, buf, sizeof buf, NULL), NUL_ARG);
    CHECK_ST(minke_tokenizer_token_to_piece(NULL, 1, buf, sizeof buf, &n), NUL_ARG);
    CHECK_ST(minke_tokenizer_token_to_piece(t, 1, buf, sizeof buf, NULL), NUL_ARG);
    CHECK_ST(minke_tokenizer_token_to_id(NULL, "a", &id), NUL_ARG);
    CHECK_ST(minke_tokenizer_token_to_id(t, NULL, &id), NUL_ARG);
    CHECK_ST(minke_tokenizer_token_to_id(t, "a", NULL), NUL_ARG);
    CHECK_ST(minke_tokenizer_eog_ids(NULL, &eog, &n), NUL_ARG);
    CHECK_ST(minke_tokenizer_eog_ids(t, NULL, &n), NUL_ARG);
    CHECK_ST(minke_tokenizer_eog_ids(t, &eog, NULL), NUL_ARG);
    CHECK_ST(minke_tokenizer_apply_chat_template(NULL, &msg, 1, true, buf, sizeof buf, &n),
             NUL_ARG);
    CHECK_ST(minke_tokenizer_apply_chat_template(t, NULL, 1, true, buf, sizeof buf, &n), NUL_ARG);
    CHECK_ST(minke_tokenizer_apply_chat_template(t, &msg, 1, true, buf, sizeof buf, &n), NUL_ARG);
    CHECK(contains(minke_last_error(), "messages[0].content"));
    CHECK(minke_tokenizer_n_vocab(NULL) == 0);
    CHECK(minke_tokenizer_bos(NULL) == -1);
    CHECK(minke_tokenizer_eos(NULL) == -1);
    CHECK(minke_tokenizer_pad(NULL) == -1);
    CHECK(!minke_tokenizer_is_eog(NULL, 0));
    CHECK(!minke_tokenizer_is_special(NULL, 0));
    CHECK(!minke_tokenizer_has_chat_template(NULL));

    CHECK_ST(minke_generate(NULL, smp, ids, 1, NULL, NULL, NULL, NULL), NUL_ARG);
    CHECK_ST(minke_generate(s, NULL, ids, 1, NULL, NULL, NULL, NULL), NUL_ARG);
    CHECK_ST(minke_generate(s, smp, NULL, 1, NULL, NULL, NULL, NULL), NUL_ARG);

    /* Freeing NULL does nothing. */
    minke_model_free(NULL);
    minke_session_free(NULL);
    minke_sampler_free(NULL);
    minke_tokenizer_free(NULL);
    CHECK(1);
}

static void bad_params(const minke_model *m, minke_session *s, minke_sampler *smp)
{
    minke_model_params mp;
    minke_session_params sp;
    minke_sampler_params smpp;
    minke_generate_params gp;
    minke_generate_result res;
    minke_model *mo = NULL;
    minke_session *so = NULL;
    minke_sampler *sa = NULL;
    uint32_t ids[2] = {1, 2}, n_ctx = 7;
    uint64_t bytes = 0;

    /* Sizes below the first version of each struct. */
    CHECK_ST(minke_model_default_params(&mp, 4), MINKE_ERR_INVALID_ARG);
    CHECK(contains(minke_last_error(), "minke_model_params.size is 4"));
    CHECK_ST(minke_session_default_params(&sp, 0), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_sampler_default_params(&smpp, 8), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_generate_default_params(&gp, 1), MINKE_ERR_INVALID_ARG);
    /* A struct never filled (size 0) is refused, not read. */
    memset(&sp, 0, sizeof sp);
    CHECK_ST(minke_session_new(m, &sp, &so), MINKE_ERR_INVALID_ARG);
    CHECK(so == NULL);

    minke_session_default_params(&sp, sizeof sp);
    sp.n_ctx = 0;
    CHECK_ST(minke_session_new(m, &sp, &so), MINKE_ERR_INVALID_ARG);
    sp.n_ctx = 64;
    sp.kv_type = 7;
    CHECK_ST(minke_session_bytes(m, &sp, &bytes), MINKE_ERR_INVALID_ARG);
    CHECK(contains(minke_last_error(), "kv_type 7"));
    CHECK_ST(minke_session_max_ctx(m, NULL, 1, &n_ctx), MINKE_ERR_INVALID_ARG);
    CHECK(n_ctx == 0);

    minke_sampler_default_params(&smpp, sizeof smpp);
    smpp.top_p = 0.0f;
    CHECK_ST(minke_sampler_new(m, &smpp, &sa), MINKE_ERR_INVALID_ARG);
    CHECK(sa == NULL && contains(minke_last_error(), "top_p"));
    minke_sampler_default_params(&smpp, sizeof smpp);
    smpp.temperature = -1.0f;
    CHECK_ST(minke_sampler_new(m, &smpp, &sa), MINKE_ERR_INVALID_ARG);

    minke_model_default_params(&mp, sizeof mp);
    mp.use_mmap = false;
    CHECK_ST(minke_model_open("whatever.gguf", &mp, &mo), MINKE_ERR_IO);
    CHECK(mo == NULL && contains(minke_last_error(), "whatever.gguf"));

    /* Logits of the wrong length; an empty prompt; a rewind forward. */
    {
        float few[3] = {0, 1, 2};
        uint32_t tok = 0;
        CHECK_ST(minke_sampler_sample(smp, few, 3, &tok), MINKE_ERR_INVALID_ARG);
    }
    CHECK_ST(minke_session_prefill(s, ids, 0, NULL), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_generate(s, smp, ids, 0, NULL, NULL, NULL, NULL), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_session_rewind(s, minke_session_pos(s) + 1), MINKE_ERR_INVALID_ARG);
    /* A result struct whose size was not set. */
    memset(&res, 0, sizeof res);
    CHECK_ST(minke_generate(s, smp, ids, 2, NULL, NULL, NULL, &res), MINKE_ERR_INVALID_ARG);
    CHECK(contains(minke_last_error(), "minke_generate_result.size is 0"));
    /* Its defaults function sets it, as for the params structs. */
    CHECK_ST(minke_generate_default_result(&res, 2), MINKE_ERR_INVALID_ARG);
    CHECK_ST(minke_generate_default_result(NULL, sizeof res), MINKE_ERR_NULL_ARG);
    memset(&res, 0xAB, sizeof res);
    CHECK_ST(minke_generate_default_result(&res, sizeof res), MINKE_OK);
    CHECK(res.size == sizeof res && res.n_tokens == 0 && res.n_prompt_tokens == 0);
    CHECK(res.stop_reason == MINKE_STOP_MAX_TOKENS && res.prefill_ms == 0.0);
    minke_generate_default_params(&gp, sizeof gp);
    gp.max_tokens = 1;
    CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
    CHECK_ST(minke_generate(s, smp, ids, 2, &gp, NULL, NULL, &res), MINKE_OK);
    CHECK(res.n_prompt_tokens == 2 && res.n_tokens == 1);
    CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
    CHECK_ST(minke_sampler_reset(smp), MINKE_OK);
}

static void bad_files(void)
{
    minke_model *mo = (minke_model *)&mo; /* must be reset to NULL */
    const char *tmp = "minke-test-not-a-model.bin";
    FILE *f;

    CHECK_ST(minke_model_open("/nonexistent/model.gguf", NULL, &mo), MINKE_ERR_IO);
    CHECK(mo == NULL);
    CHECK(contains(minke_last_error(), "/nonexistent/model.gguf"));

    f = fopen(tmp, "wb");
    if (f) {
        fputs("this is not a model file, only some text", f);
        fclose(f);
        CHECK_ST(minke_model_open(tmp, NULL, &mo), MINKE_ERR_FORMAT);
        CHECK(mo == NULL && contains(minke_last_error(), tmp));
        remove(tmp);
    }
    /* A GGUF header cut short. */
    f = fopen(tmp, "wb");
    if (f) {
        fwrite("GGUF\3\0\0\0", 1, 8, f);
        fclose(f);
        CHECK_ST(minke_model_open(tmp, NULL, &mo), MINKE_ERR_FORMAT);
        remove(tmp);
    }
    /* A path that is not UTF-8. */
    CHECK_ST(minke_model_open("model-\xff\xfe.gguf", NULL, &mo), MINKE_ERR_UTF8);
    CHECK(contains(minke_last_error(), "`path` is not valid UTF-8"));
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fputs(text, f) >= 0;
    if (f)
        ok = fclose(f) == 0 && ok;
    return ok;
}

/* Hostile chat templates, as a model file could carry them: a tiny Hugging
 * Face tokenizer folder written here, whose tokenizer_config.json holds the
 * template. Each would abort the process (an allocation of 10^11 bytes),
 * overflow its stack (20,000 nested minus signs) or hang it (10^10 loop
 * turns); each must fail at once with MINKE_ERR_TOKENIZER and a message
 * naming the limit it ran into. */
static void hostile_templates(void)
{
    static const char dir[] = "minke-test-hostile-template";
    static const char json_path[] = "minke-test-hostile-template/tokenizer.json";
    static const char config_path[] = "minke-test-hostile-template/tokenizer_config.json";
    static const char tokenizer_json[] =
        "{\"version\": \"1.0\", \"added_tokens\": [], \"normalizer\": null,"
        " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false,"
        " \"trim_offsets\": true, \"use_regex\": true}, \"post_processor\": null,"
        " \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true,"
        " \"trim_offsets\": true, \"use_regex\": true},"
        " \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null,"
        " \"continuing_subword_prefix\": null, \"end_of_word_suffix\": null,"
        " \"fuse_unk\": false, \"byte_fallback\": false,"
        " \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": []}}";
    enum { DEEP = 20000 };
    static const char head[] = "{\"chat_template\": \"";
    struct {
        const char *template_;
        const char *error; /* in minke_last_error() */
    } cases[] = {
        {"{{ messages[0].content }}", NULL},
        {"{{ 'x'|indent(99999999999) }}", "ran out of its fuel"},
        {"{{ '{:>99999999999}'.format(1) }}", "ran out of its fuel"},
        {"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
         "ran out of its fuel"},
        {NULL, "nests deeper than the limit"}, /* 20,000 minus signs */
    };
    minke_chat_message msg = {"user", "hello"};
    char *config = malloc(sizeof head + DEEP + 16);
    char buf[64];
    size_t i, n = 0;

    CHECK(config != NULL);
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(write_text(json_path, tokenizer_json));
    for (i = 0; config && i < sizeof cases / sizeof cases[0]; i++) {
        minke_tokenizer *tok = NULL;
        minke_status st;
        if (cases[i].template_) {
            strcpy(config, head);
            strcat(config, cases[i].template_);
            strcat(config, "\"}");
        } else {
            strcpy(config, head);
            strcat(config, "{{ ");
            memset(config + strlen(config), '-', DEEP);
            strcpy(config + strlen(head) + 3 + DEEP, "1 }}\"}");
        }
        CHECK(write_text(config_path, config));
        CHECK_ST(minke_tokenizer_open(dir, &tok), MINKE_OK);
        if (!tok)
            continue;
        CHECK(minke_tokenizer_has_chat_template(tok));
        st = minke_tokenizer_apply_chat_template(tok, &msg, 1, false, buf, sizeof buf, &n);
        if (cases[i].error) {
            CHECK_ST(st, MINKE_ERR_TOKENIZER);
            CHECK(contains(minke_last_error(), "chat template: "));
            CHECK(contains(minke_last_error(), cases[i].error));
        } else {
            CHECK_ST(st, MINKE_OK);
            CHECK(n == 5 && strcmp(buf, "hello") == 0);
        }
        minke_tokenizer_free(tok);
    }
    free(config);
    remove(config_path);
    remove(json_path);
    rmdir(dir);
}

static void bad_values(const minke_model *m, const minke_tokenizer *t, minke_session *s,
                       minke_sampler *smp)
{
    uint32_t vocab = minke_model_n_vocab(m);
    uint32_t ids[3] = {1, 0, 2};
    uint32_t small[2];
    size_t n = 0;
    char buf[4];
    minke_chat_message msg;
    minke_generate_params gp;
    const char *stops[1] = {"ok\xc3("};

    /* Out-of-range token ids, wherever an id goes in. */
    ids[1] = vocab;
    CHECK_ST(minke_session_prefill(s, ids, 3, NULL), MINKE_ERR_TOKEN_OUT_OF_RANGE);
    CHECK(contains(minke_last_error(), "out of range"));
    CHECK(minke_session_pos(s) == 0); /* nothing ran */
    CHECK_ST(minke_session_decode(s, 0xFFFFFFFFu, NULL), MINKE_ERR_TOKEN_OUT_OF_RANGE);
    CHECK_ST(minke_sampler_accept(smp, vocab), MINKE_ERR_TOKEN_OUT_OF_RANGE);
    CHECK_ST(minke_tokenizer_token_to_piece(t, vocab + 5, buf, sizeof buf, &n),
             MINKE_ERR_TOKEN_OUT_OF_RANGE);
    CHECK_ST(minke_tokenizer_decode(t, ids, 3, buf, sizeof buf, &n),
             MINKE_ERR_TOKEN_OUT_OF_RANGE);
    CHECK_ST(minke_generate(s, smp, ids, 3, NULL, NULL, NULL, NULL),
             MINKE_ERR_TOKEN_OUT_OF_RANGE);
    CHECK(!minke_tokenizer_is_special(t, vocab + 1));

    /* Buffers too small: the size needed comes back, the buffer is "". */
    ids[1] = 0;
    CHECK_ST(minke_tokenizer_encode(t, "a sentence of several words", false, small, 2, &n),
             MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK(n > 2);
    buf[0] = 'x';
    CHECK_ST(minke_tokenizer_decode(t, ids, 3, buf, 1, &n), MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK(n > 0 && buf[0] == '\0');
    msg.role = "user";
    msg.content = "hello";
    CHECK_ST(minke_tokenizer_apply_chat_template(t, &msg, 1, true, buf, sizeof buf, &n),
             MINKE_ERR_BUFFER_TOO_SMALL);
    CHECK(n > sizeof buf && buf[0] == '\0');
    CHECK(contains(minke_last_error(), "bytes are needed") || contains(minke_last_error(), "are needed"));

    /* Strings that are not UTF-8. */
    CHECK_ST(minke_tokenizer_encode(t, "caf\xe9", true, small, 2, &n), MINKE_ERR_UTF8);
    CHECK_ST(minke_tokenizer_token_to_id(t, "\xc0\xaf", small), MINKE_ERR_UTF8);
    msg.content = "\xed\xa0\x80"; /* a UTF-16 surrogate, encoded */
    CHECK_ST(minke_tokenizer_apply_chat_template(t, &msg, 1, true, buf, sizeof buf, &n),
             MINKE_ERR_UTF8);
    minke_generate_default_params(&gp, sizeof gp);
    gp.stop = stops;
    gp.n_stop = 1;
    CHECK_ST(minke_generate(s, smp, ids, 3, &gp, NULL, NULL, NULL), MINKE_ERR_UTF8);
    CHECK(contains(minke_last_error(), "params.stop[0]"));
    /* An empty stop string would stop after one token: refused. */
    {
        const char *empty[2] = {"ok", ""};
        uint32_t pos = minke_session_pos(s);
        gp.stop = empty;
        gp.n_stop = 2;
        CHECK_ST(minke_generate(s, smp, ids, 3, &gp, NULL, NULL, NULL), MINKE_ERR_INVALID_ARG);
        CHECK(contains(minke_last_error(), "stop string 1 is empty"));
        CHECK(minke_session_pos(s) == pos);
    }
    CHECK_ST(minke_tokenizer_token_to_id(t, "no such token, surely", small), MINKE_ERR_TOKENIZER);
    CHECK(strcmp(minke_status_name(999), "MINKE_ERR_UNKNOWN") == 0);
}

/* Sizes a caller may get wrong or mean as "no limit": named errors or
 * bounded work, never an abort (these asked for terabytes once). */
static void hostile_sizes(const minke_model *m, minke_session *s, minke_sampler *smp)
{
    minke_session_params sp;
    minke_generate_params gp;
    minke_generate_result res;
    minke_session *so = NULL;
    minke_candidates *c = NULL;
    uint32_t ids[3] = {1, 504, 3458};
    uint32_t vocab = minke_model_n_vocab(m), train = minke_model_n_ctx_train(m), tok = 0, i;
    float *bad = malloc(vocab * sizeof *bad);

    /* Past the trained context: clamped to it. */
    minke_session_default_params(&sp, sizeof sp);
    CHECK(sp.flags == 0);
    sp.n_ctx = 0xFFFFFFFFu;
    CHECK_ST(minke_session_new(m, &sp, &so), MINKE_OK);
    CHECK(minke_session_n_ctx(so) == train);
    minke_session_free(so);
    so = NULL;
    /* Allowed past training, but not past what a session can hold, nor
     * past this machine's memory (16 Mi tokens of SmolLM2 KV cache are
     * hundreds of GiB). */
    sp.flags = MINKE_SESSION_ALLOW_LONG_CONTEXT;
    sp.n_ctx = 0xFFFFFFFFu;
    CHECK_ST(minke_session_new(m, &sp, &so), MINKE_ERR_INVALID_ARG);
    sp.n_ctx = 1u << 30;
    CHECK_ST(minke_session_new(m, &sp, &so), MINKE_ERR_INVALID_ARG);
    sp.n_ctx = 1u << 24;
    CHECK_ST(minke_session_new(m, &sp, &so), MINKE_ERR_RESOURCES);
    CHECK(so == NULL && contains(minke_last_error(), "GiB"));
    sp.flags = 0x80;
    sp.n_ctx = 64;
    CHECK_ST(minke_session_new(m, &sp, &so), MINKE_ERR_INVALID_ARG);
    CHECK(contains(minke_last_error(), "flags"));
    /* A caller built against the struct before `flags` (24 bytes): its
     * bytes past 24 are not read. */
    sp.size = 24;
    sp.flags = MINKE_SESSION_ALLOW_LONG_CONTEXT;
    sp.n_ctx = train + 1;
    CHECK_ST(minke_session_new(m, &sp, &so), MINKE_OK);
    CHECK(minke_session_n_ctx(so) == train);
    minke_session_free(so);
    so = NULL;
    /* More threads than the pool runs (64): the session says what it
     * runs, not what was asked. */
    minke_session_default_params(&sp, sizeof sp);
    sp.n_ctx = 16;
    sp.n_threads = 100000;
    CHECK_ST(minke_session_new(m, &sp, &so), MINKE_OK);
    CHECK(minke_session_n_threads(so) == 64);
    minke_session_free(so);
    so = NULL;
    /* A batch larger than the context is clamped to it. */
    minke_session_default_params(&sp, sizeof sp);
    sp.n_ctx = 16;
    sp.n_batch = 0xFFFFFFFFu;
    CHECK_ST(minke_session_new(m, &sp, &so), MINKE_OK);
    /* max_tokens = UINT32_MAX: "until the end", here the context's. */
    minke_generate_default_params(&gp, sizeof gp);
    gp.max_tokens = 0xFFFFFFFFu;
    gp.stop_at_eos = false;
    memset(&res, 0, sizeof res);
    res.size = sizeof res;
    CHECK_ST(minke_generate(so, smp, ids, 3, &gp, NULL, NULL, &res), MINKE_OK);
    CHECK(res.stop_reason == MINKE_STOP_CONTEXT_FULL);
    CHECK(res.n_tokens == 16 - 3 + 1);
    minke_session_free(so);

    CHECK_ST(minke_best_of_n(s, NULL, NULL, ids, 3, 100000, NULL, NULL, &c), MINKE_ERR_INVALID_ARG);
    CHECK(c == NULL && contains(minke_last_error(), "best-of-N"));

    /* Logits with nothing finite to choose from. */
    if (bad) {
        for (i = 0; i < vocab; i++)
            bad[i] = NAN;
        CHECK_ST(minke_sampler_sample(smp, bad, vocab, &tok), MINKE_ERR_INVALID_ARG);
        CHECK(contains(minke_last_error(), "finite"));
        for (i = 0; i < vocab; i++)
            bad[i] = -INFINITY;
        CHECK_ST(minke_sampler_sample(smp, bad, vocab, &tok), MINKE_ERR_INVALID_ARG);
        free(bad);
    }
}

/* A model freed while its session lives: the session keeps working. Then
 * the model is opened again and gives the same greedy token. */
static void free_then_reopen(const char *path)
{
    minke_model *m = NULL;
    minke_session *s = NULL;
    minke_sampler *smp = NULL;
    const float *logits = NULL;
    uint32_t ids[3] = {1, 504, 3458};
    uint32_t a = 0, b = 1, i;

    for (i = 0; i < 2; i++) {
        CHECK_ST(minke_model_open(path, NULL, &m), MINKE_OK);
        CHECK_ST(minke_session_new(m, NULL, &s), MINKE_OK);
        CHECK_ST(minke_sampler_new(m, NULL, &smp), MINKE_OK);
        minke_model_free(m);
        m = NULL;
        CHECK_ST(minke_session_prefill(s, ids, 3, &logits), MINKE_OK);
        CHECK_ST(minke_sampler_sample(smp, logits, 49152, i == 0 ? &a : &b), MINKE_OK);
        CHECK_ST(minke_session_decode(s, i == 0 ? a : b, &logits), MINKE_OK);
        minke_sampler_free(smp);
        minke_session_free(s);
        smp = NULL;
        s = NULL;
    }
    CHECK(a == b);
}

int main(int argc, char **argv)
{
    minke_model *m = NULL;
    const minke_tokenizer *t = NULL;
    minke_session *s = NULL;
    minke_sampler *smp = NULL;

    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL\n", argv[0]);
        return 2;
    }
    CHECK_ST(minke_model_open(argv[1], NULL, &m), MINKE_OK);
    CHECK_ST(minke_model_tokenizer(m, &t), MINKE_OK);
    CHECK_ST(minke_session_new(m, NULL, &s), MINKE_OK);
    CHECK_ST(minke_sampler_new(m, NULL, &smp), MINKE_OK);
    if (!m || !t || !s || !smp)
        return check_summary("test_misuse");

    null_everywhere(m, t, s, smp);
    bad_params(m, s, smp);
    bad_files();
    hostile_templates();
    bad_values(m, t, s, smp);
    hostile_sizes(m, s, smp);
    free_then_reopen(argv[1]);

    minke_sampler_free(smp);
    minke_session_free(s);
    minke_model_free(m);
    return check_summary("test_misuse");
}
