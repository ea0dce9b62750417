/**
 * munmap(2): unmaps every mapping page in the range, splitting mappings at its ends; pages in
 * the range that are not mapped are fine (Linux succeeds there too). Shared file mappings write
 * back first. Deviation: a range that touches the module image, brk pages (not a mapping placed
 * over them) or pages the guest grew itself is EINVAL, since those are not mappings and
 * unmapping them would break the guest.
 */
import { ADDRESS_LIMIT_32, Errno } from "../runtime/linux.js";
import type { Planned, SyscallContext } from "./context.js";
import { writeBackRange } from "./file-mappings.js";

export interface MunmapPlan {
  from: number;
  to: number;
}

export function munmap(ctx: SyscallContext, address: number, length: number): number {
  const space = ctx.space;
  // The common case, exactly one whole anonymous mapping that fits the recycle stacks, has a
  // one-step plan (keep its pages for the next mmap of that size): applied without building one.
  if ((address & space.pageMask) === 0 && length !== 0 && length <= ADDRESS_LIMIT_32 - address && space.memory !== null) {
    const from = address >>> space.pageShift; // aligned, below 2^32
    if (space.recycleMapping(from, (length + space.pageMask) >>> space.pageShift)) return 0;
  }
  const plan = planMunmap(ctx, address, length);
  return typeof plan === "number" ? plan : applyMunmap(ctx, plan);
}

export function planMunmap(ctx: SyscallContext, address: number, length: number): Planned<MunmapPlan> {
  const space = ctx.space;
  if (!space.attached) return -Errno.ENOSYS;
  // Addresses are below 2^32, so the low bits of `address & mask` are exact (and cheaper than %).
  if ((address & space.pageMask) !== 0 || length === 0) return -Errno.EINVAL;
  if (length > ADDRESS_LIMIT_32 - address) return -Errno.EINVAL;
  const from = address >>> space.pageShift;
  const to = from + space.pagesFor(length);
  // Past the memory the engine knows: the guest may have grown it since; look first.
  if (to > space.ownedPages) space.sync();
  if (from < space.brk.regionStartPage || space.touchesBrkPages(from, to) || space.touchesForeign(from, to)) return -Errno.EINVAL;
  return { from, to };
}

export function applyMunmap(ctx: SyscallContext, plan: MunmapPlan): number {
  const space = ctx.space;
  if (space.hasFileMappings) writeBackRange(space, plan.from, plan.to);
  space.unmap(plan.from, plan.to);
  return 0;
}
