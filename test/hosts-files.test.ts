// File-backed mappings through browser_wasi_shim's descriptors (hosts/shim-files.ts), driven
// from inside a guest (fixtures/wat/host-reactor.wat: its exports call the mman imports and
// WASI's path_open / fd_close / fd_renumber). Write-back is checked in the shim File's bytes.
// node:wasi: ENODEV without a resolver, and a resolver of the caller's own.
import { readFileSync } from "node:fs";
import { ConsoleStdout, Directory, File, OpenFile, PreopenDirectory } from "@bjorn3/browser_wasi_shim";
import { beforeAll, describe, expect, it } from "vitest";
import { compileWat } from "../cli/wat.js";
import { runWithNodeWasi } from "../hosts/node-wasi.js";
import { runWithShim } from "../hosts/shim.js";
import { mappableFromShimFd, shimFileResolver } from "../hosts/shim-files.js";
import { Errno } from "../runtime/linux.js";
import type { MappableFile } from "../syscalls/file-mappings.js";

const PROT_READ = 1;
const PROT_RW = 3;
const MAP_SHARED = 0x01;
const MAP_PRIVATE = 0x02;
const MS_SYNC = 4;
/** WASI rights (wasi_snapshot_preview1): fd_read = 1 << 1, fd_write = 1 << 6. */
const RIGHTS_READ = 2n;
const RIGHTS_READ_WRITE = 66n;
/** Where the tests put path strings in guest memory (the fixture's scratch area). */
const PATH_AT = 256;

type Guest = {
  mmap(addr: number, len: number, prot: number, flags: number, fd: number, offset: bigint): number;
  munmap(addr: number, len: number): number;
  msync(addr: number, len: number, flags: number): number;
  store8(addr: number, value: number): void;
  load8(addr: number): number;
  open(path: number, len: number, rights: bigint): number;
  close(fd: number): number;
  renumber(from: number, to: number): number;
};

let reactorBytes: Uint8Array<ArrayBuffer>;
beforeAll(async () => {
  reactorBytes = await compileWat(readFileSync(new URL("../fixtures/wat/host-reactor.wat", import.meta.url), "utf8"), "host-reactor.wat");
});

/** Bytes 0..n-1 with a recognisable pattern (never zero). */
function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => ((i * 7 + seed) % 251) + 1);
}

/**
 * A guest with a preopened directory (fd 3) holding:
 *   a.txt 5000 bytes, b.txt 6000 bytes, ro.txt (read-only) 4096 bytes, sub/ (a directory).
 */
async function setup(pageSize = 4096) {
  const files = {
    a: new File(pattern(5000, 1)),
    b: new File(pattern(6000, 2)),
    ro: new File(pattern(4096, 3), { readonly: true }),
  };
  const original = { a: files.a.data.slice(), b: files.b.data.slice(), ro: files.ro.data.slice() };
  const root = new PreopenDirectory(
    "/",
    new Map<string, File | Directory>([
      ["a.txt", files.a],
      ["b.txt", files.b],
      ["ro.txt", files.ro],
      ["sub", new Directory(new Map())],
    ]),
  );
  const fds = [new OpenFile(new File([])), ConsoleStdout.lineBuffered(() => {}), ConsoleStdout.lineBuffered(() => {}), root];
  const result = await runWithShim(reactorBytes, { fds, mman: { pageSize } });
  const guest = result.instance.exports as unknown as Guest;
  const open = (path: string, rights = RIGHTS_READ_WRITE): number => {
    const bytes = new TextEncoder().encode(path);
    new Uint8Array(result.memory.buffer).set(bytes, PATH_AT);
    const fd = guest.open(PATH_AT, bytes.length, rights);
    expect(fd, `open ${path}`).toBeGreaterThan(3);
    return fd;
  };
  const read = (address: number, length: number): Uint8Array => new Uint8Array(result.memory.buffer, address, length).slice();
  const write = (address: number, bytes: Uint8Array): void => {
    for (let i = 0; i < bytes.length; i++) guest.store8(address + i, bytes[i]);
  };
  return { files, original, guest, open, read, write, mman: result.mman, wasi: result.wasi };
}

/**
 * Where the first mapping of a fresh instance goes: nothing is mapped and the break is at the
 * heap base, so the wilderness starts at the heap base rounded up to a page, and its low end
 * is taken first (docs/semantics.md, placement).
 */
function firstMapping(mman: { stats(): { heapBase: number }; pageSize: number }): number {
  return Math.ceil(mman.stats().heapBase / mman.pageSize) * mman.pageSize;
}

