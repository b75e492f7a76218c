/*
 * test_names.c: every fallible entry point names itself. Each function
 * that returns a minke_status is called with NULL for its handle (and its
 * other pointers), must fail with MINKE_ERR_NULL_ARG (or, where NULL is
 * allowed, with another bad argument), and
 * minke_last_error() must begin with the function's own name and ": ".
 * scripts/test-c.sh checks that this file calls every such function of
 * include/minke.h, so a new entry point needs a line here.
 *
 *   test_names [MODEL]   (the model is not used)
 */
#include "check.h"

#include <string.h>

/* The call fails with `want`, and the message starts with `name: `. */
#define NAMED_ST(name, args, want)                                                     \
    do {                                                                               \
        size_t len_ = strlen(#name);                                                   \
        const char *msg_;                                                              \
        CHECK_ST(name args, want);                                                     \
        msg_ = minke_last_error();                                                     \
        CHECK_MSG(strncmp(msg_, #name, len_) == 0 && strncmp(msg_ + len_, ": ", 2) == 0, \
                  #name);                                                              \
    } while (0)

/* The call fails with MINKE_ERR_NULL_ARG, named. */
#define NAMED(name, args) NAMED_ST(name, args, MINKE_ERR_NULL_ARG)

int main(void)
{
    /* Version and status: infallible. Model. */
    NAMED(minke_model_default_params, (NULL, sizeof(minke_model_params)));
    NAMED(minke_model_open, (NULL, NULL, NULL));
    NAMED(minke_model_tokenizer, (NULL, NULL));
    NAMED(minke_model_desc, (NULL, NULL, 0, NULL));
    NAMED(minke_model_tensor_type, (NULL, 0, NULL, NULL, NULL));
    NAMED(minke_model_meta_key_at, (NULL, 0, NULL, 0, NULL));
    NAMED(minke_model_meta_value_at, (NULL, 0, NULL, 0, NULL));
    NAMED(minke_model_meta_value, (NULL, NULL, NULL, 0, NULL));

    /* Tokenizer. */
    NAMED(minke_tokenizer_open, (NULL, NULL));
    NAMED(minke_tokenizer_encode, (NULL, NULL, false, NULL, 0, NULL));
    NAMED(minke_tokenizer_encode_ex, (NULL, NULL, 0, NULL, 0, NULL));
    NAMED(minke_tokenizer_decode, (NULL, NULL, 0, NULL, 0, NULL));
    NAMED(minke_tokenizer_token_to_piece, (NULL, 0, NULL, 0, NULL));
    NAMED(minke_tokenizer_token_to_id, (NULL, NULL, NULL));
    NAMED(minke_tokenizer_id_to_token, (NULL, 0, NULL, 0, NULL));
    NAMED(minke_tokenizer_eog_ids, (NULL, NULL, NULL));

    /* Chat templates. */
    NAMED(minke_tokenizer_apply_chat_template, (NULL, NULL, 0, false, NULL, 0, NULL));
    NAMED(minke_tokenizer_encode_chat, (NULL, NULL, 0, false, NULL, 0, NULL));
    NAMED(minke_tokenizer_chat_template, (NULL, NULL, 0, NULL));
    NAMED(minke_tokenizer_apply_template, (NULL, NULL, NULL, 0, false, NULL, 0, NULL));
    NAMED(minke_tokenizer_encode_chat_template, (NULL, NULL, NULL, 0, false, NULL, 0, NULL));

    /* Session. */
    NAMED(minke_session_default_params, (NULL, sizeof(minke_session_params)));
    NAMED(minke_session_bytes, (NULL, NULL, NULL));
    NAMED(minke_session_max_ctx, (NULL, NULL, 0, NULL));
    NAMED(minke_session_new, (NULL, NULL, NULL));
    NAMED(minke_session_prefill, (NULL, NULL, 0, NULL));
    NAMED(minke_session_decode, (NULL, 0, NULL));
    NAMED(minke_session_logits, (NULL, NULL, NULL));
    NAMED(minke_session_rewind, (NULL, 0));
    NAMED(minke_session_set_n_threads, (NULL, 1));
    NAMED(minke_session_state_size, (NULL, NULL));
    NAMED(minke_session_state_get, (NULL, NULL, 0, NULL));
    NAMED(minke_session_state_set, (NULL, NULL, 0));
    NAMED(minke_session_state_save_file, (NULL, NULL));
    NAMED(minke_session_state_load_file, (NULL, NULL));
    NAMED(minke_session_tokens, (NULL, NULL, 0, NULL));
    NAMED(minke_session_logits_at, (NULL, 0, NULL, NULL));
    NAMED(minke_session_set_abort_callback, (NULL, NULL, NULL));
    NAMED(minke_session_shift, (NULL, 0, 0));

    /* Sampler. */
    NAMED(minke_sampler_default_params, (NULL, sizeof(minke_sampler_params)));
    NAMED(minke_sampler_new, (NULL, NULL, NULL));
    NAMED(minke_sampler_sample, (NULL, NULL, 0, NULL));
    NAMED(minke_sampler_accept, (NULL, 0));
    NAMED(minke_sampler_reset, (NULL));
    NAMED(minke_sampler_state_size, (NULL, NULL));
    NAMED(minke_sampler_state_get, (NULL, NULL, 0, NULL));
    NAMED(minke_sampler_state_set, (NULL, NULL, 0));

    /* Generate, score, best-of-N, LoRA. */
    NAMED(minke_generate_default_params, (NULL, sizeof(minke_generate_params)));
    NAMED(minke_generate_default_result, (NULL, sizeof(minke_generate_result)));
    NAMED(minke_generate, (NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL));
    NAMED(minke_session_score, (NULL, NULL, 0, NULL, 0, NULL, NULL));
    NAMED(minke_session_reward, (NULL, NULL, 0, NULL, 0, NULL));
    NAMED(minke_best_of_n, (NULL, NULL, NULL, NULL, 0, 1, NULL, NULL, NULL));
    NAMED(minke_candidates_text, (NULL, 0, NULL, 0, NULL));
    NAMED(minke_candidates_tokens, (NULL, 0, NULL, 0, NULL));
    NAMED(minke_lora_open, (NULL, NULL));
    NAMED(minke_session_set_adapter, (NULL, NULL, 1.0f));

    /* Logging: a NULL callback is allowed (it silences); a bad level is not. */
    NAMED_ST(minke_log_set, (NULL, 99, NULL), MINKE_ERR_INVALID_ARG);

    return check_summary("test_names");
}
