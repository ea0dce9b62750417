/**
 * mmap(2). Checks arguments in the order Linux does (arch mmap, ksys_mmap_pgoff, do_mmap), plans
 * where the mapping goes, and only then takes pages.
 *
 * Deviations, chosen once (docs/semantics.md):
 * - Unknown flag bits are EINVAL for every map type (Linux ignores them except under
 *   MAP_SHARED_VALIDATE, which gives EOPNOTSUPP, as here).
 * - A hint is honoured when its pages are free and already exist; a hint beyond the end of
 *   linear memory is ignored rather than growing memory up to it.
 * - MAP_FIXED over the brk area or pages the guest grew itself is EPERM, like below the heap base.
 * - Protection is recorded, not enforced: wasm has no page protection.
 */
import { ADDRESS_LIMIT_32, Errno, MAP_KNOWN_FLAGS, MapFlags as Map, PROT_ALL, Prot } from "../runtime/linux.js";
import type { MappableFile } from "../runtime/address-space.js";
import type { SyscallContext } from "./context.js";

/** Flags kept in the mapping record: the map type and MAP_ANONYMOUS. */
const RECORDED_FLAGS = Map.TYPE | Map.ANONYMOUS;
const PRIVATE_ANONYMOUS = Map.PRIVATE | Map.ANONYMOUS;

export function mmap(
  ctx: SyscallContext,
  address: number,
  length: number,
  prot: number,
  flags: number,
  fd: number,
  offset: number,
): number {
  const space = ctx.space;
  const pageSize = space.pageSize;
  if (flags === PRIVATE_ANONYMOUS && address === 0 && offset === 0 && (prot & ~PROT_ALL) === 0 && length !== 0 && length <= ADDRESS_LIMIT_32 - pageSize && space.memory !== null) {
    // The call every malloc above its threshold makes, fully checked by the condition above
    // (a valid map type, no unknown flag, an aligned offset, a known prot, a length that fits).
    // Kept short so the JIT inlines the engine's steps into it.
    const pages = (length + space.pageMask) >>> space.pageShift; // length + mask < 2^32 here
    const start = space.placeAnywhere(pages);
    if (start < 0) return -Errno.ENOMEM;
    space.addMapping(start, pages, prot, PRIVATE_ANONYMOUS, length, null, 0);
    return start * pageSize;
  }
  if (space.memory === null) return -Errno.ENOSYS;
  // offset_in_page(offset) is EINVAL before anything else (arch mmap entry).
  // (offset may pass 2^32: a remainder, not a mask; skipped for the usual 0.)
  if (offset !== 0 && (!(offset >= 0) || offset % pageSize !== 0)) return -Errno.EINVAL;
  const type = flags & Map.TYPE;
  if (type !== Map.SHARED && type !== Map.PRIVATE && type !== Map.SHARED_VALIDATE) return -Errno.EINVAL;
  if ((flags & ~(Map.TYPE | MAP_KNOWN_FLAGS)) !== 0) {
    return type === Map.SHARED_VALIDATE ? -Errno.EOPNOTSUPP : -Errno.EINVAL;
  }
  if ((prot & ~PROT_ALL) !== 0) return -Errno.EINVAL;
  if (length === 0) return -Errno.EINVAL;
  // Rounded up to whole pages, the length must fit below the last page under 4 GiB.
  if (length > ADDRESS_LIMIT_32 - pageSize) return -Errno.ENOMEM;
  const pages = space.pagesFor(length);
  if (address === 0 && (flags & (Map.ANONYMOUS | Map.FIXED | Map.FIXED_NOREPLACE)) === Map.ANONYMOUS) {
    // Anonymous, anywhere, with other flags (MAP_SHARED, MAP_NORESERVE, MAP_POPULATE...).
    const start = space.placeAnywhere(pages);
    if (start < 0) return -Errno.ENOMEM;
    space.addMapping(start, pages, prot, flags & RECORDED_FLAGS, length, null, 0);
    return start * pageSize;
  }
  return mmapPlaced(ctx, address, length, pages, prot, flags, fd, offset);
}

/** mmap with a file, a hint or a fixed address: resolves the file, then places, then maps. */
function mmapPlaced(
  ctx: SyscallContext,
  address: number,
  length: number,
  pages: number,
  prot: number,
  flags: number,
  fd: number,
  offset: number,
): number {
  const space = ctx.space;
  const pageSize = space.pageSize;
  const type = flags & Map.TYPE;
  // Files, hints and fixed addresses look at the free map as it is: account for the guest's
  // own growth and give recycled pages back first.
  space.sync();
  let file: MappableFile | null = null;
  let fileBytes: Uint8Array | null = null;
  if ((flags & Map.ANONYMOUS) === 0) {
    const resolver = ctx.files;
    if (resolver === null) return -Errno.ENODEV;
    file = resolver.resolve(fd);
    if (file === null) return -Errno.EBADF;
    if (!file.regular) return -Errno.ENODEV;
    if (!file.readable) return -Errno.EACCES;
    if (type !== Map.PRIVATE && (prot & Prot.WRITE) !== 0 && !file.writable) return -Errno.EACCES;
    // The page offset plus the length in pages must not overflow (do_mmap, 32-bit pgoff rule).
    if (offset / pageSize + pages > ADDRESS_LIMIT_32) return -Errno.EOVERFLOW;
    // Read the file before taking any page: a resolver that fails (host code) then leaves the
    // address space as it was. Whole pages, as Linux maps them; past the end of file, zeros.
    fileBytes = new Uint8Array(Math.max(0, Math.min(pages * pageSize, file.size() - offset)));
    if (fileBytes.length > 0) file.read(offset, fileBytes);
  }

  let start: number;
  if ((flags & (Map.FIXED | Map.FIXED_NOREPLACE)) !== 0) {
    if ((address & space.pageMask) !== 0) return -Errno.EINVAL;
    const from = address / pageSize;
    const to = from + pages;
    if (to > space.limitPage) return -Errno.ENOMEM;
    if (from < space.regionStartPage) return -Errno.EPERM;
    if ((flags & Map.FIXED_NOREPLACE) !== 0) {
      if (!space.isFree(from, to)) return -Errno.EEXIST;
    } else if (space.touchesUnmappable(from, to)) {
      return -Errno.EPERM;
    }
    // Plan done: growing is the only step that can fail, so it goes first.
    if (to > space.ownedPages && !space.growTo(to)) return -Errno.ENOMEM;
    space.unmap(from, to);
    space.takeFree(from, to);
    start = from;
  } else {
    start = -1;
    if (address !== 0) {
      const hint = space.pagesFor(address);
      if (hint + pages <= space.ownedPages && space.isFree(hint, hint + pages) && space.takeFree(hint, hint + pages)) {
        start = hint;
      }
    }
    if (start < 0) start = space.placeAnywhere(pages);
    if (start < 0) return -Errno.ENOMEM;
  }

  if (fileBytes !== null && fileBytes.length > 0) {
    // Both private and shared mappings start as a copy of the file from `offset`; the pages
    // were cleared when taken, so bytes past the end of the file read as zeros.
    (space.memory as NonNullable<typeof space.memory>).bytes().set(fileBytes, start * pageSize);
  }
  space.addMapping(start, pages, prot, flags & RECORDED_FLAGS, length, file, offset);
  return start * pageSize;
}
