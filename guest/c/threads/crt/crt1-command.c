/*
 * `_start` for -pthread programs, replacing the posix sysroot's crt1-command.o (cli/cc-threads.ts
 * compiles it into the sysroot after wasi-libc's own build).
 *
 * The 2022 wasi-libc's `_start` leaves constructors to the linker: when nothing references
 * __wasm_call_ctors, wasm-ld wraps every exported function in a call of the constructors before
 * it and of __wasm_call_dtors after it ("command exports"). That is harmless with one export,
 * but it wraps wasi_thread_start too: each new thread would run the constructors on the main
 * thread's stack before thread-start.s could switch stacks, and flush stdio as it ends, while
 * other threads write. Calling __wasm_call_ctors here, as later wasi-libc releases do, makes
 * wasm-ld leave every export unwrapped.
 */
#include <stdlib.h>

extern void __wasm_call_ctors(void);
extern int __original_main(void);
extern void __wasm_call_dtors(void);

__attribute__((export_name("_start"))) void _start(void) {
  __wasm_call_ctors();
  int status = __original_main();
  /* exit() runs atexit handlers and flushes stdio; a 0 from main needs only the latter two. */
  if (status != 0) exit(status);
  __wasm_call_dtors();
}
