// Trace formatting (hosts/trace-format.ts) and the tracing hook for library users: the same
// record the CLI writes, for every call made through the `mman` imports.
import { describe, expect, it } from "vitest";
import { straceLine, traceJsonLine } from "../hosts/trace-format.js";
import { createMman } from "../index.js";
import type { TraceRecord } from "../syscalls/calls.js";
import { ArrayLinearMemory } from "../runtime/memory.js";

function record(call: TraceRecord["call"], args: number[], result: number, errno: string | null = null): TraceRecord {
  return { seq: 7, call, args, result, errno, time: 12.3456789, durationUs: 0.123456 };
}

describe("straceLine", () => {
  it("names flags, prints addresses in hex, and failures as -1 ERRNO", () => {
    expect(straceLine(record("mmap", [0, 131072, 3, 0x22, -1, 0], 0x1234000))).toBe(
      "mmap(0, 131072, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x1234000",
    );
    expect(straceLine(record("mmap", [0, 1 << 30, 3, 0x22, -1, 0], -12, "ENOMEM"))).toBe(
      "mmap(0, 1073741824, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM",
    );
    expect(straceLine(record("mmap", [0x20000, 4096, 0, 0x100012, 5, 8192], 0x20000))).toBe(
      "mmap(0x20000, 4096, PROT_NONE, MAP_PRIVATE|MAP_FIXED|MAP_FIXED_NOREPLACE, 5, 8192) = 0x20000",
    );
    expect(straceLine(record("mmap", [0, 4096, 1, 0x03 | 0x8000 | 0x4000, 3, 0], 0x30000))).toBe(
      "mmap(0, 4096, PROT_READ, MAP_SHARED_VALIDATE|MAP_NORESERVE|MAP_POPULATE, 3, 0) = 0x30000",
    );
    // Unknown bits are shown in hex rather than dropped.
    expect(straceLine(record("mmap", [0, 4096, 9, 0x01 | 0x40, 3, 0], -22, "EINVAL"))).toBe(
      "mmap(0, 4096, PROT_READ|0x8, MAP_SHARED|0x40, 3, 0) = -1 EINVAL",
    );
  });

  it("formats every call", () => {
    expect(straceLine(record("brk", [0], 0x10000))).toBe("brk(0) = 0x10000");
    expect(straceLine(record("brk", [0x7fff0000], 0x10000))).toBe("brk(0x7fff0000) = 0x10000");
    expect(straceLine(record("munmap", [0x20000, 8192], 0))).toBe("munmap(0x20000, 8192) = 0");
    expect(straceLine(record("mremap", [0x20000, 4096, 8192, 3, 0x40000], 0x40000))).toBe(
      "mremap(0x20000, 4096, 8192, MREMAP_MAYMOVE|MREMAP_FIXED, 0x40000) = 0x40000",
    );
    expect(straceLine(record("madvise", [0x20000, 4096, 4], 0))).toBe("madvise(0x20000, 4096, MADV_DONTNEED) = 0");
    expect(straceLine(record("madvise", [0x20000, 4096, 99], -22, "EINVAL"))).toBe("madvise(0x20000, 4096, 99) = -1 EINVAL");
    expect(straceLine(record("mprotect", [0x20000, 4096, 5], 0))).toBe("mprotect(0x20000, 4096, PROT_READ|PROT_EXEC) = 0");
    expect(straceLine(record("msync", [0x20000, 4096, 6], 0))).toBe("msync(0x20000, 4096, MS_INVALIDATE|MS_SYNC) = 0");
    expect(straceLine(record("pagesize", [], 16384))).toBe("pagesize() = 16384");
    // Addresses above 2 GiB stay unsigned.
    expect(straceLine(record("mmap", [0, 4096, 3, 0x22, -1, 0], 0x80000000))).toMatch(/= 0x80000000$/);
  });
});

describe("traceJsonLine", () => {
  it("writes the record's fields in a fixed order, times rounded to nanoseconds", () => {
    const line = traceJsonLine(record("mmap", [0, 4096, 3, 0x22, -1, 0], -12, "ENOMEM"));
    expect(line).toBe('{"seq":7,"call":"mmap","args":[0,4096,3,34,-1,0],"result":-12,"errno":"ENOMEM","time":12.346,"durationUs":0.123}');
  });
});

describe("the trace hook", () => {
  it("receives a record for every call through the imports, with errno names, and can be swapped", () => {
    const seen: TraceRecord[] = [];
    const mman = createMman({ trace: (r) => seen.push(r) });
    mman.attach({ memory: new ArrayLinearMemory(1, 64), heapBase: 4096 });
    const { mmap, munmap } = mman.imports.mman;
    const address = mmap(0, 8192, 3, 0x22, -1, 0n);
    expect(munmap(address, 8192)).toBe(0);
    expect(mmap(0, 4096, 3, 0x22, -1, 100n)).toBe(-22);
    expect(seen.map((r) => [r.seq, r.call, r.errno])).toEqual([
      [1, "mmap", null],
      [2, "munmap", null],
      [3, "mmap", "EINVAL"],
    ]);
    expect(straceLine(seen[1])).toBe(`munmap(0x${address.toString(16)}, 8192) = 0`);
    mman.setTrace(null);
    mmap(0, 4096, 3, 0x22, -1, 0n);
    expect(seen).toHaveLength(3);
  });
});
