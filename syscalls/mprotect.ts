/**
 * mprotect(2): records the protection of the mappings in the range, splitting them at its ends
 * as Linux splits vmas. Not enforced: wasm has no page protection, so a guest can still write a
 * PROT_READ page (docs/semantics.md). musl's mallocng maps PROT_NONE and then mprotects the part
 * it uses, which works as on Linux. Pages of the brk area or the module image are accepted and
 * not recorded. A range with unmapped pages is ENOMEM. Asking PROT_WRITE of a shared mapping of a
 * file that is not writable is EACCES, as on Linux.
 */
import { Errno, MapFlags, Prot, PROT_ALL } from "../runtime/linux.js";
import type { SyscallContext } from "./context.js";
import { pageRange, type PageRange } from "./range.js";

const range: PageRange = { from: 0, to: 0 };

export function mprotect(ctx: SyscallContext, address: number, length: number, prot: number): number {
  const space = ctx.space;
  if (!space.attached) return -Errno.ENOSYS;
  // Order as in do_mprotect_pkey: alignment, len 0 (success), range, then prot.
  if ((address & space.pageMask) !== 0) return -Errno.EINVAL;
  if (length === 0) return 0;
  const bad = pageRange(space, address, length, range);
  if (bad !== 0) return bad;
  if ((prot & ~PROT_ALL) !== 0) return -Errno.EINVAL;
  space.sync();
  const { from, to } = range;
  if (!space.isInUse(from, to)) return -Errno.ENOMEM;
  const mapFrom = Math.max(from, space.brkEndPage);
  if (mapFrom < to) {
    // PROT_WRITE on a shared mapping of a file not open for writing: EACCES (mprotect(2)).
    if ((prot & Prot.WRITE) !== 0) {
      const first = space.mappingAt(mapFrom);
      for (let start = first >= 0 ? first : space.nextMapping(mapFrom, to); start >= 0; start = space.nextMapping(start + space.mapPages[start], to)) {
        const file = space.fileOf(start);
        if (file !== null && (space.mapFlags[start] & MapFlags.TYPE) !== MapFlags.PRIVATE && !file.writable) return -Errno.EACCES;
      }
    }
    space.splitAt(mapFrom);
    space.splitAt(to);
    space.protect(mapFrom, to, prot);
  }
  return 0;
}
