/**
 * File-backed mappings: the only place that reads or writes a file for the memory calls. The
 * engine only remembers which file backs which pages; the calls read what they need here in
 * their plan step (before any page changes) and write MAP_SHARED bytes back before the pages
 * that hold them go away.
 */
import { MapFlags } from "../runtime/linux.js";
import type { AddressSpace } from "../runtime/address-space.js";

/** A file that can back a mapping (supplied by a FileResolver). */
export interface MappableFile {
  /**
   * The open file itself: write-back goes to it, never to an fd number that may be reused.
   * Two MappableFile objects with the same identity are the same file (mappings of it at
   * contiguous offsets merge, as on Linux).
   */
  readonly identity: object;
  readonly readable: boolean;
  readonly writable: boolean;
  readonly regular: boolean;
  size(): number;
  /** Copies up to target.length bytes from `offset`; returns how many were copied. */
  read(offset: number, target: Uint8Array): number;
  /** Writes bytes at `offset` (MAP_SHARED write-back; never past the file's end). */
  write(offset: number, bytes: Uint8Array): void;
}

/** The file behind the mapping record that starts at `start`, or null. */
export function fileOf(space: AddressSpace, start: number): MappableFile | null {
  return space.record(start).file as MappableFile | null;
}

/**
 * The bytes a file mapping shows in `pages` pages from `offset`: the file's bytes, and zeros
 * past its end (mmap(2)). Read into a buffer of its own, so that a resolver that throws (host
 * code) does so before any page has changed.
 */
export function readFilePages(file: MappableFile, offset: number, pages: number, pageSize: number): Uint8Array {
  const bytes = new Uint8Array(Math.max(0, Math.min(pages * pageSize, file.size() - offset)));
  if (bytes.length > 0) file.read(offset, bytes);
  return bytes;
}

function isSharedWritable(space: AddressSpace, start: number, file: MappableFile): boolean {
  return (space.record(start).flags & MapFlags.TYPE) !== MapFlags.PRIVATE && file.writable;
}

/**
 * Writes pages [from, to) of the MAP_SHARED file mapping at `start` back to its file: only the
 * span that differs from the file, never past the file's end (Linux does not extend a file
 * through a mapping either: mmap(2), SIGBUS beyond EOF). A file that throws must not stop an
 * unmap halfway (Linux's munmap does not fail on write-back either): counted in stats.
 */
export function writeBack(space: AddressSpace, start: number, from: number, to: number): void {
  const record = space.record(start);
  const file = record.file as MappableFile | null;
  if (file === null || !isSharedWritable(space, start, file)) return;
  try {
    const pageSize = space.pageSize;
    const offset = record.fileOffset + (from - start) * pageSize;
    const length = Math.min((to - from) * pageSize, file.size() - offset);
    if (length <= 0) return;
    const mapped = space.bytes().subarray(from * pageSize, from * pageSize + length);
    const current = new Uint8Array(length);
    const read = file.read(offset, current);
    let first = 0;
    while (first < length && first < read && mapped[first] === current[first]) first++;
    if (first === length) return;
    let last = length;
    while (last > first && last <= read && mapped[last - 1] === current[last - 1]) last--;
    file.write(offset + first, mapped.slice(first, last));
  } catch {
    space.noteWriteBackFailure();
  }
}

/** Writes back every shared file mapping that overlaps [from, to) (msync, and before unmapping). */
export function writeBackRange(space: AddressSpace, from: number, to: number): void {
  const first = space.mappingAt(from);
  let start = first >= 0 ? first : space.nextMapping(from, to);
  while (start >= 0) {
    const end = start + space.record(start).pages;
    writeBack(space, start, Math.max(from, start), Math.min(to, end));
    start = space.nextMapping(end, to);
  }
}

/** True when some mapping overlapping [from, to) is backed by a file (write-back may be needed). */
export function anyFileMapping(space: AddressSpace, from: number, to: number): boolean {
  const first = space.mappingAt(from);
  for (let start = first >= 0 ? first : space.nextMapping(from, to); start >= 0; ) {
    const record = space.record(start);
    if (record.file !== null) return true;
    start = space.nextMapping(start + record.pages, to);
  }
  return false;
}
