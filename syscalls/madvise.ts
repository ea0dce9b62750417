/**
 * madvise(2), as Linux 6.18 walks it (mm/madvise.c): the advice, the alignment and the length
 * are checked first; then the range is walked mapping by mapping. A hole in the range does not
 * stop the walk: the advice is applied to what is mapped and the call ends with ENOMEM. An
 * advice a mapping refuses (MADV_FREE on shared memory, MADV_REMOVE on private memory) stops
 * the walk with its error, with the mappings before it advised already, as on Linux.
 *
 * What each advice does here:
 * - DONTNEED, DONTNEED_LOCKED: private pages (mappings and the brk area, which musl's
 *   allocators both advise) read as zeros at once; a private file mapping reads its file again;
 *   shared mappings keep their bytes, as the page cache keeps them on Linux.
 * - FREE: keeps the bytes (Linux may drop them lazily or not at all; both are correct); only
 *   private anonymous memory. REMOVE: zeroes shared anonymous memory; private memory is EINVAL.
 * - RANDOM, SEQUENTIAL, NORMAL, DONTFORK, DOFORK, DONTDUMP, DODUMP, WIPEONFORK, KEEPONFORK,
 *   MERGEABLE, UNMERGEABLE, HUGEPAGE, NOHUGEPAGE: recorded as vma flags (no fork, no core
 *   dumps and no huge pages here), which split mappings and keep them apart as on Linux.
 * - WILLNEED, COLD, PAGEOUT, POPULATE_READ, POPULATE_WRITE, GUARD_REMOVE: nothing to do
 *   (memory is always resident, there is no swap); POPULATE_* beyond the protection is EINVAL.
 *   COLLAPSE: EINVAL on every mapping (there are no huge pages to collapse into).
 *   GUARD_INSTALL: the pages read as zeros (Linux would also fault on access, which wasm
 *   cannot; see guard mode).
 *
 * Deviations: advice that clears (DONTNEED, FREE, REMOVE, GUARD_INSTALL) over the module image
 * or pages the guest grew itself is EINVAL: they are not this host's to clear. HWPOISON and
 * SOFT_OFFLINE are EPERM, as for a process without CAP_SYS_ADMIN.
 */
import { ADDRESS_LIMIT_32, Errno, Madv, MapFlags, Prot, VmFlag } from "../runtime/linux.js";
import type { Planned, SyscallContext } from "./context.js";
import { readFilePages, type MappableFile } from "./file-mappings.js";

/** vma flags an advice sets and clears (mm/madvise.c, madvise_vma_behavior; mm/khugepaged.c). */
const FLAG_ADVICE = new Map<number, [set: number, clear: number]>([
  [Madv.NORMAL, [0, VmFlag.RAND_READ | VmFlag.SEQ_READ]],
  [Madv.RANDOM, [VmFlag.RAND_READ, VmFlag.SEQ_READ]],
  [Madv.SEQUENTIAL, [VmFlag.SEQ_READ, VmFlag.RAND_READ]],
  [Madv.DONTFORK, [VmFlag.DONTCOPY, 0]],
  [Madv.DOFORK, [0, VmFlag.DONTCOPY]],
  [Madv.DONTDUMP, [VmFlag.DONTDUMP, 0]],
  [Madv.DODUMP, [0, VmFlag.DONTDUMP]],
  [Madv.WIPEONFORK, [VmFlag.WIPEONFORK, 0]],
  [Madv.KEEPONFORK, [0, VmFlag.WIPEONFORK]],
  [Madv.MERGEABLE, [VmFlag.MERGEABLE, 0]],
  [Madv.UNMERGEABLE, [0, VmFlag.MERGEABLE]],
  [Madv.HUGEPAGE, [VmFlag.HUGEPAGE, VmFlag.NOHUGEPAGE]],
  [Madv.NOHUGEPAGE, [VmFlag.NOHUGEPAGE, VmFlag.HUGEPAGE]],
]);

