/*
 * test_shift.c: a conversation that outgrows its context, through the C
 * API on the real model, with every KV cache type: minke_session_shift by
 * hand (keep a prefix, drop a span, decode on) and its misuse, which
 * leaves the session as it was; minke_generate's context shift running
 * far past a small context, a prompt longer than the context, and
 * callers compiled against the structs before the context-shift fields.
 *
 *   test_shift MODEL
 */
#include "check.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define N_IDS 160

static const char *TEXT =
    "The minke whale is the smallest of the great whales. It lives in every ocean, "
    "feeds on krill and small fish, and surfaces briefly, often without a visible "
    "blow. Sailors once called it the little piked whale. A calf is born after ten "
    "months, nursed for half a year, and grows to eight or nine metres. Minke whales "
    "travel alone or in small groups, and some of them follow ships for a while.";

static minke_session *session(minke_model *model, uint32_t n_ctx, uint32_t kv)
{
    minke_session_params sp;
    minke_session *s = NULL;
    minke_session_default_params(&sp, sizeof sp);
    sp.n_ctx = n_ctx;
    sp.kv_type = kv;
    sp.n_threads = 2;
    CHECK_ST(minke_session_new(model, &sp, &s), MINKE_OK);
    return s;
}

static void check_by_hand(minke_model *model, const uint32_t *ids, uint32_t kv)
{
    minke_session *s = session(model, 64, kv), *fresh = session(model, 64, kv);
    const float *l1 = NULL, *l2 = NULL;
    size_t nv = minke_model_n_vocab(model);
    float *before;

    if (!s || !fresh)
        goto done;
    CHECK_ST(minke_session_prefill(s, ids, 50, &l1), MINKE_OK);
    before = malloc(nv * sizeof *before);
    if (before) {
        memcpy(before, l1, nv * sizeof *before);
        /* Spans past the position are refused by name; nothing changes. */
        CHECK_ST(minke_session_shift(s, 50, 1), MINKE_ERR_INVALID_ARG);
        CHECK(strstr(minke_last_error(), "cannot drop") != NULL);
        CHECK_ST(minke_session_shift(s, 0, 51), MINKE_ERR_INVALID_ARG);
        CHECK_ST(minke_session_shift(s, UINT32_MAX, UINT32_MAX), MINKE_ERR_INVALID_ARG);
        CHECK_ST(minke_session_shift(NULL, 0, 1), MINKE_ERR_NULL_ARG);
        CHECK_ST(minke_session_shift(s, 7, 0), MINKE_OK);
        CHECK(minke_session_pos(s) == 50);
        CHECK_ST(minke_session_logits(s, &l2, &nv), MINKE_OK);
        CHECK(memcmp(before, l2, nv * sizeof *before) == 0);
        /* The cache too: the next token's logits are those of a session
         * that made the same calls without the refused shifts. */
        CHECK_ST(minke_session_decode(s, ids[50], &l1), MINKE_OK);
        memcpy(before, l1, nv * sizeof *before);
        CHECK_ST(minke_session_prefill(fresh, ids, 50, NULL), MINKE_OK);
        CHECK_ST(minke_session_decode(fresh, ids[50], &l2), MINKE_OK);
        CHECK(memcmp(before, l2, nv * sizeof *before) == 0);
        free(before);
    }
    /* Keep 8, drop 20: the logits of the last token stay; decoding goes on
     * from position 31, and the context has room again. */
    CHECK_ST(minke_session_shift(s, 8, 20), MINKE_OK);
    CHECK(minke_session_pos(s) == 31);
    CHECK_ST(minke_session_logits(s, &l1, &nv), MINKE_OK);
    CHECK(l1 != NULL && nv == minke_model_n_vocab(model));
    CHECK_ST(minke_session_decode(s, ids[51], NULL), MINKE_OK);
    CHECK_ST(minke_session_prefill(s, ids + 52, 32, NULL), MINKE_OK);
    CHECK(minke_session_pos(s) == 64);
    CHECK_ST(minke_session_decode(s, ids[84], NULL), MINKE_ERR_CONTEXT_FULL);
    CHECK_ST(minke_session_shift(s, 0, 64), MINKE_OK);
    CHECK(minke_session_pos(s) == 0);
done:
    minke_session_free(fresh);
    minke_session_free(s);
}

