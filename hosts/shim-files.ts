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
import type { AddressSpace } from "../runtime/address-space.js";
import { MapFlags } from "../runtime/linux.js";
import type { FileResolver } from "../syscalls/context.js";
import { identityOf, pageCacheOf, type MappableFile } from "../syscalls/file-mappings.js";

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

// ---------------------------------------------------------------------------------------------
// Coherence at every host call and every memory call (docs/hosts.md, "Coherence of shared
// file mappings"). The WASI host and the memory calls each see their own copy of a mapped
// file's bytes; these wrappers reconcile the two around every import call, through the engine's
// page cache (syscalls/file-mappings.ts). While no file is mapped, each wrapped call costs one
// check of the engine's file-mapping counter.

/** How a host finds the file behind a guest fd, for coherence. */
export interface HostFiles {
  /** The file `fd` is open on, or null (not open, not a file the memory calls can map). */
  fileOf(fd: number): MappableFile | null;
  /** The fd's file position, when the host can tell it (fd_read and fd_write use it). */
  positionOf?(fd: number): number | null;
}

/** What a WASI preview1 function does to file bytes, and where its arguments say so. */
const enum HostCall {
  /** Touches no file bytes (stat calls included: write-back never changes a size). */
  NONE = 0,
  /** Reads the file at its position: fd_read(fd, iovs, iovs_len, nread). */
  READ = 1,
  /** Reads at an offset: fd_pread(fd, iovs, iovs_len, offset, nread). */
  READ_AT,
  /** Makes the file durable: fd_sync(fd), fd_datasync(fd) (fsync writes mapped pages too). */
  SYNC,
  /** Writes at its position: fd_write(fd, iovs, iovs_len, nwritten). */
  WRITE,
  /** Writes at an offset: fd_pwrite(fd, iovs, iovs_len, offset, nwritten). */
  WRITE_AT,
  /** May change a size: fd_filestat_set_size, fd_allocate, path_open (O_TRUNC). */
  RESIZE,
}

const HOST_CALLS: Record<string, HostCall> = {
  fd_read: HostCall.READ,
  fd_pread: HostCall.READ_AT,
  fd_sync: HostCall.SYNC,
  fd_datasync: HostCall.SYNC,
  fd_write: HostCall.WRITE,
  fd_pwrite: HostCall.WRITE_AT,
  fd_filestat_set_size: HostCall.RESIZE,
  fd_allocate: HostCall.RESIZE,
  path_open: HostCall.RESIZE,
};

/** The part of an Mman these wrappers use (an Mman from createMman()). */
export interface CoherentEngine {
  readonly space: AddressSpace;
  readonly imports: { mman: WebAssembly.ModuleImports };
}

/** Total length of an iovec array in guest memory (buf, buf_len pairs of u32). */
function iovecBytes(memory: DataView, iovs: number, count: number): number {
  let total = 0;
  for (let i = 0; i < count; i++) total += memory.getUint32(iovs + i * 8 + 4, true);
  return total;
}

function toNumber(value: unknown): number {
  return typeof value === "bigint" ? Number(value) : Number(value);
}

/**
 * `wasiImport` (a WASI preview1 import object) with every function wrapped so that the file
 * and its shared mappings agree at each call:
 *   - before any call, pages two shared mappings show are reconciled (a store through one
 *     shows through the other);
 *   - before a read of a file (fd_read, fd_pread, fd_sync), the guest's stores in the read
 *     range of its shared mappings are written to it;
 *   - after a write (fd_write, fd_pwrite), the written bytes show in every shared mapping;
 *     after a size change (fd_filestat_set_size, fd_allocate, path_open with O_TRUNC, a write
 *     past the end), the bytes between the old and the new end do (zeros past the end).
 * The stat calls need nothing: write-back never changes a file's size.
 */
