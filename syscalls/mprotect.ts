/**
 * mprotect(2), as Linux 6.18 does it (mm/mprotect.c, do_mprotect_pkey): PROT_GROWSDOWN and
 * PROT_GROWSUP are taken off (both at once is EINVAL), then the alignment, a length of 0
 * (success), the end, and the remaining bits (READ, WRITE, EXEC and PROT_SEM, which Linux
 * accepts and ignores: arch_validate_prot). The range must start in a mapping (ENOMEM); then
 * mapping after mapping is changed, split at the range's ends as Linux splits vmas, until the
 * end, a hole (ENOMEM, the mappings before it changed already, as on Linux) or a shared
 * mapping of a file that is not writable asked for PROT_WRITE (EACCES, likewise).
 *
 * Not enforced: wasm has no page protection, so a guest can still write a PROT_READ page
 * (docs/semantics.md). musl's mallocng maps PROT_NONE and then mprotects the part it uses,
 * which works as on Linux. Pages of the brk area or the module image are accepted and not
 * recorded.
 */
import { ADDRESS_LIMIT_32, Errno, MapFlags, Prot, PROT_ALL, PROT_GROWSDOWN, PROT_GROWSUP, PROT_SEM, VmFlag } from "../runtime/linux.js";
import type { Planned, SyscallContext } from "./context.js";
import type { MappableFile } from "./file-mappings.js";

export interface MprotectPlan {
  /** Pages whose protection changes (the mappings among them), in address order. */
  from: number;
  to: number;
  prot: number;
  /** What the call returns once applied: 0, or the error that stopped the walk at `to`. */
  result: number;
}

export function mprotect(ctx: SyscallContext, address: number, length: number, prot: number): number {
  const plan = planMprotect(ctx, address, length, prot);
  return typeof plan === "number" ? plan : applyMprotect(ctx, plan);
}

export function planMprotect(ctx: SyscallContext, address: number, length: number, prot: number): Planned<MprotectPlan> {
  const space = ctx.space;
  if (!space.attached) return -Errno.ENOSYS;
  const growsDown = (prot & PROT_GROWSDOWN) !== 0;
  const growsUp = (prot & PROT_GROWSUP) !== 0;
  prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP);
  if (growsDown && growsUp) return -Errno.EINVAL;
  if ((address & space.pageMask) !== 0) return -Errno.EINVAL;
  const plan: MprotectPlan = { from: 0, to: 0, prot: prot & PROT_ALL, result: 0 };
  if (length === 0) return plan;
  // PAGE_ALIGN(len), then `end <= start` is ENOMEM (a wrap past 4 GiB).
  if (length > ADDRESS_LIMIT_32 - space.pageSize || address + space.pagesFor(length) * space.pageSize > ADDRESS_LIMIT_32) return -Errno.ENOMEM;
  if ((prot & ~(PROT_ALL | PROT_SEM)) !== 0) return -Errno.EINVAL;
  space.sync();
  let from = address / space.pageSize;
  let to = from + space.pagesFor(length);
  const first = space.mappingAt(from);
  // The range must start in a vma (a mapping, or the brk area or image, which are vmas too);
  // with PROT_GROWSDOWN, in the first mapping it meets.
  if (!growsDown && !space.isInUse(from, from + 1)) return -Errno.ENOMEM;
  if (growsUp) return -Errno.EINVAL; // no VM_GROWSUP mapping exists on this architecture
  if (growsDown) {
    // The change reaches down to the start of the first mapping in the range, which must grow down.
    const inRange = first >= 0 ? first : space.nextMapping(from, to);
    if (inRange < 0) return -Errno.ENOMEM;
    if ((space.record(inRange).vmFlags & VmFlag.GROWSDOWN) === 0) return -Errno.EINVAL;
    from = inRange;
  }
  plan.from = from;
  for (let page = from; page < to; ) {
    if (!space.isInUse(page, page + 1)) {
      plan.to = page;
      plan.result = -Errno.ENOMEM;
      return plan;
    }
    const start = space.mappingAt(page);
    if (start < 0) {
      page++;
      continue;
    }
    const record = space.record(start);
    const file = record.file as MappableFile | null;
    // PROT_WRITE on a shared mapping of a file not open for writing (no VM_MAYWRITE): EACCES.
    if ((prot & Prot.WRITE) !== 0 && file !== null && (record.flags & MapFlags.TYPE) !== MapFlags.PRIVATE && !file.writable) {
      plan.to = page;
      plan.result = -Errno.EACCES;
      return plan;
    }
    page = Math.min(start + record.pages, to);
  }
  plan.to = to;
  return plan;
}

export function applyMprotect(ctx: SyscallContext, plan: MprotectPlan): number {
  const space = ctx.space;
  if (plan.from < plan.to) {
    space.splitAt(plan.from);
    space.splitAt(plan.to);
    space.protect(plan.from, plan.to, plan.prot);
    // Made writable: private memory is charged (VM_ACCOUNT) and may get an anon_vma (mm/mprotect.c).
    if ((plan.prot & Prot.WRITE) !== 0) space.markWritable(plan.from, plan.to);
  }
  return plan.result;
}
