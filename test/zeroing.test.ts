/**
 * runtime/zeroing.ts: both zeroers against one oracle (expectedClear, a byte loop written for
 * clarity) that gives the memory after clear() and the count it must return (the spans from
 * the first non-zero word of each 4 KiB block to its end). Zeros written over zeros leave no trace
 * in the bytes, so that nothing more is written is checked where it matters, on the process's
 * resident memory after clearing never-touched pages.
 * Seeds: every property run prints its seed; ZEROING_SEED=<seed> replays it.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsZeroer, wasmZeroer, type Zeroer } from "../runtime/zeroing.js";
import { ZEROER_SHARED_WASM, ZEROER_WASM } from "../runtime/zeroer-wasm.js";
import { buildZeroer } from "../scripts/build-zeroer.js";
import { watToWasm } from "./helpers/wat.js";

const WASM_PAGE = 65536;
const PAGE_SIZES = [4096, 8192, 16384, 32768, 65536];
const SEED = process.env.ZEROING_SEED === undefined ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0 : Number(process.env.ZEROING_SEED);
const RUNS = Number(process.env.ZEROING_RUNS ?? 150);

interface ZeroerKind {
  readonly name: string;
  make(memory: WebAssembly.Memory): Zeroer;
}

const ZEROERS: readonly ZeroerKind[] = [
  { name: "jsZeroer", make: () => jsZeroer },
  {
    name: "wasmZeroer",
    make(memory) {
      // Node 20 has SIMD and threads: null here would be a bug, not a missing feature.
      const zeroer = wasmZeroer(memory);
      if (zeroer === null) throw new Error("wasmZeroer: null on an engine with SIMD");
      return zeroer;
    },
  },
];

/** The oracle: `before` with [from, to) zeroed, and the bytes clear() must say it wrote. */
function expectedClear(before: Uint8Array, from: number, to: number, _pageSize: number): { after: Uint8Array; written: number } {
  let written = 0;
  for (let block = from; block < to; block += 4096) {
    let first = -1;
    for (let i = block; i < block + 4096; i++) {
      if (before[i] !== 0) {
        first = i;
        break;
      }
    }
    if (first < 0) continue;
    // Whole 32-bit words, counted from the block's start, to the block's end.
    written += block + 4096 - (block + Math.floor((first - block) / 4) * 4);
  }
  const after = before.slice();
  after.fill(0, from, to);
  return { after, written };
}

function firstDifference(actual: Uint8Array, expected: Uint8Array): number {
  for (let i = 0; i < expected.length; i++) if (actual[i] !== expected[i]) return i;
  return -1;
}

/** Runs clear() and checks every byte of `bytes` and the count against the oracle. */
function checkClear(zeroer: Zeroer, bytes: Uint8Array, from: number, to: number, pageSize: number): void {
  const before = bytes.slice();
  const written = zeroer.clear(bytes, from, to, pageSize);
  const model = expectedClear(before, from, to, pageSize);
  const at = firstDifference(bytes, model.after);
  expect(at, `byte ${at}: ${bytes[at]} where ${model.after[at]} was due (range ${from}..${to}, page ${pageSize})`).toBe(-1);
  expect(written).toBe(model.written);
}

function memoryOf(bytes: number, shared = false): WebAssembly.Memory {
  const pages = Math.ceil(bytes / WASM_PAGE);
  return new WebAssembly.Memory({ initial: pages, maximum: Math.max(pages, 1), shared });
}

/** -0.0 as a float64 at byte `at` (little-endian: only its last byte, 0x80, is non-zero). */
function writeNegativeZero64(bytes: Uint8Array, at: number): void {
  new DataView(bytes.buffer, bytes.byteOffset).setFloat64(at, -0, true);
}

/** Bytes that each test surrounds its range with: they must come through unchanged. */
function fillOutside(bytes: Uint8Array, from: number, to: number): void {
  bytes.fill(0x5a, 0, from);
  bytes.fill(0xa5, to);
}

type PageContent =
  | { kind: "zero" }
  | { kind: "full"; seed: number; zeroEvery: number }
  | { kind: "bytes"; writes: readonly (readonly [number, number])[] }
  | { kind: "negativeZero"; slots: readonly number[] }
  | { kind: "edges"; which: readonly number[] };

const contentArb: fc.Arbitrary<PageContent> = fc.oneof(
  fc.constant({ kind: "zero" as const }),
  fc.record({ kind: fc.constant("full" as const), seed: fc.nat(), zeroEvery: fc.integer({ min: 0, max: 9 }) }),
  fc.record({
    kind: fc.constant("bytes" as const),
    writes: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }),
  }),
  fc.record({ kind: fc.constant("negativeZero" as const), slots: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant("edges" as const), which: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }) }),
);

