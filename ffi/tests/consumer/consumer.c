/*
 * consumer.c: a program built the way a user builds one against an
 * installed libminke (pkg-config or CMake's find_package). Prints the
 * library's version; with a model path, opens it and counts the tokens
 * of a sentence.
 */
#include <minke.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    char want[32];
    sprintf(want, "%d.%d.%d", MINKE_VERSION_MAJOR, MINKE_VERSION_MINOR, MINKE_VERSION_PATCH);
    if (strcmp(want, minke_version()) != 0 || minke_abi_version() != MINKE_ABI_VERSION) {
        fprintf(stderr, "consumer: header %s, library %s\n", want, minke_version());
        return 1;
    }
    if (argc > 1) {
        minke_model *m = NULL;
        const minke_tokenizer *t = NULL;
        size_t n = 0;
        if (minke_model_open(argv[1], NULL, &m) != MINKE_OK ||
            minke_model_tokenizer(m, &t) != MINKE_OK ||
            minke_tokenizer_encode(t, "Hello from a consumer.", false, NULL, 0, &n) !=
                MINKE_ERR_BUFFER_TOO_SMALL) {
            fprintf(stderr, "consumer: %s\n", minke_last_error());
            minke_model_free(m);
            return 1;
        }
        printf("consumer: %zu tokens; ", n);
        minke_model_free(m);
    }
    printf("consumer: libminke %s OK\n", minke_version());
    return 0;
}
