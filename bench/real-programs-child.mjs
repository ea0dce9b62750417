/**
 * One run of one build of a real program, in a process of its own, so that the process's peak
 * resident memory belongs to that run alone (bench/real-programs.ts starts one per case).
 *
 *   node bench/real-programs-child.mjs LIBRARY_URL CASE_JSON
 *
 * LIBRARY_URL is the wasi-mman entry to use: dist/index.js for the benchmark (the library as
 * shipped, and no TypeScript loader inflating the resident memory), index.ts for the test (run
 * with `--import tsx`). CASE_JSON: { wasm, build: "layer" | "plain", pageSize, args, stdin }.
 * Prints one line of JSON: the exit code, a hash of stdout, the memory figures and the time.
 *
 * Plain JavaScript on purpose: a TypeScript loader would add tens of MiB to every process.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { ConsoleStdout, File, OpenFile, WASI } from "@bjorn3/browser_wasi_shim";

const [libraryUrl, caseJson] = process.argv.slice(2);
const spec = JSON.parse(caseJson);
const bytes = readFileSync(spec.wasm);
const args = [spec.wasm.split("/").pop(), ...(spec.args ?? [])];

const stdout = [];
const stderr = [];
// Raw bytes, not lines: the builds are compared byte for byte. The shim hands out views of
// guest memory, so each write is copied.
const fds = () => [
  new OpenFile(new File(spec.stdin ? readFileSync(spec.stdin) : [])),
  new ConsoleStdout((data) => stdout.push(Buffer.from(data))),
  new ConsoleStdout((data) => stderr.push(Buffer.from(data))),
];

/** /proc/self/status VmHWM (peak resident set) in KiB, or null off Linux. */
function vmHwmKiB() {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

const result = { exitCode: null, timeMs: 0, linearMemoryBytes: 0 };
if (spec.build === "layer") {
  const { runWithShim } = await import(libraryUrl);
  const warnings = [];
  const started = performance.now();
  const run = await runWithShim(bytes, {
    args,
    fds: fds(),
    mman: { pageSize: spec.pageSize },
    onWarning: (message) => warnings.push(message),
  });
  result.timeMs = performance.now() - started;
  const stats = run.mman.stats();
  run.mman.checkInvariants();
  Object.assign(result, {
    exitCode: run.exitCode,
    linearMemoryBytes: run.memory.buffer.byteLength,
    peakLinearMemoryBytes: stats.peak.linearMemoryBytes,
    growCalls: stats.growCalls,
    clearedBytes: stats.clearedBytes,
    foreignBytes: stats.foreignBytes,
    calls: stats.calls,
    peakMappedBytes: stats.peak.mappedBytes,
    peakBrkBytes: stats.peak.brkBytes,
    warnings,
  });
} else {
  // The baseline as wasi-libc ships it: no wasi-mman at all, only the WASI host. Its dlmalloc
  // grows memory with the memory.grow instruction, which no JavaScript wrapper sees; the build
  // counts its own growing sbrk calls instead (sbrk-count.c) and exports the count.
  const wasi = new WASI(args, [], fds(), { debug: false });
  const started = performance.now();
  const { instance } = await WebAssembly.instantiate(bytes, { wasi_snapshot_preview1: wasi.wasiImport });
  result.exitCode = wasi.start(instance);
  result.timeMs = performance.now() - started;
  const memory = instance.exports.memory;
  const growCalls = instance.exports.plain_grow_calls;
  Object.assign(result, {
    linearMemoryBytes: memory.buffer.byteLength,
    // Memory never shrinks, so its size at exit is its peak.
    peakLinearMemoryBytes: memory.buffer.byteLength,
    growCalls: typeof growCalls === "function" ? growCalls() : null,
    clearedBytes: null,
  });
}
const out = Buffer.concat(stdout);
Object.assign(result, {
  stdoutSha256: createHash("sha256").update(out).digest("hex"),
  stdoutBytes: out.length,
  stdoutTail: out.toString("utf8").slice(-400),
  stderr: Buffer.concat(stderr).toString("utf8").slice(-2000),
  // resourceUsage().maxRSS is in KiB (getrusage(2) ru_maxrss); VmHWM says the same from procfs.
  maxRssKiB: process.resourceUsage().maxRSS,
  vmHwmKiB: vmHwmKiB(),
});
process.stdout.write(JSON.stringify(result) + "\n");