/** Offsets where a word, a 16-byte vector, a 64-byte block or the page begins or ends. */
function edgeOffsets(pageSize: number): number[] {
  return [0, 1, 2, 3, 4, 15, 16, 63, 64, 65, pageSize / 2 - 1, pageSize / 2, pageSize - 65, pageSize - 64, pageSize - 16, pageSize - 5, pageSize - 4, pageSize - 1];
}

function writeContent(bytes: Uint8Array, page: number, pageSize: number, content: PageContent): void {
  switch (content.kind) {
    case "zero":
      return;
    case "full": {
      let state = content.seed | 1;
      for (let i = 0; i < pageSize; i++) {
        state = (Math.imul(state, 1103515245) + 12345) | 0;
        bytes[page + i] = content.zeroEvery > 0 && i % content.zeroEvery === 0 ? 0 : (state >>> 24) | 1;
      }
      return;
    }
    case "bytes":
      for (const [offset, value] of content.writes) bytes[page + (offset % pageSize)] = value;
      return;
    case "negativeZero":
      for (const slot of content.slots) writeNegativeZero64(bytes, page + (slot % (pageSize / 8)) * 8);
      return;
    case "edges": {
      const offsets = edgeOffsets(pageSize);
      for (const index of content.which) bytes[page + offsets[index % offsets.length]] = 0x80;
      return;
    }
  }
}

const layoutArb = fc.record({
  pageSize: fc.constantFrom(...PAGE_SIZES),
  pages: fc.array(contentArb, { minLength: 1, maxLength: 10 }),
  fromPage: fc.nat(),
  toPage: fc.nat(),
  shared: fc.boolean(),
});

