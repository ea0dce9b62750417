// The debug build of the AssemblyScript allocator reports each allocation and free to the
// host's shadow map (guest/as/checker.ts), which flags overlaps, double frees and frees of
// unknown pointers. Each is provoked here through the real module.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadAs } from "../scripts/build-as.js";
import { ShadowHeap } from "../guest/as/checker.js";
import { startAsGuest, type AllocExports, type AsGuest } from "../guest/as/host.js";
import { agreeAfterEach } from "./oracle/check.js";

// The memory calls behind every allocation, checked by the page model (test/oracle).
const watch = agreeAfterEach(afterEach);

let debugBytes: Uint8Array<ArrayBuffer>;
beforeAll(async () => {
  debugBytes = await loadAs("alloc-debug");
});

async function start(checker: ShadowHeap): Promise<AsGuest<AllocExports>> {
  const guest = await startAsGuest<AllocExports>(debugBytes, { pageSize: 4096, imports: checker.imports() });
  watch(guest.mman);
  return guest;
}

describe("allocator checker (debug build + host shadow map)", () => {
  it("sees every allocation, reallocation and free of a clean run and flags nothing", async () => {
    const checker = new ShadowHeap();
    const { exports } = await start(checker);
    const a = exports.malloc(100);
    const b = exports.calloc(10, 30);
    const c = exports.aligned_alloc(256, 1000);
    const d = exports.malloc(200000);
    expect(checker.liveBlocks).toBe(4);
    expect(checker.block(b)?.size).toBe(300);
    expect(checker.block(d)?.usable).toBe(exports.malloc_usable_size(d));
    const a2 = exports.realloc(a, 5000);
    expect(checker.block(a)).toBeUndefined();
    expect(checker.block(a2)?.size).toBe(5000);
    for (const ptr of [a2, b, c, d]) exports.free(ptr);
    expect(checker.liveBlocks).toBe(0);
    expect(checker.allocations).toBe(4);
    expect(checker.frees).toBe(4);
    expect(checker.findings).toEqual([]);
  });

  it("flags a double free, and the guest leaves its heap alone", async () => {
    const checker = new ShadowHeap();
    const { exports } = await start(checker);
    const ptr = exports.malloc(40);
    exports.free(ptr);
    exports.free(ptr);
    expect(checker.findings.map((finding) => [finding.kind, finding.ptr])).toEqual([["double-free", ptr]]);
    expect(exports.heap_check()).toBe(0);
    // Only one block of that size went back: two allocations get two different blocks.
    const first = exports.malloc(40);
    const second = exports.malloc(40);
    expect(first).not.toBe(second);
    expect(checker.findings).toHaveLength(1);
  });

  it("flags a double free of a mapped block and vetoes the second munmap", async () => {
    const checker = new ShadowHeap();
    const guest = await startAsGuest<AllocExports>(debugBytes, { pageSize: 4096, imports: checker.imports(), keepTrace: true });
    watch(guest.mman);
    const ptr = guest.exports.malloc(300000);
    const other = guest.exports.malloc(300000);
    guest.exports.free(ptr);
    guest.exports.free(ptr);
    expect(checker.findings.map((finding) => [finding.kind, finding.ptr])).toEqual([["double-free", ptr]]);
    expect(guest.trace.filter((record) => record.call === "munmap")).toHaveLength(1);
    expect(guest.mman.stats().liveMappings).toBe(1);
    expect(checker.block(other)).toMatchObject({ ptr: other, size: 300000 });
  });

  it("flags a free of a pointer it never handed out, and vetoes it", async () => {
    const checker = new ShadowHeap();
    const { exports } = await start(checker);
    const live = exports.malloc(64);
    exports.free(1024); // aligned, inside the module's data: not ours
    exports.free(live + 16); // inside a live block
    expect(checker.findings.map((finding) => finding.kind)).toEqual(["unknown-free", "unknown-free"]);
    expect(exports.realloc(live + 32, 10)).toBe(0); // realloc goes through the same check
    expect(checker.findings).toHaveLength(3);
    expect(exports.heap_check()).toBe(0);
  });

  it("flags an overlap when a bad free is let through and its memory is handed out again", async () => {
    // veto off: the guest acts on the bad free as a release build would.
    const checker = new ShadowHeap(false);
    const guest = await start(checker);
    const { exports } = guest;
    const outer = exports.malloc(200);
    // Forge a 32-byte block header inside `outer`, then free the forged block.
    const forged = outer + 64;
    new DataView(guest.memory.buffer).setUint32(forged - 4, 32, true);
    exports.free(forged);
    expect(checker.findings.map((finding) => finding.kind)).toEqual(["unknown-free"]);
    const victim = exports.malloc(20); // same size class: the forged block comes back
    expect(victim).toBe(forged);
    expect(checker.findings[1]).toMatchObject({ kind: "overlap", ptr: forged, other: outer });
  });
});
