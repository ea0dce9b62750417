/**
 * Real programs (`npm run bench -- real-programs`, or alone after `npm run build`:
 * `node --import tsx bench/real-programs.ts`):
 *
 * 1. Memory of allocation-heavy C programs from Debian's source packages (cJSON, liblzma from
 *    xz-utils, Lua 5.4; and the bundled SQLite), each built three ways (bench/real-programs-build.ts):
 *    `wasi-mman cc --malloc=mallocng` and `--malloc=oldmalloc` on the layer, run at libc page
 *    sizes 4, 16 and 64 KiB, and plain wasi-libc (dlmalloc growing memory itself), run once.
 *    Every run is a process of its own (bench/real-programs-child.mjs): peak linear memory,
 *    memory.grow calls, bytes cleared, and the process's peak resident memory, each next to the
 *    plain build's. All builds of a program must print the same output, byte for byte.
 * 2. The mremap-grow loop: 1 MiB mapped, grown by mremap(MREMAP_MAYMOVE) to 2, 4 and 8 MiB,
 *    unmapped, round after round; from JavaScript through mman.calls, and in C as realloc
 *    (fixtures/c/bench/realloc-grow.c) under musl's allocators and plain wasi-libc. What is
 *    printed is linear memory after the rounds divided by what one round needs (8 MiB).
 * 3. Speed: mappings of 4 KiB..1 MiB with one byte touched each (fixtures/c/bench/map-touch.c),
 *    on the layer's mmap against wasi-libc's emulated mman, alternating, best of three.
 *
 * Ratios are measured side by side in one run; nothing here asserts a timing.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { packageRoot } from "../cli/cc.js";
import { buildSqlite, cToolchainStatus } from "../scripts/build-c.js";
import { buildBenchProgram, buildRealProgram, linkBuild, REAL_PROGRAMS, SourceUnavailable, type BuildKind } from "./real-programs-build.js";
import { distBuilt, libraryUrl, runCase, type CaseResult, type CaseSpec } from "./real-programs-case.js";

const PAGE_SIZES = [4096, 16384, 65536] as const;
const LAYER_KINDS = ["mallocng", "oldmalloc"] as const;
const MIB = 2 ** 20;

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

function ratio(value: number, baseline: number): string {
  return baseline > 0 ? (value / baseline).toFixed(2) : "-";
}

function pageLabel(pageSize: number | undefined): string {
  return pageSize === undefined ? "-" : `${pageSize / 1024} KiB`;
}

/** Prints rows under headers, each column as wide as its widest cell. */
function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => row[column].length)));
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column])).join("  ").trimEnd();
  console.log(line(headers));
  for (const row of rows) console.log(line(row));
}

interface Measured {
  readonly kind: BuildKind;
  readonly pageSize?: number;
  readonly result: CaseResult;
}

/**
 * Runs the plain build once and each layer build at every page size, one process each.
 * `allowFailure`: a run that exits with an error is reported rather than thrown.
 */
async function measureBuilds(wasm: Partial<Record<BuildKind, string>>, base: Omit<CaseSpec, "wasm" | "build">, allowFailure = false): Promise<Measured[]> {
  const measured: Measured[] = [];
  const plain = wasm.plain;
  if (plain === undefined) throw new Error("no plain build");
  measured.push({ kind: "plain", result: await runCase({ ...base, wasm: plain, build: "plain" }, "dist", allowFailure) });
  for (const kind of LAYER_KINDS) {
    const file = wasm[kind];
    if (file === undefined) throw new Error(`no ${kind} build`);
    for (const pageSize of PAGE_SIZES) {
      measured.push({ kind, pageSize, result: await runCase({ ...base, wasm: file, build: "layer", pageSize }, "dist", allowFailure) });
    }
  }
  return measured;
}