describe.each(ZEROERS)("$name", (kind) => {
  it("matches the oracle on random page contents and ranges (all page sizes, shared or not)", () => {
    const seed = SEED + ZEROERS.indexOf(kind);
    console.log(`zeroing ${kind.name}: seed=${seed} (replay: ZEROING_SEED=${SEED})`);
    fc.assert(
      fc.property(layoutArb, (layout) => {
        const { pageSize, pages } = layout;
        const memory = memoryOf(pages.length * pageSize, layout.shared);
        const bytes = new Uint8Array(memory.buffer, 0, pages.length * pageSize);
        pages.forEach((content, index) => writeContent(bytes, index * pageSize, pageSize, content));
        const a = layout.fromPage % (pages.length + 1);
        const b = layout.toPage % (pages.length + 1);
        checkClear(kind.make(memory), bytes, Math.min(a, b) * pageSize, Math.max(a, b) * pageSize, pageSize);
      }),
      { seed, numRuns: RUNS },
    );
  });

  it.each(PAGE_SIZES)("clears a single byte at every page edge (page %i)", (pageSize) => {
    // Three pages: the byte lies in the first, the middle or the last page of the range, and
    // the pages around the range are non-zero and must stay so.
    const memory = memoryOf(5 * pageSize);
    const zeroer = kind.make(memory);
    const bytes = new Uint8Array(memory.buffer, 0, 5 * pageSize);
    for (const page of [1, 2, 3]) {
      for (const offset of edgeOffsets(pageSize)) {
        fillOutside(bytes, pageSize, 4 * pageSize);
        bytes[page * pageSize + offset] = 0x01;
        checkClear(zeroer, bytes, pageSize, 4 * pageSize, pageSize);
        expect(bytes[pageSize - 1]).toBe(0x5a);
        expect(bytes[4 * pageSize]).toBe(0xa5);
      }
    }
  });

  it.each(PAGE_SIZES)("clears the patterns of -0.0 and of other values equal to zero as floats (page %i)", (pageSize) => {
    const memory = memoryOf(2 * pageSize);
    const zeroer = kind.make(memory);
    const bytes = new Uint8Array(memory.buffer, 0, 2 * pageSize);
    const view = new DataView(memory.buffer);
    for (const at of [0, 8, 56, pageSize / 2, pageSize - 8]) {
      writeNegativeZero64(bytes, at);
      checkClear(zeroer, bytes, 0, pageSize, pageSize);
      view.setFloat32(pageSize + at, -0, true);
      checkClear(zeroer, bytes, pageSize, 2 * pageSize, pageSize);
      // A denormal's lowest bit alone, and a sign bit in the middle of a vector.
      view.setUint8(at + 1, 0x01);
      view.setUint8(pageSize + at + 3, 0x80);
      checkClear(zeroer, bytes, 0, 2 * pageSize, pageSize);
    }
  });

  it.each(PAGE_SIZES)("clears ranges of many pages: first and last byte, full pages in a row, gaps (page %i)", (pageSize) => {
    const pages = Math.max(8, (4 * 1024 * 1024) / pageSize);
    const memory = memoryOf((pages + 2) * pageSize);
    const zeroer = kind.make(memory);
    const bytes = new Uint8Array(memory.buffer, 0, (pages + 2) * pageSize);
    const from = pageSize;
    const to = (pages + 1) * pageSize;

    fillOutside(bytes, from, to);
    bytes[from] = 1;
    bytes[to - 1] = 1;
    checkClear(zeroer, bytes, from, to, pageSize);

    // Fully written pages, in runs the zeroers merge into one write, with zero pages and a
    // one-word page between the runs.
    fillOutside(bytes, from, to);
    bytes.fill(0xff, from, from + 3 * pageSize);
    bytes[from + 4 * pageSize] = 7;
    bytes.fill(0x11, from + 5 * pageSize, to - pageSize);
    bytes.fill(0x22, to - pageSize + 4, to);
    checkClear(zeroer, bytes, from, to, pageSize);

    // Everything non-zero: the count is the whole range.
    bytes.fill(0x33);
    expect(zeroer.clear(bytes, from, to, pageSize)).toBe(to - from);
    expect(bytes[from - 1]).toBe(0x33);
    expect(bytes[to]).toBe(0x33);
    expect(bytes.subarray(from, to).every((byte) => byte === 0)).toBe(true);
  });

  it("treats an empty range and an all-zero range as nothing to write", () => {
    const memory = memoryOf(WASM_PAGE);
    const zeroer = kind.make(memory);
    const bytes = new Uint8Array(memory.buffer);
    bytes.fill(9, 0, 4096);
    expect(zeroer.clear(bytes, 4096, 4096, 4096)).toBe(0);
    expect(zeroer.clear(bytes, 4096, WASM_PAGE, 4096)).toBe(0);
    expect(bytes[4095]).toBe(9);
  });

  it("clears through views that start inside the memory, at any byte offset", () => {
    const memory = memoryOf(4 * WASM_PAGE);
    const zeroer = kind.make(memory);
    const whole = new Uint8Array(memory.buffer);
    for (const offset of [1, 2, 3, 4, 4096, 4099]) {
      const bytes = whole.subarray(offset, offset + 3 * WASM_PAGE);
      for (const pageSize of [4096, 65536]) {
        whole.fill(0x77);
        bytes.fill(0, pageSize, 2 * pageSize);
        bytes[pageSize + 5] = 1;
        bytes[2 * pageSize - 1] = 1;
        checkClear(zeroer, bytes, 0, 2 * pageSize, pageSize);
        expect(whole[offset - 1]).toBe(0x77);
        expect(bytes[2 * pageSize]).toBe(0x77);
      }
    }
  });

  it("rejects arguments outside its contract with a RangeError and writes nothing", () => {
    const memory = memoryOf(2 * WASM_PAGE);
    const zeroer = kind.make(memory);
    const bytes = new Uint8Array(memory.buffer);
    bytes.fill(1);
    const bad: [number, number, number][] = [
      [100, 4096, 4096], // from not page-aligned
      [0, 4097, 4096], // to not page-aligned
      [8192, 4096, 4096], // from > to
      [-4096, 4096, 4096],
      [0, 3 * WASM_PAGE, 4096], // beyond the view
      [0, 6144, 3072], // not a power of two
      [0, 4096, 2048], // below 4 KiB
      [0, 2 * WASM_PAGE, 2 * WASM_PAGE], // above 64 KiB
      [Number.NaN, 4096, 4096],
      [0, 4096, 4096.5],
    ];
    for (const [from, to, pageSize] of bad) {
      expect(() => zeroer.clear(bytes, from, to, pageSize), `${from}, ${to}, ${pageSize}`).toThrow(RangeError);
    }
    expect(bytes.every((byte) => byte === 1)).toBe(true);
  });

  it("clears at the top of a 4 GiB memory (addresses past 2^31, the end at 2^32)", () => {
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: WASM_PAGE });
    } catch {
      // Reserving 4 GiB was refused here (a 32-bit host, a capped address space).
      return;
    }
    const zeroer = kind.make(memory);
    const bytes = new Uint8Array(memory.buffer);
    const top = bytes.length;
    expect(top).toBe(2 ** 32);
    for (const pageSize of [4096, 65536]) {
      bytes[top - 1] = 1;
      bytes[top - pageSize] = 2;
      bytes[2 ** 31 - 1] = 3;
      bytes[2 ** 31] = 4;
      // A block is written from its first non-zero word to its end: the byte at a block's
      // start costs the whole block, the byte in a block's last word costs 4 bytes.
      expect(zeroer.clear(bytes, top - pageSize, top, pageSize)).toBe(pageSize === 4096 ? 4096 : 4096 + 4);
      expect(zeroer.clear(bytes, 2 ** 31 - pageSize, 2 ** 31 + pageSize, pageSize)).toBe(4 + 4096);
      for (const at of [top - 1, top - pageSize, 2 ** 31 - 1, 2 ** 31]) expect(bytes[at]).toBe(0);
    }
  });
});

