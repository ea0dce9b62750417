/** The libc page size chosen for this instance (getpagesize(2), sysconf(_SC_PAGESIZE)). Never fails. */
import type { SyscallContext } from "./context.js";

export function pagesize(ctx: SyscallContext): number {
  return ctx.space.pageSize;
}
