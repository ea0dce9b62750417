/**
 * The differential tester's runner: builds test/difftest/difftest.c natively (gcc, x86-64) and
 * for wasm32 (clang, against the `mman` imports), runs the same call sequences on both, the
 * running Linux kernel being the oracle, and compares the two outputs line by line. See
 * test/difftest/README.md for the design; scripts/difftest.ts is the command line and
 * test/difftest.test.ts the fixed-seed test.
 *
 * A divergence is the first line where the outputs differ, with the call before it; classify()
 * names its kind, so that a run can be summed up by class and checked against the classes
 * known to diverge (known-divergences.json). minimize() cuts a diverging sequence down to the
 * calls it needs, replaying them through the program's script mode.
 */
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { release as osRelease } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { findToolchain } from "../../cli/cc.js";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, "..", "..");
export const SOURCE = join(here, "difftest.c");
export const KNOWN_DIVERGENCES = join(here, "known-divergences.json");
export const CACHE_DIR = join(repoRoot, ".cache", "difftest");
/** Calls per random sequence. */
export const DEFAULT_STEPS = 40;

// ---------------------------------------------------------------------------------------------
// Building

const NATIVE_FLAGS = ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Werror"];
const WASM_FLAGS = ["--target=wasm32-wasi", "-O2", "-Wall", "-Wextra", "-Werror", "-Wl,--export=__heap_base"];

export interface DifftestBuild {
  native: string;
  wasm: string;
}

/** Whether both sides can be built here; when not, one line naming what is missing. */
export function difftestToolchainStatus(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== "linux" || process.arch !== "x64") {
    return { ok: false, reason: `the native side needs Linux on x86-64 (this is ${process.platform}/${process.arch})` };
  }
  try {
    execFileSync("sh", ["-c", "command -v gcc"], { stdio: "ignore" });
  } catch {
    return { ok: false, reason: "gcc is missing (Debian: apt-get install gcc)" };
  }
  try {
    findToolchain();
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
  return { ok: true };
}

function hashOf(parts: string[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part).update("\0");
  return hash.digest("hex").slice(0, 16);
}

/** Builds both sides into .cache/difftest/, each only when its source or flags changed. */
export async function buildDifftest(): Promise<DifftestBuild> {
  mkdirSync(CACHE_DIR, { recursive: true });
  const source = readFileSync(SOURCE, "utf8");
  const toolchain = findToolchain();
  const wasmFlags = [...WASM_FLAGS, ...(toolchain.sysroot ? [`--sysroot=${toolchain.sysroot}`] : [])];
  const native = join(CACHE_DIR, "difftest.native");
  const wasm = join(CACHE_DIR, "difftest.wasm");
  await cached(native, hashOf([source, "gcc", ...NATIVE_FLAGS]), () => run("gcc", [...NATIVE_FLAGS, SOURCE, "-o", native]));
  await cached(wasm, hashOf([source, toolchain.cc, ...wasmFlags]), () => run(toolchain.cc, [...wasmFlags, SOURCE, "-o", wasm]));
  return { native, wasm };
}

async function cached(output: string, key: string, build: () => Promise<unknown>): Promise<void> {
  const stamp = `${output}.key`;
  if (existsSync(output) && existsSync(stamp) && readFileSync(stamp, "utf8") === key) return;
  await build();
  writeFileSync(stamp, key);
}

// ---------------------------------------------------------------------------------------------
// Running

/** What the runner needs of createMman (the built one from dist/, or the sources in tests). */
export type CreateMman = (options: { pageSize: number }) => {
  imports: WebAssembly.Imports;
  attach(target: WebAssembly.Instance): unknown;
};

export async function runNative(build: DifftestBuild, args: string[]): Promise<string> {
  const { stdout } = await run(build.native, args, { maxBuffer: 1 << 30, encoding: "utf8" });
  return stdout;
}

class ProcExit {
  constructor(readonly code: number) {}
}

