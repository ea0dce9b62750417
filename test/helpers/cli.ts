/**
 * Spawning the `wasi-mman` command in tests. The command runs from the TypeScript sources
 * (`node --import tsx cli/main.ts`), so a stale dist/ never answers for them.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs node with `args` in the repository root and collects its output. */
export function spawnNode(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** `wasi-mman <args>` from the sources. */
export function cli(...args: string[]): Promise<Run> {
  return spawnNode(["--import", "tsx", "cli/main.ts", ...args]);
}

/** The non-empty lines of a run's stderr. */
export function errLines(run: Run): string[] {
  return run.stderr.split("\n").filter((line) => line !== "");
}
