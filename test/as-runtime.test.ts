// The AssemblyScript runtime variant (guest/as/rt.ts): an ordinary AS program with strings,
// arrays and a Map (fixtures/as/strings.ts), compiled with `--runtime ./guest/as/rt`, runs
// with every object coming from the two-tier allocator.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadAs } from "../scripts/build-as.js";
import { ShadowHeap } from "../guest/as/checker.js";
import { startAsGuest, type AsGuest } from "../guest/as/host.js";
import { agreeAfterEach } from "./oracle/check.js";

// Every call the program makes, checked by the page model (test/oracle) through the trace hook.
const watch = agreeAfterEach(afterEach);

interface StringsProgram {
  run(count: number): number;
  exercise_heap(size: number): number;
}

// An AS string: UTF-16 code units, byte length in the object header's rtSize (ptr - 4).
function readString(memory: WebAssembly.Memory, ptr: number): string {
  const view = new DataView(memory.buffer);
  const bytes = view.getUint32(ptr - 4, true);
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, bytes / 2));
}

function expected(count: number): string {
  const words = Array.from({ length: count }, (_, i) => `item-${i}`);
  return `${words.slice(count - 3).join(",")}|6|399990000.0`;
}

let bytes: Uint8Array<ArrayBuffer>;
let debugBytes: Uint8Array<ArrayBuffer>;
beforeAll(async () => {
  bytes = await loadAs("strings");
  debugBytes = await loadAs("strings-debug");
});

describe.each([4096, 16384, 65536])("AS runtime variant, %i-byte pages", (pageSize) => {
  let guest: AsGuest<StringsProgram>;

  it("runs a program with strings, arrays and a Map on brk and mmap", async () => {
    guest = await startAsGuest<StringsProgram>(bytes, { pageSize, keepTrace: true });
    watch(guest.mman);
    const result = guest.exports.run(500);
    expect(readString(guest.memory, result)).toBe(expected(500));
    const brkGrowths = guest.trace.filter((record) => record.call === "brk" && record.args[0] !== 0 && record.result === record.args[0]);
    // (How many growths depends on the program's allocations, not on the host.) The last one
    // is where the break stands.
    expect(brkGrowths.length).toBeGreaterThan(0);
    expect(brkGrowths.at(-1)?.result).toBe(guest.mman.stats().brk);
    // The 320000-byte Float64Array buffer is above the threshold: a mapping of its own.
    const bigMaps = guest.trace.filter((record) => record.call === "mmap" && record.args[1]! >= 320000);
    expect(bigMaps).toHaveLength(1);
    // Every byte came through the host: the program never grew memory itself.
    expect(guest.mman.stats().foreignBytes).toBe(0);
    guest.mman.checkInvariants();
  });

  it("serves heap.alloc/heap.realloc/heap.free from the allocator", async () => {
    guest = await startAsGuest<StringsProgram>(bytes, { pageSize, keepTrace: true });
    watch(guest.mman);
    expect(guest.exports.exercise_heap(200000)).toBe(1);
    const calls = guest.trace.map((record) => record.call).filter((call) => call !== "pagesize" && call !== "brk");
    // 200000 bytes: mmap; doubled by heap.realloc: mremap; heap.free: munmap.
    expect(calls).toEqual(["mmap", "mremap", "munmap"]);
    expect(guest.mman.stats().liveMappings).toBe(0);
  });

  it("passes the checker: no overlap, no bad free in a whole program", async () => {
    const checker = new ShadowHeap();
    const debug = await startAsGuest<StringsProgram>(debugBytes, { pageSize, imports: checker.imports() });
    watch(debug.mman);
    const result = debug.exports.run(300);
    expect(readString(debug.memory, result)).toBe(expected(300));
    expect(checker.allocations).toBeGreaterThan(600); // two strings per word, at least
    expect(checker.findings).toEqual([]);
  });
});
