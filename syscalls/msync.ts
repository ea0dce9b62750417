/**
 * msync(2): writes shared file mappings in the range back to their files. MS_ASYNC and MS_SYNC
 * both write at once (there is no background writer to defer to); MS_INVALIDATE has nothing to
 * invalidate, since a mapping is the only copy of its bytes in this process. Anonymous memory
 * succeeds with nothing to do. Unaligned start or bad flags: EINVAL; unmapped pages: ENOMEM.
 */
import { Errno, Ms } from "../runtime/linux.js";
import type { Planned, SyscallContext } from "./context.js";
import { writeBackRange } from "./file-mappings.js";
import { pageRange, type PageRange } from "./range.js";

const range: PageRange = { from: 0, to: 0 };

export interface MsyncPlan {
  from: number;
  to: number;
}

export function msync(ctx: SyscallContext, address: number, length: number, flags: number): number {
  const plan = planMsync(ctx, address, length, flags);
  return typeof plan === "number" ? plan : applyMsync(ctx, plan);
}

export function planMsync(ctx: SyscallContext, address: number, length: number, flags: number): Planned<MsyncPlan> {
  const space = ctx.space;
  if (!space.attached) return -Errno.ENOSYS;
  if ((flags & ~(Ms.ASYNC | Ms.INVALIDATE | Ms.SYNC)) !== 0) return -Errno.EINVAL;
  if ((flags & Ms.ASYNC) !== 0 && (flags & Ms.SYNC) !== 0) return -Errno.EINVAL;
  const bad = pageRange(space, address, length, range);
  if (bad !== 0) return bad;
  if (length === 0) return { from: 0, to: 0 };
  space.sync();
  const { from, to } = range;
  if (!space.isInUse(from, to)) return -Errno.ENOMEM;
  return { from, to };
}

export function applyMsync(ctx: SyscallContext, plan: MsyncPlan): number {
  if (plan.from < plan.to && ctx.space.hasFileMappings) writeBackRange(ctx.space, plan.from, plan.to);
  return 0;
}