/** Advice with nothing to do here (memory is resident, there is no swap, no fault to arm). */
const NOTHING_TO_DO = new Set<number>([
  Madv.WILLNEED,
  Madv.COLD,
  Madv.PAGEOUT,
  Madv.POPULATE_READ,
  Madv.POPULATE_WRITE,
  Madv.GUARD_REMOVE,
]);

/** Advice that makes pages read as zeros (or, for FREE, may). */
const CLEARING = new Set<number>([Madv.DONTNEED, Madv.DONTNEED_LOCKED, Madv.FREE, Madv.REMOVE, Madv.GUARD_INSTALL]);

/** Every advice value Linux 6.18 implements: madvise(0, 0, advice) is 0 for exactly these. */
function isKnownAdvice(advice: number): boolean {
  return (
    FLAG_ADVICE.has(advice) ||
    NOTHING_TO_DO.has(advice) ||
    CLEARING.has(advice) ||
    advice === Madv.COLLAPSE ||
    advice === Madv.HWPOISON ||
    advice === Madv.SOFT_OFFLINE
  );
}

/** One step of the walk: pages to zero (with what a private file mapping shows again), or vma flags to change. */
type Action =
  | { kind: "zero"; from: number; to: number; fileBytes: Uint8Array | null }
  | { kind: "flags"; from: number; to: number; set: number; clear: number };

export interface MadvisePlan {
  actions: Action[];
  /** What the call returns once the actions are applied: 0, ENOMEM for a hole, or the error that stopped the walk. */
  result: number;
}

export function madvise(ctx: SyscallContext, address: number, length: number, advice: number): number {
  const plan = planMadvise(ctx, address, length, advice);
  return typeof plan === "number" ? plan : applyMadvise(ctx, plan);
}

export function planMadvise(ctx: SyscallContext, address: number, length: number, advice: number): Planned<MadvisePlan> {
  const space = ctx.space;
  if (!space.attached) return -Errno.ENOSYS;
  if (!isKnownAdvice(advice)) return -Errno.EINVAL;
  if ((address & space.pageMask) !== 0) return -Errno.EINVAL;
  // len rounded up to a page; a length that wraps to 0 that way, or an end past 4 GiB, is EINVAL.
  if (length > ADDRESS_LIMIT_32 - space.pageSize) return -Errno.EINVAL;
  const pages = space.pagesFor(length);
  if (address + pages * space.pageSize > ADDRESS_LIMIT_32) return -Errno.EINVAL;
  const plan: MadvisePlan = { actions: [], result: 0 };
  if (pages === 0) return plan;
  if (advice === Madv.HWPOISON || advice === Madv.SOFT_OFFLINE) return -Errno.EPERM;
  space.sync();
  const from = address / space.pageSize;
  const to = from + pages;
  const populate = advice === Madv.POPULATE_READ || advice === Madv.POPULATE_WRITE;
  for (let page = from; page < to; ) {
    if (!space.isInUse(page, page + 1)) {
      // madvise_populate faults page after page and stops at the first hole (ENOMEM).
      if (populate) return stop(plan, -Errno.ENOMEM);
      // A hole: remembered, and the walk goes on to the next mapping.
      plan.result = -Errno.ENOMEM;
      let next = page + 1;
      while (next < to && !space.isInUse(next, next + 1)) next++;
      page = next;
      continue;
    }
    const start = space.mappingAt(page);
    if (start < 0) {
      // The image, brk or foreign pages, up to the next mapping or hole.
      let next = page + 1;
      while (next < to && space.isInUse(next, next + 1) && space.mappingAt(next) < 0) next++;
      const error = adviseOther(ctx, plan, page, next, advice);
      if (error !== 0) return stop(plan, error);
      page = next;
      continue;
    }
    const record = space.record(start);
    const end = Math.min(start + record.pages, to);
    const error = adviseMapping(ctx, plan, start, page, end, advice);
    if (error !== 0) return stop(plan, error);
    page = end;
  }
  return plan;
}

/** The walk stopped with `error` after the actions planned so far. */
function stop(plan: MadvisePlan, error: number): MadvisePlan {
  plan.result = error;
  return plan;
}

