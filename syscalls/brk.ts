/**
 * brk(2), raw Linux semantics (not glibc's wrapper): returns the new break on success and the
 * current break, unchanged, on failure; brk(0) (any address below the heap base) asks for it.
 * musl's oldmalloc and mallocng rely on exactly this: a refused brk makes them fall back to mmap.
 */
import type { SyscallContext } from "./context.js";

export function brk(ctx: SyscallContext, address: number): number {
  return ctx.space.setBreak(address);
}