const modules = new Map<string, WebAssembly.Module>();
function wasmModule(path: string): WebAssembly.Module {
  let module = modules.get(path);
  if (!module) {
    module = new WebAssembly.Module(readFileSync(path) as Uint8Array<ArrayBuffer>);
    modules.set(path, module);
  }
  return module;
}

/**
 * Runs the wasm build once, in a fresh instance with a fresh host, so that a seed replays the
 * same way alone or in a batch. The program needs four WASI functions (argv, fd_write,
 * proc_exit); this minimal set keeps the run independent of any WASI host's own behaviour.
 */
export function runWasm(build: DifftestBuild, args: string[], pageSize: number, createMman: CreateMman): string {
  const module = wasmModule(build.wasm);
  const mman = createMman({ pageSize });
  const encoder = new TextEncoder();
  const argv = ["difftest.wasm", ...args].map((arg) => encoder.encode(`${arg}\0`));
  const chunks: Uint8Array[] = [];
  let memory: WebAssembly.Memory | null = null;
  const view = (): DataView => new DataView((memory as WebAssembly.Memory).buffer);
  const wasi = {
    args_sizes_get(countPtr: number, sizePtr: number): number {
      view().setUint32(countPtr, argv.length, true);
      view().setUint32(sizePtr, argv.reduce((sum, arg) => sum + arg.length, 0), true);
      return 0;
    },
    args_get(argvPtr: number, bufPtr: number): number {
      const bytes = new Uint8Array((memory as WebAssembly.Memory).buffer);
      let at = bufPtr;
      argv.forEach((arg, i) => {
        view().setUint32(argvPtr + 4 * i, at, true);
        bytes.set(arg, at);
        at += arg.length;
      });
      return 0;
    },
    fd_write(fd: number, iovs: number, count: number, writtenPtr: number): number {
      let written = 0;
      for (let i = 0; i < count; i++) {
        const ptr = view().getUint32(iovs + 8 * i, true);
        const len = view().getUint32(iovs + 8 * i + 4, true);
        if (fd === 1 || fd === 2) chunks.push(new Uint8Array((memory as WebAssembly.Memory).buffer, ptr, len).slice());
        written += len;
      }
      view().setUint32(writtenPtr, written, true);
      return 0;
    },
    proc_exit(code: number): never {
      throw new ProcExit(code);
    },
  };
  const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi, ...mman.imports });
  memory = instance.exports.memory as WebAssembly.Memory;
  mman.attach(instance);
  let exitCode = 0;
  try {
    (instance.exports._start as () => void)();
  } catch (error) {
    if (!(error instanceof ProcExit)) throw error;
    exitCode = error.code;
  }
  const text = Buffer.concat(chunks).toString("utf8");
  return exitCode === 0 ? text : `${text}exit ${exitCode}\n`;
}

/** The output split into units: "seed N", "case NAME" or "script", each up to its "end". */
export function splitUnits(output: string): Map<string, string[]> {
  const units = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of output.split("\n")) {
    if (line.startsWith("seed ") || line.startsWith("case ") || line === "script") {
      current = [];
      units.set(line, current);
    } else if (current) {
      current.push(line);
      if (line === "end") current = null;
    }
  }
  return units;
}

// ---------------------------------------------------------------------------------------------
// Comparing and classifying

export interface Call {
  step: number;
  name: string;
  args: string[];
  annotation: Map<string, number | true>;
  result: string;
}

const CALL_LINE = /^(\d+) (\S+)(.*?)(?: \{([^}]*)\})? => (.*)$/;

export function parseCall(line: string): Call | null {
  const match = CALL_LINE.exec(line);
  if (!match) return null;
  const annotation = new Map<string, number | true>();
  for (const note of (match[4] ?? "").split(" ").filter(Boolean)) {
    const [key, value] = note.split("=");
    annotation.set(key, value === undefined ? true : Number(value));
  }
  return { step: Number(match[1]), name: match[2], args: match[3].trim().split(" ").filter(Boolean), annotation, result: match[5] };
}