export function coherentWasiImport(wasiImport: Record<string, unknown>, engine: CoherentEngine, files: HostFiles): Record<string, unknown> {
  const space = engine.space;
  const cache = pageCacheOf(space);
  const wrapped: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(wasiImport)) {
    if (typeof value !== "function") {
      wrapped[name] = value;
      continue;
    }
    const call = value as (...args: unknown[]) => unknown;
    const kind = HOST_CALLS[name] ?? HostCall.NONE;
    // `arguments`, not a rest parameter: the call is passed on with its exact arity (node:wasi
    // checks it) and, while no file is mapped, without an array allocated per call.
    wrapped[name] = function (this: unknown): unknown {
      const args = arguments as unknown as unknown[];
      if (!space.hasFileMappings) return call.apply(this, args);
      cache.beforeCall();
      if (kind === HostCall.NONE) return call.apply(this, args);
      let file: MappableFile | null = null;
      let from = 0;
      let known = true;
      if (kind !== HostCall.RESIZE) {
        const candidate = files.fileOf(toNumber(args[0]));
        if (candidate !== null && candidate.regular && cache.tracks(identityOf(candidate))) file = candidate;
      }
      if (file !== null) {
        const memory = new DataView(space.bytes().buffer);
        if (kind === HostCall.READ_AT || kind === HostCall.WRITE_AT) from = toNumber(args[3]);
        else if (kind === HostCall.READ || kind === HostCall.WRITE) {
          const position = files.positionOf?.(toNumber(args[0])) ?? null;
          if (position === null) known = false;
          else from = position;
        } else known = false;
        if (kind === HostCall.READ || kind === HostCall.READ_AT) {
          if (known) cache.flushRange(file, from, from + iovecBytes(memory, toNumber(args[1]), toNumber(args[2])));
          else cache.flushAll(file);
        } else if (kind === HostCall.SYNC || !known) {
          cache.flushAll(file);
        }
      }
      const result = call.apply(this, args);
      if (kind === HostCall.WRITE || kind === HostCall.WRITE_AT) {
        if (file !== null && result === 0) {
          if (known) {
            const pointer = toNumber(args[kind === HostCall.WRITE ? 3 : 4]);
            const written = new DataView(space.bytes().buffer).getUint32(pointer, true);
            cache.refreshRange(file, from, from + written);
          } else {
            cache.refreshChanged(file);
          }
        }
        cache.refreshSizes();
      } else if (kind === HostCall.RESIZE) {
        cache.refreshSizes();
      }
      return result;
    };
  }
  return wrapped;
}

/**
 * The engine's `mman` imports, each reconciling shared mappings before it runs (and, during a
 * file mmap or mremap, flushing the file's mappings before reading it). While no file is
 * mapped, only a file mmap takes the slow path.
 */
export function coherentMmanImports<Engine extends CoherentEngine>(engine: Engine): Engine["imports"]["mman"] {
  const space = engine.space;
  const cache = pageCacheOf(space);
  const wrapped: WebAssembly.ModuleImports = {};
  for (const [name, value] of Object.entries(engine.imports.mman)) {
    const call = value as (a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown) => number;
    wrapped[name] =
      name === "mmap"
        ? (a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown): number =>
            space.hasFileMappings || ((d as number) & MapFlags.ANONYMOUS) === 0 ? cache.serve(() => call(a, b, c, d, e, f)) : call(a, b, c, d, e, f)
        : (a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown): number =>
            space.hasFileMappings ? cache.serve(() => call(a, b, c, d, e, f)) : call(a, b, c, d, e, f);
  }
  return wrapped as Engine["imports"]["mman"];
}

/** The file position of a browser_wasi_shim descriptor (OpenFile: file_pos; OPFS: position). */
function shimPosition(entry: unknown): number | null {
  const fd = entry as { file_pos?: unknown; position?: unknown } | undefined;
  const position = fd?.file_pos ?? fd?.position;
  return typeof position === "bigint" || typeof position === "number" ? Number(position) : null;
}

/** browser_wasi_shim's WASI object, as far as coherence reads it. */
export type ShimWasi = ShimFdTable & { wasiImport: object };

/**
 * Both import modules for browser_wasi_shim, coherent: spread the result into the import object
 * instead of `wasi.wasiImport` and `mman.imports`. `resolver`: how guest fds name files (by
 * default the shim's descriptor table, as shimFileResolver).
 *
 *   const { instance } = await WebAssembly.instantiate(bytes, coherentShimImports(wasi, mman));
 */
export function coherentShimImports<Engine extends CoherentEngine>(
  wasi: ShimWasi,
  engine: Engine,
  resolver: FileResolver = shimFileResolver(wasi),
): { wasi_snapshot_preview1: WebAssembly.ModuleImports; mman: Engine["imports"]["mman"] } {
  const files: HostFiles = {
    fileOf: (fd) => resolver.resolve(fd),
    positionOf: (fd) => (Number.isInteger(fd) && fd >= 0 && fd < wasi.fds.length ? shimPosition(wasi.fds[fd]) : null),
  };
  return {
    wasi_snapshot_preview1: coherentWasiImport(wasi.wasiImport as Record<string, unknown>, engine, files) as WebAssembly.ModuleImports,
    mman: coherentMmanImports(engine),
  };
}

/**
 * The same for instantiateWithMman (hosts/instantiate.ts): the host's import object, and a
 * copy of `mman` whose `mman` imports are the coherent ones (everything else is `mman`'s own).
 *
 *   const coherent = coherentShim(wasi, mman);
 *   await instantiateWithMman(bytes, coherent.hostImports, { mman: coherent.mman });
 */
export function coherentShim<Engine extends CoherentEngine>(
  wasi: ShimWasi,
  mman: Engine,
  resolver?: FileResolver,
): { hostImports: WebAssembly.Imports; mman: Engine } {
  const imports = coherentShimImports(wasi, mman, resolver);
  return {
    hostImports: { wasi_snapshot_preview1: imports.wasi_snapshot_preview1 },
    mman: { ...mman, imports: { ...mman.imports, mman: imports.mman } },
  };
}
