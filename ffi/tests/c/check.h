/*
 * check.h: the few macros the C tests share. CHECK counts a result;
 * CHECK_ST compares a minke_status and prints minke_last_error() when it
 * differs; check_summary prints "N passed, N failed" and gives the exit
 * code.
 */
#ifndef MINKE_TEST_CHECK_H
#define MINKE_TEST_CHECK_H

#include <minke.h>

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (cond) {                                                                    \
            check_passed++;                                                            \
        } else {                                                                       \
            check_failed++;                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
        }                                                                              \
    } while (0)

/* CHECK, naming what was checked (a file, say) and the last error. */
#define CHECK_MSG(cond, what)                                                          \
    do {                                                                               \
        if (cond) {                                                                    \
            check_passed++;                                                            \
        } else {                                                                       \
            check_failed++;                                                            \
            fprintf(stderr, "%s:%d: check failed: %s (%s; last error: %s)\n",          \
                    __FILE__, __LINE__, #cond, (what), minke_last_error());            \
        }                                                                              \
    } while (0)

#define CHECK_ST(call, want)                                                           \
    do {                                                                               \
        minke_status got_ = (call);                                                    \
        if (got_ == (minke_status)(want)) {                                            \
            check_passed++;                                                            \
        } else {                                                                       \
            check_failed++;                                                            \
            fprintf(stderr, "%s:%d: %s gave %s, expected %s (last error: %s)\n",       \
                    __FILE__, __LINE__, #call, minke_status_name(got_),                \
                    minke_status_name(want), minke_last_error());                      \
        }                                                                              \
    } while (0)

static int check_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}

#endif