/** The call text without its result: what both sides ran. */
export function callText(line: string): string {
  const at = line.indexOf(" => ");
  return at < 0 ? line : line.slice(0, at);
}

/** A call as a script line: no step number, annotation or result. */
export function scriptLine(line: string): string {
  return callText(line).replace(/^\d+ /, "").replace(/ \{[^}]*\}$/, "");
}

export interface Divergence {
  unit: string;
  /** 0-based line within the unit. */
  line: number;
  kind: "result" | "state" | "output";
  /** The call line (native), or "" when the divergence comes before any call. */
  call: string;
  native: string;
  wasm: string;
  className: string;
  /** The unit's call lines up to and including the diverging call. */
  calls: string[];
}

export function firstDivergence(unit: string, nativeLines: string[], wasmLines: string[]): Divergence | null {
  const length = Math.max(nativeLines.length, wasmLines.length);
  let call = "";
  const calls: string[] = [];
  for (let i = 0; i < length; i++) {
    const n = nativeLines[i];
    const w = wasmLines[i];
    if (n !== undefined && /^\d/.test(n)) {
      call = n;
      calls.push(n);
    }
    if (n === w) continue;
    const isCall = n !== undefined && w !== undefined && /^\d/.test(n) && /^\d/.test(w) && callText(n) === callText(w);
    const isState = n !== undefined && w !== undefined && /^ {2}(S|final) /.test(n) && /^ {2}(S|final) /.test(w);
    const kind = isCall ? "result" : isState ? "state" : "output";
    const divergence: Divergence = { unit, line: i, kind, call, native: n ?? "(nothing)", wasm: w ?? "(nothing)", className: "", calls };
    divergence.className = classify(divergence);
    return divergence;
  }
  return null;
}

/** A state line's page tokens, one per page ("z*3" becomes three "z", "4.0..2" three tags). */
export function stateTokens(line: string): string[] {
  const tokens: string[] = [];
  for (const part of line.trim().split(" ").slice(1)) {
    if (part === "|" || /^(A|F\d):$/.test(part)) {
      tokens.push(part);
      continue;
    }
    let match = /^(.)\*(\d+)$/.exec(part);
    if (match) {
      for (let i = 0; i < Number(match[2]); i++) tokens.push(match[1]);
      continue;
    }
    match = /^(\d+)\.(\d+)\.\.(\d+)$/.exec(part);
    if (match) {
      for (let i = Number(match[2]); i <= Number(match[3]); i++) tokens.push(`${match[1]}.${i}`);
      continue;
    }
    tokens.push(part);
  }
  return tokens;
}

/** The first page that differs between two state lines: its place and both tokens. */
export function firstPageDifference(native: string, wasm: string): { where: string; native: string; wasm: string } | null {
  const a = stateTokens(native);
  const b = stateTokens(wasm);
  let region = "A";
  let page = 0;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const token = a[i] ?? b[i];
    if (token === "|") continue;
    if (/^(A|F\d):$/.test(token) && a[i] === b[i]) {
      region = token.slice(0, -1);
      page = 0;
      continue;
    }
    if (a[i] !== b[i]) return { where: `${region}+${page}`, native: a[i] ?? "(none)", wasm: b[i] ?? "(none)" };
    page++;
  }
  return null;
}

const KNOWN_MAP_FLAGS = new Set(["FIXED", "ANON", "NORESERVE", "POPULATE", "NOREPLACE"]);
const ENGINE_ADVICE = new Set(["NORMAL", "RANDOM", "SEQUENTIAL", "WILLNEED", "DONTNEED", "FREE"]);

