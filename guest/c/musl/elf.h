/*
 * The one <elf.h> name mallocng reads: the auxiliary-vector key AT_RANDOM (25 in Linux's
 * include/uapi/linux/auxvec.h). wasi-libc has no <elf.h>; our auxv is empty (libc.h).
 */
#ifndef WASI_MMAN_MUSL_ELF_H
#define WASI_MMAN_MUSL_ELF_H
#define AT_RANDOM 25
#endif
