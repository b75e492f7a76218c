/*
 * chat.c: a multi-turn conversation with the model's chat template. Each
 * line of standard input is a user turn; the reply streams to stdout.
 *
 *   chat MODEL [SYSTEM_PROMPT] < turns.txt
 *
 * Each turn renders the whole conversation with the template and encodes
 * it (minke_tokenizer_encode_chat: a user who types "<|im_end|>" gets
 * text, not the end of their turn), and reuses the part of the KV cache
 * that still matches (the previous prompt), so only the new text runs
 * through the model.
 */
#include <minke.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TURNS 64

typedef struct {
    char *buf;
    size_t len, cap;
} text;

static int fail(const char *what, minke_status st)
{
    fprintf(stderr, "chat: %s failed (%s): %s\n", what, minke_status_name(st), minke_last_error());
    return 1;
}

static char *dup_str(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* The callback: print the piece and keep it as the assistant's reply. */
static bool on_piece(const char *piece, size_t len, void *user_data)
{
    text *reply = user_data;
    if (reply->len + len + 1 > reply->cap) {
        size_t cap = (reply->len + len + 1) * 2;
        char *b = realloc(reply->buf, cap);
        if (!b)
            return false; /* stops generation */
        reply->buf = b;
        reply->cap = cap;
    }
    memcpy(reply->buf + reply->len, piece, len);
    reply->len += len;
    reply->buf[reply->len] = '\0';
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return true;
}

int main(int argc, char **argv)
{
    minke_model *model = NULL;
    const minke_tokenizer *tok = NULL;
    minke_session *session = NULL;
    minke_sampler *sampler = NULL;
    minke_session_params sp;
    minke_generate_params gp;
    minke_chat_message msgs[2 * MAX_TURNS + 1];
    char *owned[2 * MAX_TURNS + 1];
    size_t n_msgs = 0, n_owned = 0, i;
    uint32_t *cached = NULL, *ids = NULL; /* cached: ids in the KV cache */
    size_t n_cached = 0;
    char line[4096];
    minke_status st;
    int rc = 1;

    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [SYSTEM_PROMPT] < turns\n", argv[0]);
        return 2;
    }
    st = minke_model_open(argv[1], NULL, &model);
    if (st != MINKE_OK)
        return fail("minke_model_open", st);
    st = minke_model_tokenizer(model, &tok);
    if (st != MINKE_OK) {
        rc = fail("minke_model_tokenizer", st);
        goto out;
    }
    if (!minke_tokenizer_has_chat_template(tok)) {
        fprintf(stderr, "chat: the model has no chat template\n");
        goto out;
    }
    minke_session_default_params(&sp, sizeof sp);
    sp.n_ctx = 2048;
    if ((st = minke_session_new(model, &sp, &session)) != MINKE_OK ||
        (st = minke_sampler_new(model, NULL, &sampler)) != MINKE_OK) {
        rc = fail("creating the session and sampler", st);
        goto out;
    }
    minke_generate_default_params(&gp, sizeof gp);
    gp.max_tokens = 96;

    if (argc > 2) {
        msgs[n_msgs].role = "system";
        msgs[n_msgs].content = argv[2];
        n_msgs++;
    }

    while (n_msgs + 2 <= 2 * MAX_TURNS && fgets(line, sizeof line, stdin)) {
        size_t len = strcspn(line, "\r\n"), n_ids = 0, keep;
        text reply = {NULL, 0, 0};
        minke_generate_result res;
        char *user;

        if (len == 0)
            continue;
        user = dup_str(line, len);
        if (!user)
            goto out;
        owned[n_owned++] = user;
        msgs[n_msgs].role = "user";
        msgs[n_msgs].content = user;
        n_msgs++;
        printf("> %s\n", user);

        /* Render and encode the conversation: size query, then the real
         * call. Special-token text in the messages stays text. */
        st = minke_tokenizer_encode_chat(tok, msgs, n_msgs, true, NULL, 0, &n_ids);
        if (st != MINKE_ERR_BUFFER_TOO_SMALL || n_ids == 0) {
            rc = fail("minke_tokenizer_encode_chat", st);
            goto out;
        }
        free(ids);
        ids = malloc(n_ids * sizeof *ids);
        if (!ids)
            goto out;
        st = minke_tokenizer_encode_chat(tok, msgs, n_msgs, true, ids, n_ids, &n_ids);
        if (st != MINKE_OK) {
            rc = fail("minke_tokenizer_encode_chat", st);
            goto out;
        }

        /* Keep the cached prefix that still matches; re-run at least the
         * last token so that there are fresh logits to sample from. */
        for (keep = 0; keep < n_cached && keep < n_ids && cached[keep] == ids[keep]; keep++)
            ;
        if (keep >= n_ids)
            keep = n_ids - 1;
        if (keep > minke_session_pos(session))
            keep = minke_session_pos(session);
        if ((st = minke_session_rewind(session, (uint32_t)keep)) != MINKE_OK ||
            (st = minke_sampler_reset(sampler)) != MINKE_OK) {
            rc = fail("minke_session_rewind", st);
            goto out;
        }

        minke_generate_default_result(&res, sizeof res);
        st = minke_generate(session, sampler, ids + keep, n_ids - keep, &gp, on_piece, &reply,
                            &res);
        putchar('\n');
        if (st != MINKE_OK) {
            free(reply.buf);
            rc = fail("minke_generate", st);
            goto out;
        }
        fprintf(stderr, "[%zu prompt tokens, %zu reused; %u generated; stop %u]\n", n_ids - keep,
                keep, (unsigned)res.n_tokens, (unsigned)res.stop_reason);

        /* The cache now holds this prompt (and the reply, not reused). */
        free(cached);
        cached = ids;
        n_cached = n_ids;
        ids = NULL;

        owned[n_owned++] = reply.buf ? reply.buf : dup_str("", 0);
        msgs[n_msgs].role = "assistant";
        msgs[n_msgs].content = owned[n_owned - 1];
        n_msgs++;
        if (res.stop_reason == MINKE_STOP_CONTEXT_FULL) {
            fprintf(stderr, "chat: the context is full\n");
            break;
        }
    }
    rc = 0;

out:
    for (i = 0; i < n_owned; i++)
        free(owned[i]);
    free(ids);
    free(cached);
    minke_sampler_free(sampler);
    minke_session_free(session);
    minke_model_free(model);
    return rc;
}
