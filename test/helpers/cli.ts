/**
 * Spawning the `wasi-mman` command in tests. The command runs from the TypeScript sources
 * (`node --import tsx cli/main.ts`), so a stale dist/ never answers for them.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running command: its process (to signal it) and its result once it ends. */
export interface Running {
  child: ChildProcess;
  done: Promise<Run>;
}

/** Starts node with `args` in `cwd` (default: the repository root); collects its output. */
export function startNode(args: string[], cwd: string = repoRoot, env: NodeJS.ProcessEnv = process.env): Running {
  const child = spawn(process.execPath, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  const done = new Promise<Run>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  return { child, done };
}

/** Runs node with `args` in the repository root and collects its output. */
export function spawnNode(args: string[]): Promise<Run> {
  return startNode(args).done;
}

/** `wasi-mman <args>` from the sources. */
export function cli(...args: string[]): Promise<Run> {
  return spawnNode(["--import", "tsx", "cli/main.ts", ...args]);
}

/** The non-empty lines of a run's stderr. */
export function errLines(run: Run): string[] {
  return run.stderr.split("\n").filter((line) => line !== "");
}