describe("wasmZeroer", () => {
  it("links with shared memories of any maximum", () => {
    for (const maximum of [1, 3, 16384, WASM_PAGE]) {
      const memory = new WebAssembly.Memory({ initial: 1, maximum, shared: true });
      const zeroer = wasmZeroer(memory);
      expect(zeroer).not.toBeNull();
      const bytes = new Uint8Array(memory.buffer);
      bytes[100] = 1;
      checkClear(zeroer as Zeroer, bytes, 0, WASM_PAGE, 4096);
    }
  });

  it("follows its memory across memory.grow", () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const zeroer = wasmZeroer(memory) as Zeroer;
    memory.grow(1);
    const bytes = new Uint8Array(memory.buffer);
    bytes[WASM_PAGE + 10] = 1;
    checkClear(zeroer, bytes, WASM_PAGE, 2 * WASM_PAGE, 4096);
  });

  it("throws for a view over another memory rather than clearing the wrong bytes", () => {
    const zeroer = wasmZeroer(new WebAssembly.Memory({ initial: 1 })) as Zeroer;
    const other = new Uint8Array(new WebAssembly.Memory({ initial: 1 }).buffer);
    other[0] = 1;
    expect(() => zeroer.clear(other, 0, 4096, 4096)).toThrow(RangeError);
    expect(() => zeroer.clear(new Uint8Array(WASM_PAGE), 0, 4096, 4096)).toThrow(RangeError);
    expect(other[0]).toBe(1);
  });

  it("is null for a memory64 memory (where this engine has memory64 at all)", async () => {
    const features = { memory64: true };
    let memory: WebAssembly.Memory;
    try {
      const bytes = await watToWasmWith('(module (memory (export "memory") i64 1))', features);
      memory = (await WebAssembly.instantiate(bytes)).instance.exports.memory as WebAssembly.Memory;
    } catch {
      // Node 20 has no memory64 without a flag: nothing to link against.
      return;
    }
    expect(wasmZeroer(memory)).toBeNull();
  });

  it("embeds the binaries that runtime/zeroer.wat compiles to (rerun scripts/build-zeroer.ts)", async () => {
    const built = await buildZeroer();
    expect(Buffer.from(ZEROER_WASM, "base64").equals(built.plain)).toBe(true);
    expect(Buffer.from(ZEROER_SHARED_WASM, "base64").equals(built.shared)).toBe(true);
  });
});

/** The project's wat helper takes no features; memory64 needs them. */
async function watToWasmWith(text: string, features: Record<string, boolean>): Promise<Uint8Array<ArrayBuffer>> {
  const wabt = await (await import("wabt")).default();
  const parsed = wabt.parseWat("memory64.wat", text, features);
  try {
    return new Uint8Array(parsed.toBinary({}).buffer);
  } finally {
    parsed.destroy();
  }
}

/** VmRSS in bytes, or null where /proc is not there. */
function residentBytes(): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

describe.each(ZEROERS)("$name on never-touched memory", (kind) => {
  const region = 64 * 1024 * 1024;
  it.skipIf(residentBytes() === null)("commits nothing for pages the guest never wrote", () => {
    for (const pageSize of [4096, 65536]) {
      const memory = new WebAssembly.Memory({ initial: 0 });
      memory.grow(region / WASM_PAGE);
      const zeroer = kind.make(memory);
      const bytes = new Uint8Array(memory.buffer);
      // One written byte per 64 KiB: 1,024 resident 4 KiB pages, the rest never touched.
      for (let at = 0; at < region; at += WASM_PAGE) bytes[at + 12345] = 1;
      const before = residentBytes() as number;
      const written = zeroer.clear(bytes, 0, region, pageSize);
      const growth = (residentBytes() as number) - before;
      // Each written block is written from the byte's word to the block's end.
      expect(written).toBe((4096 - (12345 % 4096 & ~3)) * (region / WASM_PAGE));
      // A fill would commit all 64 MiB. The rest of the process (the JIT, the collector) may
      // grow meanwhile, by up to 11 MiB seen here under load: a quarter tells the two apart.
      expect(growth).toBeLessThan(region / 4);
    }
  });
});