/** Names the runs whose stdout differs from the plain build's; empty when all agree. */
function disagreements(measured: readonly Measured[]): string[] {
  const expected = measured[0].result.stdoutSha256;
  return measured
    .filter(({ result }) => result.stdoutSha256 !== expected)
    .map(({ kind, pageSize, result }) => `${kind} ${pageLabel(pageSize)}: ${JSON.stringify(result.stdoutTail.slice(-200))}`);
}

function printProgramTable(title: string, measured: readonly Measured[]): string[] {
  const plain = measured[0].result;
  const differing = disagreements(measured);
  const agreement = differing.length === 0 ? `all ${measured.length} runs print the same output` : `OUTPUTS DIFFER in ${differing.length} runs`;
  console.log(`\n${title}: ${agreement} (${plain.stdoutBytes} bytes, sha256 ${plain.stdoutSha256.slice(0, 12)})`);
  printTable(
    ["build", "page", "peak linear", "/plain", "memory.grow", "cleared", "mmap", "peak RSS", "/plain", "time ms", "/plain"],
    measured.map(({ kind, pageSize, result }) => [
      kind,
      pageLabel(pageSize),
      mib(result.peakLinearMemoryBytes),
      ratio(result.peakLinearMemoryBytes, plain.peakLinearMemoryBytes),
      result.growCalls === null ? "?" : String(result.growCalls),
      result.clearedBytes === null ? "-" : mib(result.clearedBytes),
      result.calls ? String(result.calls.mmap) : "-",
      mib(result.maxRssKiB * 1024),
      ratio(result.maxRssKiB, plain.maxRssKiB),
      result.timeMs.toFixed(0),
      ratio(result.timeMs, plain.timeMs),
    ]),
  );
  for (const line of differing) console.log(`  *** differs: ${line}`);
  return differing;
}

/**
 * SQLite, as scripts/build-c.ts builds it for the other C benchmarks and tests, and a plain
 * build linked from the same sqlite3.c object. Null (with a line saying why) when its build
 * needs what is not here (tclsh, gcc and make make the amalgamation).
 */
async function sqliteBuilds(): Promise<Partial<Record<BuildKind, string>> | null> {
  let built: Awaited<ReturnType<typeof buildSqlite>>;
  try {
    built = await buildSqlite();
  } catch (error) {
    console.log(`\n*** SQLITE ROW SKIPPED: ${(error as Error).message.split("\n")[0]} ***`);
    return null;
  }
  // build-c.ts compiles sqlite3.c once to sqlite3.o beside its outputs, from the amalgamation
  // in .cache/sqlite-build (sqlite3.h is there too); os.c and workload.c need nothing else.
  const object = join(dirname(built.wasm.mallocng), "sqlite3.o");
  const amalgamation = join(packageRoot(), ".cache", "sqlite-build");
  if (!existsSync(object) || !existsSync(join(amalgamation, "sqlite3.h"))) {
    console.log("\n*** SQLITE ROW SKIPPED: scripts/build-c.ts no longer leaves sqlite3.o and sqlite3.h where this expects them ***");
    return null;
  }
  const fixture = join(packageRoot(), "fixtures", "c", "sqlite");
  const plain = await linkBuild("plain", {
    output: join(dirname(object), "workload.plain.wasm"),
    inputs: [object, join(fixture, "os.c"), join(fixture, "workload.c")],
    flags: ["-I", amalgamation],
    key: [],
  });
  return { mallocng: built.wasm.mallocng, oldmalloc: built.wasm.oldmalloc, plain };
}

async function programsSection(): Promise<string[]> {
  const differing: string[] = [];
  for (const program of REAL_PROGRAMS) {
    let build: Awaited<ReturnType<typeof buildRealProgram>>;
    try {
      build = await buildRealProgram(program);
    } catch (error) {
      if (!(error instanceof SourceUnavailable)) throw error;
      console.log(`\n*** ${program.name.toUpperCase()} SKIPPED: ${error.message} ***`);
      continue;
    }
    const measured = await measureBuilds(build.wasm, { ...(program.args ? { args: program.args } : {}), ...(build.stdin ? { stdin: build.stdin } : {}) });
    const title = `${program.name}: Debian ${program.debianPackage} ${build.debianVersion}, fixtures/c/real/${program.name}/workload.c`;
    differing.push(...printProgramTable(title, measured).map((line) => `${program.name} ${line}`));
  }
  const sqlite = await sqliteBuilds();
  if (sqlite) {
    const measured = await measureBuilds(sqlite, {});
    differing.push(...printProgramTable("sqlite: Debian sqlite3 (bundled), fixtures/c/sqlite/workload.c", measured).map((line) => `sqlite ${line}`));
  }
  return differing;
}