static void check_generate(minke_model *model, const uint32_t *ids, uint32_t kv)
{
    minke_session *s = session(model, 48, kv);
    minke_sampler *smp = NULL;
    minke_generate_params gp;
    minke_generate_result res;

    CHECK_ST(minke_sampler_new(model, NULL, &smp), MINKE_OK);
    if (!s || !smp)
        goto done;
    CHECK_ST(minke_generate_default_params(&gp, sizeof gp), MINKE_OK);
    CHECK(!gp.context_shift && gp.n_keep == 0);
    gp.max_tokens = 200;
    gp.stop_at_eos = false;
    gp.context_shift = true;
    gp.n_keep = 6;
    CHECK_ST(minke_generate_default_result(&res, sizeof res), MINKE_OK);
    /* 200 tokens out of a context of 48. */
    CHECK_ST(minke_generate(s, smp, ids, 20, &gp, NULL, NULL, &res), MINKE_OK);
    CHECK(res.stop_reason == MINKE_STOP_MAX_TOKENS && res.n_tokens == 200);
    CHECK(res.n_discarded > 0);
    CHECK(minke_session_pos(s) == 20 + 199 - res.n_discarded);
    CHECK(minke_session_pos(s) <= 48);
    /* A prompt three times the context: read through, its start dropped. */
    CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
    CHECK_ST(minke_sampler_reset(smp), MINKE_OK);
    gp.max_tokens = 4;
    CHECK_ST(minke_generate(s, smp, ids, 144, &gp, NULL, NULL, &res), MINKE_OK);
    CHECK(res.n_prompt_tokens == 144 && res.n_tokens == 4 && res.n_discarded >= 144 - 48);
    /* Without the shift that prompt does not fit. */
    gp.context_shift = false;
    CHECK_ST(minke_session_rewind(s, 0), MINKE_OK);
    CHECK_ST(minke_generate(s, smp, ids, 144, &gp, NULL, NULL, &res), MINKE_ERR_CONTEXT_FULL);
    /* A kept prefix that leaves no room is refused before anything runs. */
    gp.context_shift = true;
    gp.n_keep = 47;
    CHECK_ST(minke_generate(s, smp, ids, 4, &gp, NULL, NULL, &res), MINKE_ERR_INVALID_ARG);
    CHECK(strstr(minke_last_error(), "leaves no room") != NULL);
    CHECK(minke_session_pos(s) == 0);
    /* A caller built before the context-shift fields: its params end
     * before n_keep (whatever lies beyond is not read: no shift), and its
     * result before n_discarded (not written). */
    gp.n_keep = 6;
    gp.size = (uint32_t)offsetof(minke_generate_params, n_keep);
    gp.max_tokens = 200;
    res.size = (uint32_t)offsetof(minke_generate_result, n_discarded);
    res.n_discarded = 12345;
    CHECK_ST(minke_generate(s, smp, ids, 20, &gp, NULL, NULL, &res), MINKE_OK);
    CHECK(res.stop_reason == MINKE_STOP_CONTEXT_FULL && res.n_tokens == 48 - 20 + 1);
    CHECK(res.n_discarded == 12345);
done:
    minke_sampler_free(smp);
    minke_session_free(s);
}

int main(int argc, char **argv)
{
    minke_model *model = NULL;
    const minke_tokenizer *tok = NULL;
    uint32_t ids[N_IDS];
    size_t n = 0;
    const uint32_t kinds[3] = {MINKE_KV_F16, MINKE_KV_F32, MINKE_KV_Q8_0};

    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL\n", argv[0]);
        return 2;
    }
    CHECK_ST(minke_model_open(argv[1], NULL, &model), MINKE_OK);
    if (!model)
        return check_summary("test_shift");
    CHECK_ST(minke_model_tokenizer(model, &tok), MINKE_OK);
    if (tok) {
        /* The text, then the text again, up to N_IDS tokens. */
        size_t m = 0;
        CHECK_ST(minke_tokenizer_encode(tok, TEXT, true, ids, N_IDS, &m), MINKE_OK);
        for (n = m; m > 0 && n < N_IDS; n++)
            ids[n] = ids[n % m];
    }
    if (n == N_IDS) {
        for (int k = 0; k < 3; k++) {
            check_by_hand(model, ids, kinds[k]);
            check_generate(model, ids, kinds[k]);
        }
    }
    CHECK(n == N_IDS);
    minke_model_free(model);
    return check_summary("test_shift");
}
