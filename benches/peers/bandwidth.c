/* Plain memory-read bandwidth: THREADS threads each sum their share of a
 * 1 GiB buffer (far larger than any cache), REPS times; prints one JSON
 * object with the best and median GB/s. The physical limit a decoder that
 * streams its weights once per token can reach.
 *
 * The buffer is in 2 MiB pages where Linux allows (transparent huge pages
 * by madvise): with 4 KiB pages the loop measures TLB misses as well, and
 * model files in the page cache can sit in 2 MiB folios (see core's
 * mmap.rs), so a 4 KiB figure would not be the limit.
 *
 *   bandwidth THREADS REPS */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif
#include <time.h>

#define BYTES (1ull << 30)

static uint64_t *buf;
static int nthreads;
static volatile uint64_t sink;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *reader(void *arg) {
    size_t i = (size_t)(uintptr_t)arg, n = BYTES / 8, per = n / nthreads;
    const uint64_t *p = buf + i * per;
    uint64_t a[8] = {0};
    for (size_t j = 0; j + 8 <= per; j += 8)
        for (int k = 0; k < 8; k++) a[k] += p[j + k];
    sink += a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    nthreads = argc > 1 ? atoi(argv[1]) : 1;
    int reps = argc > 2 ? atoi(argv[2]) : 9;
    if (nthreads < 1 || nthreads > 64 || reps < 1 || reps > 100) return 2;
    buf = aligned_alloc(2u << 20, BYTES);
    if (!buf) return 1;
#ifdef MADV_HUGEPAGE
    madvise(buf, BYTES, MADV_HUGEPAGE); /* a hint; 4 KiB pages otherwise */
#endif
    memset(buf, 1, BYTES);
    double gbs[100];
    pthread_t th[64];
    for (int r = 0; r < reps; r++) {
        double t = now_s();
        for (int i = 1; i < nthreads; i++) pthread_create(&th[i], NULL, reader, (void *)(uintptr_t)i);
        reader((void *)0);
        for (int i = 1; i < nthreads; i++) pthread_join(th[i], NULL);
        gbs[r] = BYTES / 1e9 / (now_s() - t);
    }
    qsort(gbs, reps, sizeof *gbs, cmp);
    printf("{\"threads\":%d,\"best_gb_s\":%.2f,\"median_gb_s\":%.2f}\n", nthreads, gbs[reps - 1],
           gbs[reps / 2]);
    return 0;
}