const ROUND_NEED = 8 * MIB;

/** The mremap-grow loop from JavaScript: createMman attached to a bare WebAssembly.Memory. */
async function mremapLoopFromJs(rounds: number): Promise<void> {
  const { createMman, MapFlags, Mremap, Prot } = (await import(libraryUrl("dist"))) as typeof import("../index.js");
  const rows: string[][] = [];
  for (const pageSize of PAGE_SIZES) {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
    const mman = createMman({ pageSize, onWarning: () => {} });
    // The first wasm page stands for a module's data and stack; the heap starts above it.
    mman.attach({ memory, heapBase: 65536 });
    const started = performance.now();
    for (let round = 0; round < rounds; round++) {
      let length = MIB;
      let address = mman.calls.mmap(0, length, Prot.READ | Prot.WRITE, MapFlags.PRIVATE | MapFlags.ANONYMOUS, -1, 0);
      if (address < 0) throw new Error(`mmap failed: ${address}`);
      for (const grown of [2 * MIB, 4 * MIB, 8 * MIB]) {
        address = mman.calls.mremap(address, length, grown, Mremap.MAYMOVE, 0);
        if (address < 0) throw new Error(`mremap to ${grown} failed in round ${round}: ${address}`);
        length = grown;
      }
      if (mman.calls.munmap(address, length) !== 0) throw new Error("munmap failed");
    }
    const elapsed = performance.now() - started;
    mman.checkInvariants();
    const stats = mman.stats();
    rows.push([
      pageLabel(pageSize),
      mib(memory.buffer.byteLength),
      (memory.buffer.byteLength / ROUND_NEED).toFixed(2),
      String(stats.growCalls),
      mib(stats.clearedBytes),
      ((elapsed * 1000) / rounds).toFixed(0),
    ]);
  }
  console.log(`\nmremap-grow loop from JavaScript (mman.calls): ${rounds} rounds of mmap 1 MiB, mremap MAYMOVE to 2, 4, 8 MiB, munmap`);
  printTable(["page", "linear memory", "/ 8 MiB", "memory.grow", "cleared", "us/round"], rows);
}

/** The same loop in C, as realloc under musl's allocators, against plain wasi-libc. */
async function reallocLoopInC(): Promise<string[]> {
  const wasm = await buildBenchProgram("realloc-grow.c", ["mallocng", "oldmalloc", "plain"]);
  // Every round frees what it took, so a run that runs out of memory (4 GiB) is a finding to
  // show in the table, not a reason to stop.
  const measured = await measureBuilds(wasm, { args: ["600"] }, true);
  const plain = measured[0].result;
  const differing = disagreements(measured);
  console.log(`\nrealloc-grow loop in C (fixtures/c/bench/realloc-grow.c): 600 rounds of malloc 1 MiB, realloc to 2, 4, 8 MiB, free; ${differing.length === 0 ? "same output everywhere" : "OUTPUTS DIFFER"}`);
  printTable(
    ["build", "page", "peak linear", "/ 8 MiB", "/plain", "memory.grow", "mremap", "peak RSS", "time ms", "exit"],
    measured.map(({ kind, pageSize, result }) => [
      kind,
      pageLabel(pageSize),
      mib(result.peakLinearMemoryBytes),
      (result.peakLinearMemoryBytes / ROUND_NEED).toFixed(2),
      ratio(result.peakLinearMemoryBytes, plain.peakLinearMemoryBytes),
      result.growCalls === null ? "?" : String(result.growCalls),
      result.calls ? String(result.calls.mremap) : "-",
      mib(result.maxRssKiB * 1024),
      result.timeMs.toFixed(0),
      result.exitCode === 0 ? "0" : `${String(result.exitCode)}: ${result.stdoutTail.trim().split("\n").pop() ?? ""}`,
    ]),
  );
  return differing.map((line) => `realloc-grow ${line}`);
}