describe("MAP_PRIVATE file mappings", () => {
  it("copy the file's bytes from the offset; bytes past the end read as zeros; the file never changes", async () => {
    const t = await setup();
    const fd = t.open("a.txt");
    const whole = t.guest.mmap(0, 8192, PROT_RW, MAP_PRIVATE, fd, 0n);
    expect(whole).toBe(firstMapping(t.mman));
    expect(t.read(whole, 5000)).toEqual(t.original.a);
    expect(t.read(whole + 5000, 8192 - 5000)).toEqual(new Uint8Array(8192 - 5000));
    const tail = t.guest.mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 4096n);
    expect(t.read(tail, 5000 - 4096)).toEqual(t.original.a.subarray(4096));
    expect(t.read(tail + 5000 - 4096, 4096 - (5000 - 4096))).toEqual(new Uint8Array(4096 - (5000 - 4096)));
    // Private: changes stay in memory, on msync and on munmap.
    t.write(whole, new Uint8Array([0, 0, 0]));
    expect(t.guest.msync(whole, 8192, MS_SYNC)).toBe(0);
    expect(t.guest.munmap(whole, 8192)).toBe(0);
    expect(t.files.a.data).toEqual(t.original.a);
    t.mman.checkInvariants(true);
  });

  it("work at a 16 KiB page size, where the offset must be a multiple of 16 KiB", async () => {
    const t = await setup(16384);
    const fd = t.open("b.txt");
    expect(t.guest.mmap(0, 6000, PROT_READ, MAP_PRIVATE, fd, 4096n)).toBe(-Errno.EINVAL);
    const address = t.guest.mmap(0, 6000, PROT_READ, MAP_PRIVATE, fd, 0n);
    expect(address % 16384).toBe(0);
    expect(t.read(address, 6000)).toEqual(t.original.b);
    expect(t.read(address + 6000, 16384 - 6000)).toEqual(new Uint8Array(16384 - 6000));
  });

  it("of a read-only file may be writable (the copy is the guest's)", async () => {
    const t = await setup();
    const fd = t.open("ro.txt", RIGHTS_READ);
    const address = t.guest.mmap(0, 4096, PROT_RW, MAP_PRIVATE, fd, 0n);
    expect(address).toBe(firstMapping(t.mman));
    t.write(address, new Uint8Array([9, 9, 9]));
    expect(t.guest.munmap(address, 4096)).toBe(0);
    expect(t.files.ro.data).toEqual(t.original.ro);
  });
});

describe("MAP_SHARED file mappings", () => {
  it("write modified bytes back to the file on msync and on munmap, never extending it", async () => {
    const t = await setup();
    const fd = t.open("a.txt");
    const address = t.guest.mmap(0, 8192, PROT_RW, MAP_SHARED, fd, 0n);
    expect(address).toBe(firstMapping(t.mman));
    expect(t.read(address, 5000)).toEqual(t.original.a);

    t.write(address + 10, new TextEncoder().encode("synced"));
    expect(t.guest.msync(address, 8192, MS_SYNC)).toBe(0);
    const afterSync = t.original.a.slice();
    afterSync.set(new TextEncoder().encode("synced"), 10);
    expect(t.files.a.data).toEqual(afterSync);

    // Bytes past the end of the file (the rest of the last page) are not part of it.
    t.write(address + 4990, new TextEncoder().encode("unmapped-and-beyond-the-end"));
    expect(t.guest.munmap(address, 8192)).toBe(0);
    const afterUnmap = afterSync.slice();
    afterUnmap.set(new TextEncoder().encode("unmapped-a"), 4990);
    expect(t.files.a.data.length).toBe(5000);
    expect(t.files.a.data).toEqual(afterUnmap);
    t.mman.checkInvariants(true);
  });

  it("at an offset write back to that part of the file only", async () => {
    const t = await setup();
    const fd = t.open("b.txt");
    const address = t.guest.mmap(0, 4096, PROT_RW, MAP_SHARED, fd, 4096n);
    t.write(address, new Uint8Array([0xee, 0xee]));
    expect(t.guest.munmap(address, 4096)).toBe(0);
    const expected = t.original.b.slice();
    expected[4096] = 0xee;
    expected[4097] = 0xee;
    expect(t.files.b.data).toEqual(expected);
  });

  it("keep writing to the file that was mapped after its fd is closed and the number reused", async () => {
    const t = await setup();
    const fdA = t.open("a.txt");
    const address = t.guest.mmap(0, 4096, PROT_RW, MAP_SHARED, fdA, 0n);
    expect(address).toBe(firstMapping(t.mman));
    t.write(address, new TextEncoder().encode("for a.txt only"));
    // The guest gives a.txt's fd number to b.txt: fd_renumber closes the target fd first
    // (WASI requires both fds open, so there is no separate close).
    const fdB = t.open("b.txt");
    expect(t.guest.renumber(fdB, fdA)).toBe(0);
    expect(t.wasi.fds[fdB]).toBeUndefined();
    expect(t.guest.msync(address, 4096, MS_SYNC)).toBe(0);
    t.write(address + 100, new TextEncoder().encode("after msync"));
    expect(t.guest.munmap(address, 4096)).toBe(0);

    expect(t.files.b.data).toEqual(t.original.b);
    expect(new TextDecoder().decode(t.files.a.data.subarray(0, 14))).toBe("for a.txt only");
    expect(new TextDecoder().decode(t.files.a.data.subarray(100, 111))).toBe("after msync");
    // The reused number now maps b.txt.
    const second = t.guest.mmap(0, 4096, PROT_READ, MAP_SHARED, fdA, 0n);
    expect(t.read(second, 16)).toEqual(t.original.b.subarray(0, 16));
  });

  it("write back to the file after the shim replaces its data array (the guest appended to it)", async () => {
    const t = await setup();
    const fd = t.open("a.txt");
    const address = t.guest.mmap(0, 4096, PROT_RW, MAP_SHARED, fd, 0n);
    // fd_write past the end makes the shim allocate a new, longer data array.
    t.files.a.data = Uint8Array.from([...t.files.a.data, 1, 2, 3]);
    t.write(address, new Uint8Array([0x41]));
    expect(t.guest.munmap(address, 4096)).toBe(0);
    expect(t.files.a.data[0]).toBe(0x41);
    expect(t.files.a.data.length).toBe(5003);
  });
});

