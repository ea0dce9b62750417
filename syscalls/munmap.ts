/**
 * munmap(2): unmaps every mapping page in the range, splitting mappings at its ends; pages in
 * the range that are not mapped are fine (Linux succeeds there too). Shared file mappings write
 * back first. Deviation: a range that touches the module image, the brk area or pages the guest
 * grew itself is EINVAL, since those are not mappings and unmapping them would break the guest.
 *
 * sync() (which also returns recycled pages) only when the range passes the memory the engine
 * knows: pages the guest grew since the last call lie there.
 */
import { ADDRESS_LIMIT_32, Errno } from "../runtime/linux.js";
import type { SyscallContext } from "./context.js";

export function munmap(ctx: SyscallContext, address: number, length: number): number {
  const space = ctx.space;
  if (!space.attached) return -Errno.ENOSYS;
  // Addresses are below 2^32, so the low bits of `address & mask` are exact (and cheaper than %).
  if ((address & space.pageMask) !== 0 || length === 0) return -Errno.EINVAL;
  if (length > ADDRESS_LIMIT_32 - address) return -Errno.EINVAL;
  const from = address >>> space.pageShift; // aligned, below 2^32
  const to = from + space.pagesFor(length);
  // Past the memory the engine knows: the guest may have grown it since; look first.
  if (to > space.ownedPages) space.sync();
  if (space.touchesUnmappable(from, to)) return -Errno.EINVAL;
  if (!space.recycle(from, to)) space.unmap(from, to);
  return 0;
}