function isError(result: string): boolean {
  return result.startsWith("-E");
}
function argValue(call: Call, key: string): string {
  return call.args.find((arg) => arg.startsWith(`${key}=`))?.slice(key.length + 1) ?? "";
}
/** Pages of a length as printed ("3p", "2p-1", "1p+h"): whole pages it covers. */
function lengthPages(text: string): number {
  const match = /^(\d+)p(.*)$/.exec(text);
  if (!match) return Number.POSITIVE_INFINITY;
  const pages = Number(match[1]);
  return match[2] === "-1" ? pages : match[2] ? pages + 1 : pages;
}
function unknownMapFlags(flags: string): string[] {
  return flags.split("|").slice(1).filter((flag) => !KNOWN_MAP_FLAGS.has(flag));
}

/**
 * The class of a divergence: what kind of call, and how the two sides differ. Names are stable
 * (known-divergences.json refers to them); the part after ":" says which value.
 */
export function classify(d: Divergence): string {
  if (d.kind === "output") return d.call ? `output-after:${parseCall(d.call)?.name ?? "?"}` : "output";
  const call = parseCall(d.call);
  if (!call) return "unparsed";
  if (d.kind === "result") {
    const nativeResult = parseCall(d.native)?.result ?? d.native;
    const wasmResult = parseCall(d.wasm)?.result ?? d.wasm;
    return classifyResult(call, nativeResult, wasmResult);
  }
  return classifyState(call, d.native, d.wasm, d.calls);
}

