// bench/tools/malloc_count.c — LD_PRELOAD allocation counter for bench/after_actions.sh.
//
// Counts every heap allocation call (malloc, calloc, realloc, posix_memalign, aligned_alloc,
// memalign, valloc, pvalloc; libstdc++'s operator new calls malloc, so it is counted too), the
// bytes asked for, and frees, in all threads, forwarding to glibc's __libc_* entry points (no
// dlsym bootstrap problem).
//
// With MALLOC_COUNT_FILE=path the counters live in that file, mapped shared, so they can be read
// while the process runs and after it exits: four little-endian u64 —
//   allocations, bytes requested, frees, reallocs (reallocs are also in allocations)
// e.g. `od -An -t u8 -N 32 path`. Without it, the totals are printed to stderr at exit.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void* __libc_valloc(size_t);
extern void* __libc_pvalloc(size_t);
extern void __libc_free(void*);

enum { C_ALLOCS, C_BYTES, C_FREES, C_REALLOCS, C_N };
static _Atomic unsigned long long early[C_N];
static _Atomic unsigned long long* _Atomic counters = early;

static inline void count(size_t bytes) {
    _Atomic unsigned long long* c = atomic_load_explicit(&counters, memory_order_relaxed);
    atomic_fetch_add_explicit(&c[C_ALLOCS], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c[C_BYTES], bytes, memory_order_relaxed);
}

void* malloc(size_t n) {
    count(n);
    return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) {
    count(n * m);
    return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) {
    count(n);
    _Atomic unsigned long long* c = atomic_load_explicit(&counters, memory_order_relaxed);
    atomic_fetch_add_explicit(&c[C_REALLOCS], 1, memory_order_relaxed);
    return __libc_realloc(p, n);
}
void free(void* p) {
    if (!p) return;
    _Atomic unsigned long long* c = atomic_load_explicit(&counters, memory_order_relaxed);
    atomic_fetch_add_explicit(&c[C_FREES], 1, memory_order_relaxed);
    __libc_free(p);
}
void* memalign(size_t a, size_t n) {
    count(n);
    return __libc_memalign(a, n);
}
void* aligned_alloc(size_t a, size_t n) {
    count(n);
    return __libc_memalign(a, n);
}
int posix_memalign(void** out, size_t a, size_t n) {
    if (a < sizeof(void*) || (a & (a - 1))) return EINVAL;
    count(n);
    void* p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void* valloc(size_t n) {
    count(n);
    return __libc_valloc(n);
}
void* pvalloc(size_t n) {
    count(n);
    return __libc_pvalloc(n);
}

__attribute__((constructor)) static void malloc_count_init(void) {
    const char* path = getenv("MALLOC_COUNT_FILE");
    if (!path || !*path) return;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    if (ftruncate(fd, 4096) != 0) {
        close(fd);
        return;
    }
    void* m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return;
    _Atomic unsigned long long* c = m;
    for (int i = 0; i < C_N; ++i) atomic_store(&c[i], atomic_load(&early[i]));
    atomic_store(&counters, c);  // never unmapped: late allocations at exit still land in it
}

__attribute__((destructor)) static void malloc_count_fini(void) {
    const char* path = getenv("MALLOC_COUNT_FILE");
    if (path && *path) return;
    _Atomic unsigned long long* c = atomic_load(&counters);
    char buf[160];
    int n = snprintf(buf, sizeof buf, "malloc_count: allocations=%llu bytes=%llu frees=%llu reallocs=%llu\n",
                     (unsigned long long)c[C_ALLOCS], (unsigned long long)c[C_BYTES],
                     (unsigned long long)c[C_FREES], (unsigned long long)c[C_REALLOCS]);
    if (n > 0) (void)!write(2, buf, (size_t)n);
}
