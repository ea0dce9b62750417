/**
 * Runs one wasi-threads module with runThreaded in a process of its own, so that the program's
 * stdout (written by the workers straight to fd 1) can be captured whole by the parent:
 *
 *   node --import tsx test/c-threads-runner.ts HOST PAGE_SIZE prog.wasm [args...]
 *
 * stdout is the program's. After the run, one line `@@result {json}` on stderr gives the exit
 * status, the trap, the threads spawned, the shared engine's invariant check and its counters.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { runThreaded } from "../hosts/threads.js";

export const RESULT_MARK = "@@result ";

/** The host's own C compiler (cc, gcc or clang), for native builds to compare with; null if none. */
export function hostCompiler(): string | null {
  for (const cc of ["cc", "gcc", "clang"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${cc}`], { stdio: "ignore" });
      return cc;
    } catch {
      /* the next one */
    }
  }
  return null;
}

export interface RunnerResult {
  exitCode: number;
  trap: string | null;
  threadsSpawned: number;
  /** "ok", or the message checkInvariants(true) threw. */
  invariants: string;
  calls: Record<string, number> | null;
  errors: Record<string, number> | null;
  liveMappings: number | null;
  warnings: string[];
}

async function main(): Promise<void> {
  const [host, pageSize, file, ...args] = process.argv.slice(2);
  if (host !== "shim" && host !== "node-wasi") throw new Error(`host must be shim or node-wasi, not ${host}`);
  const warnings: string[] = [];
  const result = await runThreaded(new Uint8Array(readFileSync(file)), {
    host,
    args: [basename(file), ...args],
    mman: { pageSize: Number(pageSize) },
    onWarning: (message) => warnings.push(message),
  });
  let invariants = "ok";
  try {
    result.mman?.checkInvariants(true);
  } catch (error) {
    invariants = (error as Error).message;
  }
  const stats = result.mman?.stats();
  const report: RunnerResult = {
    exitCode: result.exitCode,
    trap: result.trap,
    threadsSpawned: result.threadsSpawned,
    invariants,
    calls: stats?.calls ?? null,
    errors: stats?.errors ?? null,
    liveMappings: stats?.liveMappings ?? null,
    warnings,
  };
  process.stderr.write(`\n${RESULT_MARK}${JSON.stringify(report)}\n`);
  process.exit(0);
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) await main();