describe("file mapping errors", () => {
  it("EBADF for an fd that is not open (never opened, closed, or -1 without MAP_ANONYMOUS)", async () => {
    const t = await setup();
    expect(t.guest.mmap(0, 4096, PROT_READ, MAP_PRIVATE, 99, 0n)).toBe(-Errno.EBADF);
    expect(t.guest.mmap(0, 4096, PROT_READ, MAP_PRIVATE, -1, 0n)).toBe(-Errno.EBADF);
    const fd = t.open("a.txt");
    expect(t.guest.close(fd)).toBe(0);
    expect(t.guest.mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0n)).toBe(-Errno.EBADF);
    expect(t.mman.stats().errors.mmap).toBe(3);
  });

  it("EACCES for a writable shared mapping of a read-only file (read-only shared is fine)", async () => {
    const t = await setup();
    const fd = t.open("ro.txt", RIGHTS_READ);
    expect(t.guest.mmap(0, 4096, PROT_RW, MAP_SHARED, fd, 0n)).toBe(-Errno.EACCES);
    const address = t.guest.mmap(0, 4096, PROT_READ, MAP_SHARED, fd, 0n);
    expect(address).toBe(firstMapping(t.mman));
    // Protection is not enforced in wasm; a store there still never reaches the read-only file.
    t.write(address, new Uint8Array([7]));
    expect(t.guest.munmap(address, 4096)).toBe(0);
    expect(t.files.ro.data).toEqual(t.original.ro);
  });

  it("ENODEV for descriptors that are not regular files (a directory, stdout)", async () => {
    const t = await setup();
    expect(t.guest.mmap(0, 4096, PROT_READ, MAP_PRIVATE, 3, 0n)).toBe(-Errno.ENODEV);
    expect(t.guest.mmap(0, 4096, PROT_READ, MAP_PRIVATE, 1, 0n)).toBe(-Errno.ENODEV);
  });

  it("EINVAL for an offset that is not a multiple of the page size", async () => {
    const t = await setup();
    const fd = t.open("a.txt");
    expect(t.guest.mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 100n)).toBe(-Errno.EINVAL);
    expect(t.guest.mmap(0, 4096, PROT_READ, MAP_SHARED, fd, 4097n)).toBe(-Errno.EINVAL);
  });

  it("EOVERFLOW where offset plus length overflows", async () => {
    const t = await setup();
    const fd = t.open("a.txt");
    // Page offset 2^32 - 1 plus two pages passes 2^32 pages (mmap(2), EOVERFLOW).
    expect(t.guest.mmap(0, 8192, PROT_READ, MAP_PRIVATE, fd, 2n ** 44n - 4096n)).toBe(-Errno.EOVERFLOW);
    expect(t.guest.mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 2n ** 62n)).toBe(-Errno.EOVERFLOW);
    t.mman.checkInvariants();
  });

  it("ENODEV for every file mapping when file mappings are turned off (files: null)", async () => {
    const file = new File(pattern(100, 5));
    const fds = [new OpenFile(new File([])), ConsoleStdout.lineBuffered(() => {}), ConsoleStdout.lineBuffered(() => {}), new OpenFile(file)];
    const result = await runWithShim(reactorBytes, { fds, files: null });
    const guest = result.instance.exports as unknown as Guest;
    expect(guest.mmap(0, 4096, PROT_READ, MAP_PRIVATE, 3, 0n)).toBe(-Errno.ENODEV);
    expect(guest.mmap(0, 4096, PROT_READ, MAP_PRIVATE, 99, 0n)).toBe(-Errno.ENODEV);
  });
});

