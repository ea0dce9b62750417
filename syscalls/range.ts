/**
 * Shared argument check of madvise, mprotect and msync: a page-aligned start and a length whose
 * end does not pass 4 GiB. Returns the page range through `out` (no allocation on a hot path),
 * or a negative errno.
 */
import { ADDRESS_LIMIT_32, Errno } from "../runtime/linux.js";
import type { AddressSpace } from "../runtime/address-space.js";

export interface PageRange {
  from: number;
  to: number;
}

export function pageRange(space: AddressSpace, address: number, length: number, out: PageRange): number {
  if ((address & space.pageMask) !== 0) return -Errno.EINVAL;
  if (length > ADDRESS_LIMIT_32 - address) return -Errno.ENOMEM;
  out.from = address / space.pageSize;
  out.to = out.from + space.pagesFor(length);
  return 0;
}
