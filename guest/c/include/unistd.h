/*
 * wasi-libc's <unistd.h> plus the calls it leaves out because WASI itself lacks them and
 * wasi-mman supplies: brk, sbrk and getpagesize (src/brk.c, src/mman.c). As with glibc, they
 * are declared without any feature-test macro.
 */
#ifndef WASI_MMAN_UNISTD_H
#define WASI_MMAN_UNISTD_H

#include_next <unistd.h>

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int brk(void *addr);
void *sbrk(intptr_t increment);
int getpagesize(void);

#ifdef __cplusplus
}
#endif

#endif