describe("shimFileResolver", () => {
  it("resolves every fd of one file to the same identity (the File, not the fd)", () => {
    const file = new File(pattern(10, 1));
    const other = new File(pattern(10, 2));
    const wasi = { fds: [undefined, new OpenFile(file), new OpenFile(file), new OpenFile(other)] };
    const resolver = shimFileResolver(wasi);
    const one = resolver.resolve(1) as MappableFile;
    expect(one.identity).toBe(file);
    expect(resolver.resolve(2)?.identity).toBe(file);
    expect(resolver.resolve(3)?.identity).toBe(other);
    expect(resolver.resolve(0)).toBeNull();
    expect(resolver.resolve(4)).toBeNull();
    expect(resolver.resolve(-1)).toBeNull();
    expect(one).toMatchObject({ readable: true, writable: true, regular: true });
    expect(one.size()).toBe(10);
  });

  it("reads and writes within the file only", () => {
    const file = new File(new Uint8Array([1, 2, 3, 4, 5]));
    const mappable = mappableFromShimFd(new OpenFile(file));
    const target = new Uint8Array(8);
    expect(mappable.read(3, target)).toBe(2);
    expect([...target]).toEqual([4, 5, 0, 0, 0, 0, 0, 0]);
    expect(mappable.read(5, target)).toBe(0);
    mappable.write(3, new Uint8Array([9, 9, 9, 9]));
    expect([...file.data]).toEqual([1, 2, 3, 9, 9]);
    const readonly = mappableFromShimFd(new OpenFile(new File([1, 2], { readonly: true })));
    expect(readonly.writable).toBe(false);
  });

  it("maps OPFS files through their sync access handle", () => {
    const store = new Uint8Array([10, 20, 30, 40]);
    const handle = {
      getSize: () => store.length,
      read: (buffer: Uint8Array, { at }: { at: number }) => {
        const part = store.subarray(at, at + buffer.length);
        buffer.set(part);
        return part.length;
      },
      write: (buffer: Uint8Array, { at }: { at: number }) => {
        store.set(buffer, at);
        return buffer.length;
      },
    };
    const opfsFile = { handle, readonly: false };
    const mappable = mappableFromShimFd({ file: opfsFile, position: 0n });
    expect(mappable.identity).toBe(opfsFile);
    expect(mappable.regular).toBe(true);
    const target = new Uint8Array(3);
    expect(mappable.read(2, target)).toBe(2);
    expect([...target]).toEqual([30, 40, 0]);
    mappable.write(3, new Uint8Array([1, 2]));
    expect([...store]).toEqual([10, 20, 30, 1]);
  });
});

describe("node:wasi", () => {
  it("file mappings fail with ENODEV unless the caller supplies a resolver", async () => {
    const without = await runWithNodeWasi(reactorBytes);
    const guest = without.instance.exports as unknown as Guest;
    expect(guest.mmap(0, 4096, PROT_READ, MAP_PRIVATE, 0, 0n)).toBe(-Errno.ENODEV);
    expect(guest.mmap(0, 4096, PROT_READ, MAP_PRIVATE, 3, 0n)).toBe(-Errno.ENODEV);

    // A resolver of the caller's own: fd 7 is a file the caller opened (here: in memory).
    const file = new File(pattern(300, 9));
    const withResolver = await runWithNodeWasi(reactorBytes, { files: { resolve: (fd) => (fd === 7 ? mappableFromShimFd(new OpenFile(file)) : null) } });
    const mapped = withResolver.instance.exports as unknown as Guest;
    const address = mapped.mmap(0, 4096, PROT_RW, MAP_SHARED, 7, 0n);
    expect(address).toBe(firstMapping(withResolver.mman));
    expect(new Uint8Array(withResolver.memory.buffer, address, 300)).toEqual(pattern(300, 9));
    mapped.store8(address, 0);
    expect(mapped.munmap(address, 4096)).toBe(0);
    expect(file.data[0]).toBe(0);
    expect(mapped.mmap(0, 4096, PROT_READ, MAP_PRIVATE, 8, 0n)).toBe(-Errno.EBADF);
  });
});
