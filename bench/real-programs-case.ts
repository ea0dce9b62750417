/**
 * Runs one case of the real-programs benchmark in a child process of its own
 * (bench/real-programs-child.mjs), so that its peak resident memory is its own, and returns
 * what the child measured.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface CaseSpec {
  readonly wasm: string;
  /** "layer": runWithShim with the memory calls; "plain": browser_wasi_shim alone. */
  readonly build: "layer" | "plain";
  /** The libc page size of a layer run. */
  readonly pageSize?: number;
  readonly args?: readonly string[];
  readonly stdin?: string;
}

export interface CaseResult {
  exitCode: number | null;
  timeMs: number;
  linearMemoryBytes: number;
  peakLinearMemoryBytes: number;
  /** Layer: stats().growCalls. Plain: wasi-libc's growing sbrk calls (null if not counted). */
  growCalls: number | null;
  /** Layer only: stats().clearedBytes. */
  clearedBytes: number | null;
  foreignBytes?: number;
  calls?: Record<string, number>;
  peakMappedBytes?: number;
  peakBrkBytes?: number;
  warnings?: string[];
  stdoutSha256: string;
  stdoutBytes: number;
  stdoutTail: string;
  stderr: string;
  /** process.resourceUsage().maxRSS of the child, KiB. */
  maxRssKiB: number;
  vmHwmKiB: number | null;
}

/**
 * Which wasi-mman the child loads. "dist": the library as shipped (`npm run build`), without a
 * TypeScript loader in the process, as the benchmark measures it. "source": index.ts through
 * tsx, for the test, which must see the engine as it is in the working tree.
 */
export type LibraryChoice = "dist" | "source";

const childScript = fileURLToPath(new URL("./real-programs-child.mjs", import.meta.url));

export function libraryUrl(choice: LibraryChoice): string {
  return new URL(choice === "dist" ? "../dist/index.js" : "../index.ts", import.meta.url).href;
}

export function distBuilt(): boolean {
  return existsSync(fileURLToPath(libraryUrl("dist")));
}

/**
 * Runs `spec` in a child process. A run that exits with a status other than 0 throws, unless
 * `allowFailure` (then the caller reports it: a program that runs out of memory, say).
 */
export async function runCase(spec: CaseSpec, library: LibraryChoice = "dist", allowFailure = false): Promise<CaseResult> {
  const loader = library === "source" ? ["--import", "tsx"] : [];
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(process.execPath, [...loader, childScript, libraryUrl(library), JSON.stringify(spec)], {
      maxBuffer: 16 << 20,
    }));
  } catch (error) {
    const failure = error as { code?: unknown; signal?: unknown; stderr?: unknown };
    throw new Error(`${spec.wasm} (${spec.build}${spec.pageSize ? `, ${spec.pageSize}` : ""}) died: code ${String(failure.code)}, signal ${String(failure.signal)}\n${String(failure.stderr ?? "").slice(-2000)}`);
  }
  const result = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as CaseResult;
  if (result.exitCode !== 0 && !allowFailure) {
    throw new Error(`${spec.wasm} (${spec.build}) exited with ${String(result.exitCode)}:\n${result.stdoutTail}${result.stderr}`);
  }
  return result;
}
