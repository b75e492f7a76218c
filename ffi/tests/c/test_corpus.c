/*
 * test_corpus.c: every file in the given directories (the fuzzers'
 * corpora: mutated and hostile model files) opened through the C API, both
 * mapped and read into memory. Each must give a named error, or open and
 * then run: a session, a short prefill and a decode, all freed. A crash
 * here, or a MINKE_ERR_INTERNAL (a caught panic), fails; under ASan/UBSan
 * so does any memory error.
 *
 *   test_corpus DIR...
 */
#include "check.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static unsigned long n_files, n_ran, n_refused;

/* Opens `path` one way and, if it opens, runs it a little. */
static void try_file(const char *path, bool use_mmap)
{
    minke_model_params mp;
    minke_session_params sp;
    minke_model *m = NULL;
    minke_session *s = NULL;
    const float *logits = NULL;
    uint32_t ids[2] = {0, 0};
    minke_status st;

    minke_model_default_params(&mp, sizeof mp);
    mp.use_mmap = use_mmap;
    mp.n_threads = 2;
    st = minke_model_open(path, &mp, &m);
    if (st != MINKE_OK) {
        CHECK_MSG(st != MINKE_ERR_INTERNAL, path);
        CHECK_MSG(m == NULL, path);
        n_refused++;
        return;
    }
    minke_session_default_params(&sp, sizeof sp);
    sp.n_ctx = 16;
    st = minke_session_new(m, &sp, &s);
    CHECK_MSG(st != MINKE_ERR_INTERNAL, path);
    if (st == MINKE_OK) {
        st = minke_session_prefill(s, ids, 2, &logits);
        CHECK_MSG(st != MINKE_ERR_INTERNAL, path);
        if (st == MINKE_OK) {
            st = minke_session_decode(s, 0, &logits);
            CHECK_MSG(st != MINKE_ERR_INTERNAL, path);
        }
    }
    minke_session_free(s);
    minke_model_free(m);
    n_ran++;
}

static void walk(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    struct stat st;

    CHECK_MSG(d != NULL, dir);
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        n_files++;
        try_file(path, true);
        try_file(path, false);
    }
    closedir(d);
}

int main(int argc, char **argv)
{
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR...\n", argv[0]);
        return 2;
    }
    for (i = 1; i < argc; i++)
        walk(argv[i]);
    /* An empty corpus would pass for nothing. */
    CHECK(n_files > 0);
    printf("%lu files: %lu opened and ran, %lu refused with a named error (two ways each)\n",
           n_files, n_ran, n_refused);
    return check_summary("test_corpus");
}
