/**
 * File-backed mappings over @bjorn3/browser_wasi_shim's file descriptors.
 *
 * The shim keeps its descriptor table in `wasi.fds` (an array of Fd objects; a closed slot is
 * `undefined`). An fd is only a name for an open file: the resolver hands the memory calls
 * the file itself (the shim's File inode, shared by every fd opened on it), so MAP_SHARED
 * write-back goes to the file that was mapped even after the fd is closed and its number
 * reused for another file (mmap(2): "closing the file descriptor does not unmap the region").
 *
 *   fd number --(wasi.fds)--> OpenFile --(.file)--> File { data: Uint8Array, readonly }
 *                                                     ^ identity of the MappableFile
 *
 * Recognised descriptors (by shape, so that a second copy of the shim in a bundle still works):
 *   - OpenFile over an in-memory File (`fd.file.data` is a Uint8Array)
 *   - OpenSyncOPFSFile over an OPFS sync access handle (`fd.file.handle.getSize()`)
 * Anything else (directories, ConsoleStdout, custom Fd classes) is not a regular file: ENODEV.
 */
import type { MappableFile } from "../syscalls/file-mappings.js";
import type { FileResolver } from "../syscalls/context.js";

/** The part of browser_wasi_shim's WASI object the resolver reads: its descriptor table. */
export interface ShimFdTable {
  fds: ArrayLike<unknown>;
}

/** The in-memory File of browser_wasi_shim (fs_mem.ts): `data` is replaced when the file grows. */
interface MemFileLike {
  data: Uint8Array;
  readonly?: boolean;
}

/** OPFS-backed file of browser_wasi_shim (fs_opfs.ts). */
interface OpfsFileLike {
  handle: {
    getSize(): number;
    read(buffer: Uint8Array, options: { at: number }): number;
    write(buffer: Uint8Array, options: { at: number }): number;
  };
  readonly?: boolean;
}

function isMemFile(value: unknown): value is MemFileLike {
  return typeof value === "object" && value !== null && (value as MemFileLike).data instanceof Uint8Array;
}

function isOpfsFile(value: unknown): value is OpfsFileLike {
  const handle = (value as OpfsFileLike | null)?.handle;
  return typeof handle === "object" && handle !== null && typeof handle.getSize === "function";
}

/**
 * An in-memory File as a MappableFile. Reads `file.data` afresh on every call: the shim
 * replaces the array when the guest writes past the end or truncates.
 */
function memFile(file: MemFileLike): MappableFile {
  return {
    identity: file,
    readable: true,
    writable: !file.readonly,
    regular: true,
    size: () => file.data.byteLength,
    read(offset, target) {
      const data = file.data;
      if (offset >= data.byteLength) return 0;
      const count = Math.min(target.byteLength, data.byteLength - offset);
      target.set(data.subarray(offset, offset + count));
      return count;
    },
    write(offset, bytes) {
      // A read-only file is never written: mmap refuses a writable shared mapping of it
      // (EACCES), and a guest storing into a PROT_READ mapping would have faulted on Linux.
      if (file.readonly) return;
      const data = file.data;
      if (offset >= data.byteLength) return;
      // Write-back never extends the file: bytes of the last page past the end of the file
      // are not part of it (mmap(2), "the remaining bytes of a partial page").
      const count = Math.min(bytes.byteLength, data.byteLength - offset);
      data.set(bytes.subarray(0, count), offset);
    },
  };
}

function opfsFile(file: OpfsFileLike): MappableFile {
  return {
    identity: file,
    readable: true,
    writable: !file.readonly,
    regular: true,
    size: () => file.handle.getSize(),
    read(offset, target) {
      const size = file.handle.getSize();
      if (offset >= size) return 0;
      const count = Math.min(target.byteLength, size - offset);
      return file.handle.read(target.subarray(0, count), { at: offset });
    },
    write(offset, bytes) {
      if (file.readonly) return;
      const size = file.handle.getSize();
      if (offset >= size) return;
      file.handle.write(bytes.subarray(0, Math.min(bytes.byteLength, size - offset)), { at: offset });
    },
  };
}

function notRegular(fd: object): MappableFile {
  return {
    identity: fd,
    readable: false,
    writable: false,
    regular: false,
    size: () => 0,
    read: () => 0,
    write: () => {},
  };
}

/**
 * The MappableFile for one shim descriptor object. The same file always yields the same
 * MappableFile object (cached per file), so identities compare equal across fds.
 */
const cache = new WeakMap<object, MappableFile>();

export function mappableFromShimFd(fd: object): MappableFile {
  const file = (fd as { file?: unknown }).file;
  const key = typeof file === "object" && file !== null ? file : fd;
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const mappable = isMemFile(file) ? memFile(file) : isOpfsFile(file) ? opfsFile(file) : notRegular(fd);
  cache.set(key, mappable);
  return mappable;
}

/**
 * A FileResolver over a browser_wasi_shim WASI object's descriptor table (pass it as
 * `createMman({ files: shimFileResolver(wasi) })`). An fd that is not open resolves to
 * null, which mmap reports as EBADF.
 */
export function shimFileResolver(wasi: ShimFdTable): FileResolver {
  return {
    resolve(fd: number): MappableFile | null {
      // The mman ABI passes fd as i32: -1 (the usual fd of anonymous mappings) and other
      // negative numbers are never open descriptors.
      if (!Number.isInteger(fd) || fd < 0 || fd >= wasi.fds.length) return null;
      const entry = wasi.fds[fd];
      if (typeof entry !== "object" || entry === null) return null;
      return mappableFromShimFd(entry);
    },
  };
}
