/*
 * generate.c: the smallest complete use of libminke. Loads a model,
 * tokenizes a prompt, runs it, then samples and decodes token by token,
 * streaming the text to stdout.
 *
 *   generate MODEL [PROMPT] [N_TOKENS]
 *
 * Sampling is greedy unless MINKE_TEMP is set (then MINKE_SEED seeds it).
 */
#include <minke.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what, minke_status st)
{
    fprintf(stderr, "generate: %s failed (%s): %s\n", what, minke_status_name(st),
            minke_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *path;
    const char *prompt = "The capital of France is";
    long n_predict = 32;
    minke_model *model = NULL;
    const minke_tokenizer *tok = NULL;
    minke_session *session = NULL;
    minke_sampler *sampler = NULL;
    minke_session_params sp;
    minke_sampler_params smp;
    uint32_t *ids = NULL;
    size_t n_ids = 0;
    const float *logits = NULL;
    char piece[256];
    minke_status st;
    long i;
    int rc = 1;

    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [PROMPT] [N_TOKENS]\n", argv[0]);
        return 2;
    }
    path = argv[1];
    if (argc > 2)
        prompt = argv[2];
    if (argc > 3)
        n_predict = strtol(argv[3], NULL, 10);

    st = minke_model_open(path, NULL, &model);
    if (st != MINKE_OK)
        return fail("minke_model_open", st);
    st = minke_model_tokenizer(model, &tok);
    if (st != MINKE_OK) {
        rc = fail("minke_model_tokenizer", st);
        goto out;
    }

    /* Tokenize: ask for the count first, then fill a buffer that size. */
    st = minke_tokenizer_encode(tok, prompt, true, NULL, 0, &n_ids);
    if (st != MINKE_ERR_BUFFER_TOO_SMALL && st != MINKE_OK) {
        rc = fail("minke_tokenizer_encode", st);
        goto out;
    }
    ids = malloc((n_ids ? n_ids : 1) * sizeof *ids);
    if (!ids)
        goto out;
    st = minke_tokenizer_encode(tok, prompt, true, ids, n_ids, &n_ids);
    if (st != MINKE_OK) {
        rc = fail("minke_tokenizer_encode", st);
        goto out;
    }

    minke_session_default_params(&sp, sizeof sp);
    sp.n_ctx = (uint32_t)(n_ids + (size_t)n_predict + 1);
    st = minke_session_new(model, &sp, &session);
    if (st != MINKE_OK) {
        rc = fail("minke_session_new", st);
        goto out;
    }
    minke_sampler_default_params(&smp, sizeof smp);
    if (getenv("MINKE_TEMP")) {
        smp.temperature = (float)atof(getenv("MINKE_TEMP"));
        smp.top_p = 0.95f;
    }
    if (getenv("MINKE_SEED"))
        smp.seed = strtoull(getenv("MINKE_SEED"), NULL, 10);
    st = minke_sampler_new(model, &smp, &sampler);
    if (st != MINKE_OK) {
        rc = fail("minke_sampler_new", st);
        goto out;
    }

    fputs(prompt, stdout);
    st = minke_session_prefill(session, ids, n_ids, &logits);
    if (st != MINKE_OK) {
        rc = fail("minke_session_prefill", st);
        goto out;
    }
    for (i = 0; i < n_predict; i++) {
        uint32_t next;
        size_t len;
        st = minke_sampler_sample(sampler, logits, minke_model_n_vocab(model), &next);
        if (st != MINKE_OK) {
            rc = fail("minke_sampler_sample", st);
            goto out;
        }
        if (minke_tokenizer_is_eog(tok, next))
            break;
        minke_sampler_accept(sampler, next);
        /* A piece may be part of a UTF-8 character: written as bytes, the
         * stream is still valid UTF-8 once the character is complete. */
        st = minke_tokenizer_token_to_piece(tok, next, piece, sizeof piece, &len);
        if (st != MINKE_OK) {
            rc = fail("minke_tokenizer_token_to_piece", st);
            goto out;
        }
        fwrite(piece, 1, len, stdout);
        fflush(stdout);
        if (i + 1 < n_predict) {
            st = minke_session_decode(session, next, &logits);
            if (st != MINKE_OK) {
                rc = fail("minke_session_decode", st);
                goto out;
            }
        }
    }
    putchar('\n');
    rc = 0;

out:
    free(ids);
    minke_sampler_free(sampler);
    minke_session_free(session);
    minke_model_free(model);
    return rc;
}
