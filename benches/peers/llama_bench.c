/* llama.cpp's side of minke's peer comparison: loads a GGUF file through
 * the libllama that the llama-cpp-python package built, and times prompt
 * processing and generation the way `minke bench` does (fixed pseudo-random
 * prompt, greedy next token, median of the repetitions). C, not Python, so
 * that the time to first token carries no interpreter start-up.
 *
 *   llama-bench-minke MODEL.gguf PP TG REPS THREADS
 *
 * Prints one JSON object: pp_tok_s, tg_tok_s, load_ms. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "llama.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void quiet(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    if (n == 0) return 0.0;
    qsort(v, n, sizeof *v, cmp);
    return v[n / 2];
}

static int32_t argmax(const float *v, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s MODEL.gguf PP TG REPS THREADS\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    int pp = atoi(argv[2]), tg = atoi(argv[3]), reps = atoi(argv[4]), nt = atoi(argv[5]);
    if (pp < 1 || tg < 0 || reps < 1 || reps > 64 || nt < 1) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    double t0 = now_s();
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) {
        fprintf(stderr, "%s: llama.cpp could not load it\n", path);
        return 1;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = pp + tg + 1;
    cp.n_batch = pp;
    cp.n_ubatch = pp;
    cp.n_threads = nt;
    cp.n_threads_batch = nt;
    cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "%s: llama.cpp could not make a context\n", path);
        return 1;
    }
    double load_ms = (now_s() - t0) * 1e3;
    int32_t vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));

    /* The same prompt generator as `minke bench`. */
    llama_token *prompt = malloc(sizeof(llama_token) * pp);
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (int i = 0; i < pp; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        prompt[i] = (llama_token)(x % (uint64_t)vocab);
    }
    double pps[64], tgs[64];
    for (int r = 0; r < reps; r++) {
        llama_memory_clear(llama_get_memory(ctx), true);
        double t = now_s();
        if (llama_decode(ctx, llama_batch_get_one(prompt, pp)) != 0) {
            fprintf(stderr, "llama_decode failed on the prompt\n");
            return 1;
        }
        llama_token next = argmax(llama_get_logits_ith(ctx, -1), vocab);
        pps[r] = pp / (now_s() - t);
        t = now_s();
        for (int i = 0; i < tg; i++) {
            if (llama_decode(ctx, llama_batch_get_one(&next, 1)) != 0) {
                fprintf(stderr, "llama_decode failed at generated token %d\n", i);
                return 1;
            }
            next = argmax(llama_get_logits_ith(ctx, -1), vocab);
        }
        tgs[r] = tg > 0 ? tg / (now_s() - t) : 0.0;
    }
    printf("{\"pp_tok_s\":%.2f,\"tg_tok_s\":%.2f,\"load_ms\":%.1f}\n", median(pps, reps),
           median(tgs, reps), load_ms);
    free(prompt);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