function classifyResult(call: Call, native: string, wasm: string): string {
  const pair = `${native}/${wasm}`;
  const a = call.annotation;
  const spans = (a.get("ids") as number) > 1 || a.has("holes") || a.has("prot-mixed") || a.has("advice-mixed") || a.has("mapflags-mixed");
  switch (call.name) {
    case "madvise": {
      const advice = call.args[2] ?? "?";
      if (call.args[1] === "max" || call.args[1] === "huge") return "madvise-length-wrap";
      if (!ENGINE_ADVICE.has(advice) && wasm === "-EINVAL" && !isError(native)) return `madvise-advice-einval:${advice}`;
      if (!ENGINE_ADVICE.has(advice) && wasm === "-EINVAL" && native === "-ENOMEM") return `madvise-advice-einval:${advice}`;
      if (advice === "FREE" && a.has("shared") && native === "-EINVAL" && wasm === "-ENOMEM") return "errno-order-madvise-free-shared";
      return `madvise-result:${advice}:${pair}`;
    }
    case "mprotect": {
      const prot = argValue(call, "prot");
      if (call.args[1] === "max" || call.args[1] === "huge") return "mprotect-length-wrap";
      if (prot.includes("+") && wasm === "-EINVAL") return `prot-unknown-bits:mprotect:${prot.split("+")[1]}`;
      return `mprotect-result:${pair}`;
    }
    case "msync":
      if (call.args[1] === "max" || call.args[1] === "huge") return "msync-length-wrap";
      return `msync-result:${pair}`;
    case "munmap":
      return `munmap-result:${pair}`;
    case "write":
      return `write-fault:${pair}`;
    case "mmap": {
      const flags = argValue(call, "flags");
      const prot = argValue(call, "prot");
      const type = flags.split("|")[0];
      const unknown = unknownMapFlags(flags);
      if (prot.includes("+") && wasm === "-EINVAL" && native !== "-EINVAL") return `prot-unknown-bits:mmap:${prot.split("+")[1]}`;
      if (type === "SHARED_VALIDATE" && flags.includes("ANON") && native === "-EINVAL") return "map-shared-validate-anon";
      if (type === "DROPPABLE") return "map-droppable";
      // Linux validates the map type late (do_mmap), after the length and MAP_FIXED_NOREPLACE.
      if (/^TYPE\d+$/.test(type) && wasm === "-EINVAL" && isError(native)) return "errno-order-mmap-type";
      // One class per flag: the first one the host does not know, in the order printed.
      if (unknown.length > 0 && (wasm === "-EINVAL" || wasm === "-EOPNOTSUPP")) return `map-flags-unknown:${unknown[0]}`;
      if (!flags.includes("ANON") && wasm === "-ENODEV") return "mmap-file-no-resolver";
      if (/^=hint-(down|up)$/.test(native) || /^=hint-(down|up)$/.test(wasm)) return "mmap-hint-rounding";
      // Linux checks the length before the alignment of a fixed address.
      if ((call.args[1] === "max" || call.args[1] === "huge") && native === "-ENOMEM" && wasm === "-EINVAL") return "errno-order-mmap-length";
      return `mmap-result:${pair}`;
    }
    case "mremap": {
      const flags = argValue(call, "flags") || call.args[3]?.replace(/^flags=/, "") || "0";
      const oldPages = lengthPages(call.args[1]);
      const newPages = lengthPages(call.args[2]);
      // old_len 0 duplicates a shared mapping on Linux (mremap(2)); elsewhere Linux answers
      // EFAULT, ENOMEM or EINVAL in its own order.
      if (call.args[1] === "0p") return isError(native) ? "errno-order-mremap-oldlen0" : "mremap-oldlen0-shared";
      if ([call.args[1], call.args[2]].some((len) => len === "max" || len === "huge")) return "mremap-length-wrap";
      if (flags.includes("DONTUNMAP") && a.has("shared") && !isError(native) && wasm === "-EINVAL") return "mremap-dontunmap-shared";
      if (flags.includes("DONTUNMAP") && oldPages === newPages && call.args[1] !== call.args[2] && wasm === "-EINVAL") {
        return "mremap-dontunmap-unrounded";
      }
      // Linux checks the new range (alignment, overlap) before it looks up the old one.
      if (flags.includes("FIXED") && native === "-EINVAL" && wasm === "-EFAULT") return "errno-order-mremap-fixed";
      // Linux changed the part of a range before a hole (mprotect) or around it (madvise), so its
      // mappings are split where the host's are not.
      if (a.has("partial-prot")) return "mprotect-hole-not-applied";
      if (a.has("partial-advice")) return "madvise-hole-not-applied:split";
      if (!isError(native) && wasm === "-EFAULT") {
        if (flags.includes("FIXED") && spans) return "mremap-fixed-several";
        // Shrinking or keeping the size, Linux looks only at the mapping of the first page.
        if (newPages <= oldPages && native === "=old") return "mremap-shrink-past-mapping";
        return "mremap-one-mapping-here-several";
      }
      if (native === "-EFAULT" && wasm !== "-EFAULT") {
        if (a.has("advice-mixed")) return "mremap-spans-madvise-split";
        if (a.has("mapflags-mixed")) return "mremap-spans-map-flags";
        if (a.has("prot-mixed")) return "mremap-spans-mprotect-split";
        if (a.has("shared")) return "mremap-spans-shared";
        return "mremap-spans-mappings";
      }
      return `mremap-result:${flags}:${pair}`;
    }
    default:
      return `${call.name}-result:${pair}`;
  }
}

