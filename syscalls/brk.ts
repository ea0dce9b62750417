/**
 * brk(2), raw Linux semantics (not glibc's wrapper): returns the new break on success and the
 * current break, unchanged, on failure; brk(0), or any address below the heap base, asks for it
 * (also when the heap base is 0). musl's oldmalloc and mallocng rely on exactly this: a refused
 * brk makes them fall back to mmap.
 *
 * The break grows only into free pages right above it (or the wilderness, which growth can
 * extend); a mapping or foreign page in the way refuses it, as on Linux (mm/mmap.c brk:
 * find_vma_intersection). Shrinking unmaps whatever lies in the pages given back, mappings
 * placed over brk pages included (Linux unmaps the range [newbrk, oldbrk)).
 */
import type { Planned, SyscallContext } from "./context.js";
import { writeBackRange } from "./file-mappings.js";

export interface BrkPlan {
  address: number;
  /** Pages [0, growTo) must exist first (0: no growth). */
  growTo: number;
}

export function brk(ctx: SyscallContext, address: number): number {
  const space = ctx.space;
  if (space.memory === null) return 0;
  const plan = planBrk(ctx, address);
  if (typeof plan === "number") {
    if (plan === REFUSED) space.noteBrkRefused();
    return space.brk.breakAddress;
  }
  if (plan.growTo > 0 && !space.growTo(plan.growTo)) {
    space.noteBrkRefused();
    return space.brk.breakAddress;
  }
  return applyBrk(ctx, plan);
}

/** planBrk's answer for a call that only asks for the break. */
export const ASKS = 0;
/** planBrk's answer for a move that is impossible (brk has no errno: it returns the old break). */
export const REFUSED = -1;

/** The plan, ASKS or REFUSED. */
export function planBrk(ctx: SyscallContext, address: number): Planned<BrkPlan> {
  const space = ctx.space;
  const area = space.brk;
  if (address === 0 || address < area.heapBase) return ASKS;
  if (address > space.limitPage * space.pageSize) return REFUSED;
  const newEnd = area.endPageFor(address);
  const oldEnd = area.brkEndPage;
  if (newEnd <= oldEnd) return { address, growTo: 0 };
  space.sync();
  const available = space.freeRunFrom(oldEnd);
  if (oldEnd + available >= newEnd) return { address, growTo: 0 };
  // Not enough free pages above the break: only growth can help, and only when the free run
  // above the break is the wilderness (it reaches the end of memory).
  if (!space.isWildernessStart(oldEnd) || newEnd > space.limitPage) return REFUSED;
  return { address, growTo: newEnd };
}

export function applyBrk(ctx: SyscallContext, plan: BrkPlan): number {
  const space = ctx.space;
  const area = space.brk;
  const newEnd = area.endPageFor(plan.address);
  if (newEnd < area.brkEndPage) {
    if (space.hasFileMappings) writeBackRange(space, newEnd, area.brkEndPage);
    space.shrinkBreak(plan.address);
  } else {
    space.growBreak(plan.address);
  }
  return plan.address;
}
