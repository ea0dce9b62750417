/**
 * mprotect(2): records the protection of the mappings in the range, splitting them at its ends
 * as Linux splits vmas. Not enforced: wasm has no page protection, so a guest can still write a
 * PROT_READ page (docs/semantics.md). musl's mallocng maps PROT_NONE and then mprotects the part
 * it uses, which works as on Linux. Pages of the brk area or the module image are accepted and
 * not recorded. A range with unmapped pages is ENOMEM. Asking PROT_WRITE of a shared mapping of a
 * file that is not writable is EACCES, as on Linux.
 */
import { Errno, MapFlags, Prot, PROT_ALL } from "../runtime/linux.js";
import type { Planned, SyscallContext } from "./context.js";
import type { MappableFile } from "./file-mappings.js";
import { pageRange, type PageRange } from "./range.js";

const range: PageRange = { from: 0, to: 0 };

export interface MprotectPlan {
  /** Mapping pages whose protection changes (empty when the range holds none). */
  from: number;
  to: number;
  prot: number;
}

export function mprotect(ctx: SyscallContext, address: number, length: number, prot: number): number {
  const plan = planMprotect(ctx, address, length, prot);
  return typeof plan === "number" ? plan : applyMprotect(ctx, plan);
}

export function planMprotect(ctx: SyscallContext, address: number, length: number, prot: number): Planned<MprotectPlan> {
  const space = ctx.space;
  if (!space.attached) return -Errno.ENOSYS;
  // Order as in do_mprotect_pkey: alignment, len 0 (success), range, then prot.
  if ((address & space.pageMask) !== 0) return -Errno.EINVAL;
  if (length === 0) return { from: 0, to: 0, prot };
  const bad = pageRange(space, address, length, range);
  if (bad !== 0) return bad;
  if ((prot & ~PROT_ALL) !== 0) return -Errno.EINVAL;
  space.sync();
  const { from, to } = range;
  if (!space.isInUse(from, to)) return -Errno.ENOMEM;
  if ((prot & Prot.WRITE) !== 0) {
    // PROT_WRITE on a shared mapping of a file not open for writing: EACCES (mprotect(2)).
    const first = space.mappingAt(from);
    for (let start = first >= 0 ? first : space.nextMapping(from, to); start >= 0; ) {
      const record = space.record(start);
      const file = record.file as MappableFile | null;
      if (file !== null && (record.flags & MapFlags.TYPE) !== MapFlags.PRIVATE && !file.writable) return -Errno.EACCES;
      start = space.nextMapping(start + record.pages, to);
    }
  }
  return { from, to, prot };
}

export function applyMprotect(ctx: SyscallContext, plan: MprotectPlan): number {
  const space = ctx.space;
  if (plan.from < plan.to) {
    space.splitAt(plan.from);
    space.splitAt(plan.to);
    space.protect(plan.from, plan.to, plan.prot);
  }
  return 0;
}