function classifyState(call: Call, native: string, wasm: string, calls: string[]): string {
  const page = firstPageDifference(native, wasm);
  // The program's only reads that fault natively are of shared anonymous pages past the end of
  // their object (SIGBUS), and they exist only after an mremap grew such a mapping.
  const grewShared = calls.some((line) => {
    const c = parseCall(line);
    return c?.name === "mremap" && c.annotation.has("shared") && !isError(c.result) && lengthPages(c.args[2]) > lengthPages(c.args[1]);
  });
  if (page?.native === "!" && grewShared) return "mremap-grow-shared-anon";
  const kind = (token: string): string => (/^\d/.test(token) ? "tag" : token);
  const tokens = page ? `${kind(page.native)}/${kind(page.wasm)}` : "?";
  switch (call.name) {
    case "madvise": {
      const advice = call.args[2] ?? "?";
      if (call.result === "-ENOMEM") return `madvise-hole-not-applied:${advice}`;
      return `madvise-state:${advice}:${tokens}`;
    }
    case "mremap":
      // Past the end of the shared object the kernel raises SIGBUS ("!"); pages that were there
      // before a shrink show their old bytes.
      if (call.annotation.has("shared") && lengthPages(call.args[2]) > lengthPages(call.args[1])) return "mremap-grow-shared-anon";
      return `mremap-state:${tokens}`;
    case "mprotect":
      if (call.result === "-ENOMEM") return "mprotect-hole-not-applied";
      return `mprotect-state:${tokens}`;
    default:
      return `${call.name}-state:${tokens}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Runs

export interface UnitResult {
  unit: string;
  divergence: Divergence | null;
}

export interface RunOptions {
  build: DifftestBuild;
  createMman: CreateMman;
  pageSize: number;
  /** Features the generator leaves out (the program's off= list). */
  off?: string[];
}

function offArgs(off: string[] | undefined): string[] {
  return off && off.length ? [`off=${off.join(",")}`] : [];
}

/** Random sequences for seeds start..start+count-1: each seed's first divergence, if any. */
export async function runSeeds(options: RunOptions & { start: number; count: number; steps?: number; batch?: number }): Promise<UnitResult[]> {
  const steps = options.steps ?? DEFAULT_STEPS;
  const batch = options.batch ?? 250;
  const results: UnitResult[] = [];
  for (let first = options.start; first < options.start + options.count; first += batch) {
    const count = Math.min(batch, options.start + options.count - first);
    const native = splitUnits(await runNative(options.build, ["random", String(first), String(count), String(steps), ...offArgs(options.off)]));
    for (let seed = first; seed < first + count; seed++) {
      const unit = `seed ${seed}`;
      const wasm = splitUnits(runWasm(options.build, ["random", String(seed), "1", String(steps), ...offArgs(options.off)], options.pageSize, options.createMman));
      results.push({ unit, divergence: firstDivergence(unit, native.get(unit) ?? [], wasm.get(unit) ?? []) });
    }
  }
  return results;
}

/** The directed cases (all, or those named): each case's first divergence, if any. */
export async function runDirected(options: RunOptions & { names?: string[] }): Promise<UnitResult[]> {
  const native = splitUnits(await runNative(options.build, ["directed", ...offArgs(options.off)]));
  const results: UnitResult[] = [];
  for (const unit of native.keys()) {
    const name = unit.slice("case ".length);
    if (options.names && !options.names.includes(name)) continue;
    const wasm = splitUnits(runWasm(options.build, ["directed", name, ...offArgs(options.off)], options.pageSize, options.createMman));
    results.push({ unit, divergence: firstDivergence(unit, native.get(unit) ?? [], wasm.get(unit) ?? []) });
  }
  return results;
}

/** Runs calls (lines as printed) as a script on both sides; the first divergence, if any. */
export async function runScript(options: RunOptions, calls: string[]): Promise<Divergence | null> {
  const texts = calls.map(callText);
  const native = splitUnits(await runNative(options.build, ["script", ...texts]));
  const wasm = splitUnits(runWasm(options.build, ["script", ...texts], options.pageSize, options.createMman));
  return firstDivergence("script", native.get("script") ?? [], wasm.get("script") ?? []);
}

/** Whether two divergences show the kernel doing the same thing (its result, or its state line). */
function sameOracle(a: Divergence, b: Divergence): boolean {
  // Slot numbers depend on how many mappings were placed anywhere before: not the kernel's doing.
  const result = (d: Divergence): string => (d.kind === "result" ? (parseCall(d.native)?.result ?? d.native).replace(/->F\d/, "->F") : d.kind);
  return result(a) === result(b);
}

/**
 * Cuts a divergence's calls down to those it needs: drops one call at a time (the diverging
 * call last), keeping a drop when the script still diverges first with the same class and the
 * same native result, until no call can go. Returns the smallest script and its divergence.
 */
export async function minimize(options: RunOptions, divergence: Divergence): Promise<{ calls: string[]; divergence: Divergence }> {
  let calls = divergence.calls.map(callText);
  let best = await runScript(options, calls);
  if (!best || best.className !== divergence.className) return { calls, divergence };
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = calls.length - 2; i >= 0; i--) {
      const candidate = calls.filter((_, k) => k !== i);
      const result = await runScript(options, candidate);
      if (result && result.className === divergence.className && sameOracle(result, divergence)) {
        calls = candidate;
        best = result;
        changed = true;
      }
    }
  }
  return { calls: best.calls.map(scriptLine), divergence: best };
}

// ---------------------------------------------------------------------------------------------
// Known divergences

export interface KnownDivergence {
  /** Why it diverges: what Linux does, what the host does. */
  reason: string;
  /** Where the fix is tracked (issue and item). */
  issue?: string;
  /** A smallest call sequence showing it (from minimize()), replayed by the test at 4 KiB. */
  script?: string[];
  /** The oldest Linux release that shows it ("6.17"), when newer kernels brought the behaviour. */
  kernel?: string;
}

/** Whether the running kernel is at least `version` ("6.17"). */
export function kernelAtLeast(version: string, release = osRelease()): boolean {
  const [major, minor] = release.split(/[.-]/).map(Number);
  const [wantMajor, wantMinor] = version.split(".").map(Number);
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}

interface KnownFile {
  about?: string;
  classes: Record<string, KnownDivergence>;
}

export function loadKnownDivergences(): Record<string, KnownDivergence> {
  return (JSON.parse(readFileSync(KNOWN_DIVERGENCES, "utf8")) as KnownFile).classes;
}

/** Writes reproducers into known-divergences.json for the classes listed there that lack one. */
export function saveKnownScripts(scripts: Map<string, string[]>): string[] {
  const data = JSON.parse(readFileSync(KNOWN_DIVERGENCES, "utf8")) as KnownFile;
  const updated: string[] = [];
  for (const [className, script] of scripts) {
    const entry = data.classes[className];
    if (entry && !entry.script) {
      entry.script = script;
      updated.push(className);
    }
  }
  writeFileSync(KNOWN_DIVERGENCES, `${JSON.stringify(data, null, 2)}\n`);
  return updated;
}

/**
 * The generator feature that produces a class, to switch off in a deeper pass so the
 * divergences behind it show (the program's off= names). null: no single feature.
 */
export function featureOf(className: string): string | null {
  const advice = /^madvise-advice-einval:(.*)$/.exec(className);
  if (advice) {
    const value = ADVICE_VALUES[advice[1]] ?? (advice[1].startsWith("advice=") ? Number(advice[1].slice(7)) : NaN);
    if (Number.isNaN(value)) return null;
    return `madv:${value}`;
  }
  if (className.startsWith("prot-unknown-bits")) return "prot-bits";
  if (className.startsWith("map-flags-unknown")) return "map-flags";
  if (className === "map-shared-validate-anon") return "validate";
  if (className === "mremap-dontunmap-unrounded") return "dontunmap-unrounded";
  if (className === "errno-order-mremap-fixed") return "fixed-overlap";
  if (className.includes("oldlen0")) return "oldlen0";
  if (className.includes("length-wrap")) return "huge-len";
  if (["mremap-grow-shared-anon", "errno-order-madvise-free-shared", "mremap-dontunmap-shared"].includes(className)) return "shared";
  if (className === "mmap-hint-rounding") return "hint-sub";
  if (className === "errno-order-mmap-type") return "map-type";
  if (className === "errno-order-mmap-length") return "huge-len";
  if (className.startsWith("mremap-spans") || ["mremap-shrink-past-mapping", "mremap-fixed-several", "mremap-one-mapping-here-several"].includes(className)) {
    return "mremap-span";
  }
  if (className.startsWith("madvise-hole") || className.startsWith("mprotect-hole")) return "range-holes";
  return null;
}

/** Features that shape whole sequences rather than one argument of one call. */
const STRUCTURAL_FEATURES = new Set(["shared", "mremap-span", "range-holes"]);

/** Advice numbers by name (include/uapi/asm-generic/mman-common.h). */
export const ADVICE_VALUES: Record<string, number> = {
  NORMAL: 0, RANDOM: 1, SEQUENTIAL: 2, WILLNEED: 3, DONTNEED: 4, FREE: 8, REMOVE: 9, DONTFORK: 10,
  DOFORK: 11, MERGEABLE: 12, UNMERGEABLE: 13, HUGEPAGE: 14, NOHUGEPAGE: 15, DONTDUMP: 16, DODUMP: 17,
  WIPEONFORK: 18, KEEPONFORK: 19, COLD: 20, PAGEOUT: 21, POPULATE_READ: 22, POPULATE_WRITE: 23,
  DONTNEED_LOCKED: 24, COLLAPSE: 25, GUARD_INSTALL: 102, GUARD_REMOVE: 103,
};

// ---------------------------------------------------------------------------------------------
// Reports

/** A divergence in three lines: where, the call, both sides (for a state line, the page). */
export function formatDivergence(d: Divergence, known?: Record<string, KnownDivergence>): string {
  const tag = known ? (known[d.className] ? " (known)" : " (NEW)") : "";
  const lines = [`${d.unit}: ${d.className}${tag}`];
  if (d.call) lines.push(`  call:   ${callText(d.call)}`);
  if (d.kind === "result") {
    lines.push(`  native: ${parseCall(d.native)?.result ?? d.native}`);
    lines.push(`  wasm:   ${parseCall(d.wasm)?.result ?? d.wasm}`);
  } else if (d.kind === "state") {
    const page = firstPageDifference(d.native, d.wasm);
    if (page) lines.push(`  page ${page.where}: native ${page.native}, wasm ${page.wasm}`);
    lines.push(`  native: ${d.native.trim()}`);
    lines.push(`  wasm:   ${d.wasm.trim()}`);
  } else {
    lines.push(`  native: ${d.native}`);
    lines.push(`  wasm:   ${d.wasm}`);
  }
  return lines.join("\n");
}

export interface ClassSummary {
  className: string;
  count: number;
  first: Divergence;
}

/** Divergences by class, most frequent first. */
export function summarize(results: UnitResult[]): ClassSummary[] {
  const byClass = new Map<string, ClassSummary>();
  for (const { divergence } of results) {
    if (!divergence) continue;
    const entry = byClass.get(divergence.className);
    if (entry) entry.count++;
    else byClass.set(divergence.className, { className: divergence.className, count: 1, first: divergence });
  }
  return [...byClass.values()].sort((a, b) => b.count - a.count || a.className.localeCompare(b.className));
}

export interface Pass {
  off: string[];
  results: UnitResult[];
}

/**
 * Runs the seeds again and again, each pass switching off the features behind the classes the
 * earlier passes found (featureOf), until a pass finds nothing new to switch off: the
 * divergences hidden behind frequent ones show in the later passes.
 */
export async function runDeep(
  options: RunOptions & { start: number; count: number; steps?: number; maxPasses?: number },
  onPass?: (pass: Pass, index: number) => void,
): Promise<Pass[]> {
  const passes: Pass[] = [];
  const off = new Set(options.off ?? []);
  for (let index = 0; index < (options.maxPasses ?? 8); index++) {
    const pass: Pass = { off: [...off].sort(), results: await runSeeds({ ...options, off: [...off] }) };
    passes.push(pass);
    onPass?.(pass, index);
    // Values of one argument first (an advice, a flag), so that a pass shows the divergences
    // of whole sequences (holes, neighbours, shared memory) without them; those go last.
    let added = false;
    for (const structural of [false, true]) {
      for (const { className } of summarize(pass.results)) {
        const feature = featureOf(className);
        if (feature && !off.has(feature) && STRUCTURAL_FEATURES.has(feature) === structural) {
          off.add(feature);
          added = true;
        }
      }
      if (added) break;
    }
    if (!added) break;
  }
  return passes;
}