/** Pages that are no mapping: brk pages take the advice as private anonymous memory; the image and foreign pages only hints. */
function adviseOther(ctx: SyscallContext, plan: MadvisePlan, from: number, to: number, advice: number): number {
  const space = ctx.space;
  // No huge pages to collapse into: every vma refuses (thp_vma_allowable_order fails).
  if (advice === Madv.COLLAPSE) return -Errno.EINVAL;
  if (!CLEARING.has(advice)) return 0;
  if (from < space.brk.regionStartPage || space.touchesForeign(from, to)) return -Errno.EINVAL;
  if (advice === Madv.REMOVE) return -Errno.EINVAL;
  if (advice !== Madv.FREE) plan.actions.push({ kind: "zero", from, to, fileBytes: null });
  return 0;
}

/** The advice on pages [from, to) of the mapping at `start`; 0, or the errno that stops the walk. */
function adviseMapping(ctx: SyscallContext, plan: MadvisePlan, start: number, from: number, to: number, advice: number): number {
  const space = ctx.space;
  const record = space.record(start);
  const shared = (record.flags & MapFlags.TYPE) === MapFlags.SHARED;
  const anonymous = record.file === null;
  const locked = (record.vmFlags & VmFlag.LOCKED) !== 0;
  const flagChange = FLAG_ADVICE.get(advice);
  if (flagChange !== undefined) {
    let [set, clear] = flagChange;
    // WIPEONFORK: private anonymous memory only; MERGEABLE is ignored on shared memory (ksm_madvise).
    if (advice === Madv.WIPEONFORK && (shared || !anonymous)) return -Errno.EINVAL;
    if (advice === Madv.MERGEABLE && shared) set = 0;
    if (set !== 0 || (record.vmFlags & clear) !== 0) plan.actions.push({ kind: "flags", from, to, set, clear });
    return 0;
  }
  if (advice === Madv.COLLAPSE) return -Errno.EINVAL;
  if (NOTHING_TO_DO.has(advice)) {
    if ((advice === Madv.COLD || advice === Madv.PAGEOUT) && locked) return -Errno.EINVAL;
    // Populating pages the protection does not allow is EINVAL ("incompatible permissions").
    if (advice === Madv.POPULATE_READ && (record.prot & Prot.READ) === 0) return -Errno.EINVAL;
    if (advice === Madv.POPULATE_WRITE && (record.prot & Prot.WRITE) === 0) return -Errno.EINVAL;
    return 0;
  }
  switch (advice) {
    case Madv.FREE:
      if (shared || !anonymous || locked) return -Errno.EINVAL;
      return 0;
    case Madv.REMOVE:
      if (locked || !shared || !anonymous) return -Errno.EINVAL;
      plan.actions.push({ kind: "zero", from, to, fileBytes: null });
      return 0;
    case Madv.GUARD_INSTALL:
      if (locked) return -Errno.EINVAL;
      plan.actions.push({ kind: "zero", from, to, fileBytes: null });
      return 0;
    default: {
      // DONTNEED, DONTNEED_LOCKED.
      if (locked && advice === Madv.DONTNEED) return -Errno.EINVAL;
      if (shared) return 0;
      // A private file mapping reads the file again, as Linux refaults it from the page cache.
      const file = record.file as MappableFile | null;
      const pageSize = space.pageSize;
      const fileBytes = file === null ? null : readFilePages(file, record.fileOffset + (from - start) * pageSize, to - from, pageSize);
      plan.actions.push({ kind: "zero", from, to, fileBytes });
      return 0;
    }
  }
}

export function applyMadvise(ctx: SyscallContext, plan: MadvisePlan): number {
  const space = ctx.space;
  for (const action of plan.actions) {
    if (action.kind === "zero") {
      space.zeroInUse(action.from, action.to);
      if (action.fileBytes !== null && action.fileBytes.length > 0) space.bytes().set(action.fileBytes, action.from * space.pageSize);
    } else {
      space.splitAt(action.from);
      space.splitAt(action.to);
      space.setVmFlags(action.from, action.to, action.set, action.clear);
    }
  }
  return plan.result;
}