/** map-touch on the layer's mmap and on wasi-libc's emulated mman: ns per mmap+munmap pair. */
async function mapTouchSpeed(): Promise<void> {
  // dlmalloc on both sides, so that only mmap differs: the emulated mmap is dlmalloc's malloc.
  const wasm = await buildBenchProgram("map-touch.c", ["dlmalloc", "plain"], ["-D_WASI_EMULATED_MMAN", "-lwasi-emulated-mman"]);
  const rounds = 4000;
  const batch = 16;
  const args = [String(rounds), String(batch), "400"];
  const nsPerPair = async (spec: CaseSpec): Promise<{ ns: number; result: CaseResult }> => {
    const result = await runCase(spec);
    const match = /ns_per_pair=(\d+) checksum=(\w+)/.exec(result.stdoutTail);
    if (!match) throw new Error(`map-touch printed no timing: ${result.stdoutTail}`);
    return { ns: Number(match[1]), result };
  };
  const rows: string[][] = [];
  const emulated = { wasm: wasm.plain ?? "", build: "plain" as const, args };
  for (const pageSize of [4096, 65536]) {
    const layer = { wasm: wasm.dlmalloc ?? "", build: "layer" as const, pageSize, args };
    // Alternating runs of each side, best of three: both meet the same machine noise.
    let best = Infinity;
    let baseline = Infinity;
    let cleared = 0;
    let sameOutput = true;
    for (let attempt = 0; attempt < 3; attempt++) {
      const ours = await nsPerPair(layer);
      const theirs = await nsPerPair(emulated);
      best = Math.min(best, ours.ns);
      baseline = Math.min(baseline, theirs.ns);
      cleared = ours.result.clearedBytes ?? 0;
      sameOutput &&= ours.result.stdoutTail.split("checksum=")[1] === theirs.result.stdoutTail.split("checksum=")[1];
    }
    rows.push([
      pageLabel(pageSize),
      String(best),
      String(baseline),
      `${(baseline / best).toFixed(2)}x`,
      `${(cleared / 1024 / ((rounds + 400) * batch)).toFixed(0)} KiB`,
      sameOutput ? "yes" : "NO",
    ]);
  }
  console.log(`\nmap-touch (fixtures/c/bench/map-touch.c): ${batch} mappings of 4 KiB..1 MiB, one byte touched each, unmapped; ${rounds} timed rounds`);
  printTable(["page", "wasi-mman ns/pair", "emulated ns/pair", "emulated/ours", "cleared/pair", "same checksum"], rows);
}

export async function run(): Promise<void> {
  console.log("\n## Real programs: musl's allocators on wasi-mman against plain wasi-libc, and mmap speed");
  const status = cToolchainStatus();
  if (!status.ok) {
    console.log(`*** REAL-PROGRAMS BENCHMARK SKIPPED: ${status.reason} ***`);
    return;
  }
  if (!distBuilt()) {
    console.log("*** REAL-PROGRAMS BENCHMARK SKIPPED: dist/ is not built (npm run build) ***");
    return;
  }
  const started = performance.now();
  const differing = [...(await programsSection())];
  await mremapLoopFromJs(50);
  differing.push(...(await reallocLoopInC()));
  await mapTouchSpeed();
  console.log(`\n(real-programs section: ${((performance.now() - started) / 1000).toFixed(0)} s)`);
  // A build that prints something else did other work: its figures compare nothing.
  if (differing.length > 0) throw new Error(`real programs: outputs differ between builds:\n${differing.join("\n")}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await run();
