/**
 * Guard mode's cost (issue #15, item 5): run time of the SQLite workload and of the C
 * mmap/munmap benchmark with and without the guard, side by side in one run, as a ratio.
 * The instrumentation itself (Binaryen reading, rewriting and writing the module) is a
 * one-off cost per module and is printed apart.
 *
 *   node --import tsx bench/guard.ts
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { ConsoleStdout, File, OpenFile, WASI } from "@bjorn3/browser_wasi_shim";
import { join } from "node:path";
import { cBuildDir, compileProgram } from "../cli/cc.js";
import { buildSqlite } from "../scripts/build-c.js";
import { createGuardedMman } from "../guard/guard.js";
import { instrument } from "../guard/instrument.js";
import { runWithShim } from "../hosts/shim.js";
import { createMman } from "../syscalls/create-mman.js";

/** One run of a compiled command: milliseconds from instantiation to exit, and its stdout. */
async function timedRun(module: WebAssembly.Module, guarded: boolean, args: string[]): Promise<{ ms: number; stdout: string }> {
  const out: string[] = [];
  const fds = [new OpenFile(new File([])), ConsoleStdout.lineBuffered((line) => out.push(line)), ConsoleStdout.lineBuffered(() => {})];
  const wasi = new WASI(args, [], fds, { debug: false });
  const mman = guarded ? createGuardedMman({}) : createMman({});
  const started = performance.now();
  await runWithShim(module, { wasi, mman, run: "command" });
  return { ms: performance.now() - started, stdout: out.join("\n") };
}

/** What a run printed, less its own timings (`ns_per_pair=N`), which differ from run to run. */
const untimed = (stdout: string): string => stdout.replace(/ns_per_pair=\d+/g, "ns_per_pair=N");

async function compare(label: string, path: string, rounds: number, args: string[] = ["prog"]): Promise<void> {
  const raw = readFileSync(path);
  const started = performance.now();
  const guarded = instrument(raw).bytes;
  const instrumentMs = performance.now() - started;
  const plainModule = await WebAssembly.compile(raw);
  const guardedModule = await WebAssembly.compile(guarded);
  let plainMs = 0;
  let guardMs = 0;
  // Alternating, so that drift on a shared machine falls on both sides alike.
  for (let round = 0; round < rounds; round++) {
    const plain = await timedRun(plainModule, false, args);
    const guard = await timedRun(guardedModule, true, args);
    // A ratio means something only if both ran the same program to the same end.
    if (untimed(plain.stdout) !== untimed(guard.stdout)) throw new Error(`${label}: the guarded run printed\n${guard.stdout}\nthe plain one\n${plain.stdout}`);
    plainMs += plain.ms;
    guardMs += guard.ms;
  }
  const size = `${(raw.length / 1024).toFixed(0)} KiB -> ${(guarded.length / 1024).toFixed(0)} KiB`;
  console.log(
    `${label.padEnd(28)} guard/plain run time ${(guardMs / plainMs).toFixed(2)}x ` +
      `(plain ${(plainMs / rounds).toFixed(0)} ms, guard ${(guardMs / rounds).toFixed(0)} ms per run); ` +
      `instrument once: ${instrumentMs.toFixed(0)} ms, module ${size}`,
  );
}

export async function run(): Promise<void> {
  console.log("guard: run time with and without --guard (same process, alternating runs)");
  const sqlite = await buildSqlite();
  await compare("SQLite workload (mallocng)", sqlite.wasm.mallocng, 3);
  // The C benchmark's program (fixtures/c/bench/mman-pairs.c) with mallocng: the guard needs
  // the instance's exports at attach, which runWithShim passes only with __heap_base exported.
  const pairs = join(cBuildDir(), "bench", "mman-pairs.mallocng.wasm");
  await compileProgram({ malloc: "mallocng", output: pairs, args: ["-O2", join("fixtures", "c", "bench", "mman-pairs.c")] });
  // Mixed sizes (1..33 pages), 1,000 live mappings, 100,000 unmap + map pairs, seed 1: each
  // program writes the first byte of every page it gets.
  await compare("C benchmark (mman pairs)", pairs, 3, ["mman-pairs", "0", "1000", "100000", "1"]);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await run();
