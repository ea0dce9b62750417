// Coherence of MAP_SHARED file mappings with the file's reads and writes, through the library
// API (runWithShim with browser_wasi_shim's in-memory files). fixtures/wat/coherence-guest.wat
// runs each scenario inside the guest, checking what it sees after every step (its result is
// the number of the first failed check); the test then checks the file's bytes after the exit
// sync that `wasi-mman run` does (msync of every live file mapping).
//
// The cases of issue 11: lost write (a read-only shared mapping, then pwrite/write of the
// file), lost store (two shared mappings of one file), stale remap (MAP_FIXED over a shared
// mapping of the same file), truncation and extension by the host, and private mappings.
import { readFileSync } from "node:fs";
import { ConsoleStdout, File, OpenFile, PreopenDirectory, type Inode } from "@bjorn3/browser_wasi_shim";
import { beforeAll, describe, expect, it } from "vitest";
import { compileWat } from "../cli/wat.js";
import { runWithShim } from "../hosts/shim.js";
import { shimFileResolver } from "../hosts/shim-files.js";
import { Ms } from "../runtime/linux.js";
import type { Mman } from "../syscalls/create-mman.js";
import { sharedFileMappings } from "../syscalls/file-mappings.js";
import { expectedFile, pattern, SCENARIOS, type Scenario } from "./helpers/coherence.js";

type Guest = Record<`scenario_${Scenario}`, () => number> & {
  open(truncate: number): number;
  pwrite(fd: number, buf: number, len: number, offset: bigint): number;
  pread(fd: number, buf: number, len: number, offset: bigint): number;
};

const PAGE_SIZES = [4096, 65536] as const;

let guestBytes: Uint8Array<ArrayBuffer>;
beforeAll(async () => {
  guestBytes = await compileWat(readFileSync(new URL("../fixtures/wat/coherence-guest.wat", import.meta.url), "utf8"), "coherence-guest.wat");
});

/** What `wasi-mman run` does at exit: msync every live file mapping (cli/run.ts). */
function exitSync(mman: Mman): void {
  for (const mapping of mman.mappings()) {
    if (mapping.file !== null) mman.calls.msync(mapping.address, mapping.length, Ms.SYNC);
  }
}

async function start(pageSize: number) {
  const root = new PreopenDirectory("/", new Map<string, Inode>());
  const fds = [new OpenFile(new File([])), ConsoleStdout.lineBuffered(() => {}), ConsoleStdout.lineBuffered(() => {}), root];
  const result = await runWithShim(guestBytes, { fds, mman: { pageSize, debug: true }, run: "reactor" });
  const guest = result.instance.exports as unknown as Guest;
  const file = (): Uint8Array => (root.dir.contents.get("f") as File).data;
  return { guest, mman: result.mman, file, root, memory: result.memory };
}

for (const pageSize of PAGE_SIZES) {
  describe(`coherent shared file mappings, ${pageSize / 1024} KiB pages (runWithShim)`, () => {
    for (const scenario of Object.keys(SCENARIOS) as Scenario[]) {
      it(SCENARIOS[scenario], async () => {
        const t = await start(pageSize);
        const failedCheck = t.guest[`scenario_${scenario}`]();
        expect(failedCheck, "the guest's first failed check").toBe(0);
        exitSync(t.mman);
        expect(t.file()).toEqual(expectedFile(scenario, pageSize));
        t.mman.checkInvariants(true);
      });
    }
  });
}

describe("the coherence model, seen from JavaScript", () => {
  it("a write-back writes only the bytes the guest changed, never stale bytes over a host write the layer did not see", async () => {
    const t = await start(4096);
    const fd = t.guest.open(1);
    const bytes = new Uint8Array(t.memory.buffer);
    bytes.set(pattern(8192), 65536);
    expect(t.guest.pwrite(fd, 65536, 8192, 0n)).toBe(8192);
    const address = t.mman.calls.mmap(0, 8192, 3, 0x01, fd, 0);
    expect(address).toBeGreaterThan(0);
    // The embedding changes the file behind the host's back (not through a WASI call)...
    const data = t.file();
    data.set([0xaa, 0xbb], 500);
    // ...and the guest stores elsewhere: write-back puts the guest's byte only.
    new Uint8Array(t.memory.buffer)[address + 7000] = 0xcc;
    expect(t.mman.calls.munmap(address, 8192)).toBe(0);
    const expected = pattern(8192);
    expected.set([0xaa, 0xbb], 500);
    expected[7000] = 0xcc;
    expect(t.file()).toEqual(expected);
  });

  it("sharedFileMappings lists every live MAP_SHARED mapping of a file with its pages and offset", async () => {
    const t = await start(4096);
    const fd = t.guest.open(1);
    new Uint8Array(t.memory.buffer).set(pattern(12288), 65536);
    expect(t.guest.pwrite(fd, 65536, 12288, 0n)).toBe(12288);
    const a = t.mman.calls.mmap(0, 8192, 3, 0x01, fd, 0);
    const b = t.mman.calls.mmap(0, 4096, 1, 0x01, fd, 8192);
    const privateOne = t.mman.calls.mmap(0, 4096, 3, 0x02, fd, 0);
    expect(Math.min(a, b, privateOne)).toBeGreaterThan(0);
    const identity = t.root.dir.contents.get("f") as object;
    const found = sharedFileMappings(t.mman.space, identity).map((m) => ({ address: m.start * 4096, pages: m.pages, fileOffset: m.fileOffset }));
    expect(found.sort((x, y) => x.fileOffset - y.fileOffset)).toEqual([
      { address: a, pages: 2, fileOffset: 0 },
      { address: b, pages: 1, fileOffset: 8192 },
    ]);
  });

  it("costs nothing but a counter check while no file is mapped: the file behind an fd is not even looked up", async () => {
    const root = new PreopenDirectory("/", new Map<string, Inode>());
    const fds = [new OpenFile(new File([])), ConsoleStdout.lineBuffered(() => {}), ConsoleStdout.lineBuffered(() => {}), root];
    let lookups = 0;
    const files = { resolve: (fd: number) => (lookups++, shim.resolve(fd)) };
    const shim = shimFileResolver({ fds });
    const result = await runWithShim(guestBytes, { fds, files, run: "reactor" });
    const guest = result.instance.exports as unknown as Guest;
    const fd = guest.open(1);
    new Uint8Array(result.memory.buffer).set(pattern(4096), 65536);
    expect(guest.pwrite(fd, 65536, 4096, 0n)).toBe(4096);
    expect(guest.pread(fd, 4096, 16, 0n)).toBe(16);
    expect(lookups).toBe(0);
    // With a file mapped, the host's file calls look at which file an fd names.
    expect(result.mman.calls.mmap(0, 4096, 1, 0x01, fd, 0)).toBeGreaterThan(0);
    const mmapLookups = lookups;
    expect(guest.pwrite(fd, 65536, 8, 100n)).toBe(8);
    expect(lookups).toBeGreaterThan(mmapLookups);
  });
});
