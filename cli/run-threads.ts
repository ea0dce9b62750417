/**
 * `wasi-mman run` for a wasi-threads module (one that imports `wasi.thread-spawn`): the module
 * runs through runThreaded (hosts/threads.ts), `_start` and every spawned thread in a worker of
 * its own, over one shared memory and one memory engine. Each thread gets browser_wasi_shim
 * with the same args and environment and the process's stdin, stdout and stderr.
 *
 * What a threaded run takes from `run`'s options: --page-size, --max-memory, --growth (the
 * shared engine's), --env, and --stats (the shared engine counts every thread's calls). The
 * options that need something one thread cannot give for all of them are refused, naming the
 * option (exit 2), rather than taken and quietly not honoured; THREADED_REFUSALS says why for
 * each.
 */
import { WASI } from "@bjorn3/browser_wasi_shim";
import { checkAllImportsPresent, checkMmanImports, findImportedMemory, ImportMismatchError, MMAN_FUNCTION_SIGNATURES } from "../hosts/check.js";
import { EXIT_TRAP, runThreaded, sharedMemoryFor } from "../hosts/threads.js";
import type { ModuleInfo } from "../hosts/wasm-imports.js";
import { MMAN_MODULE } from "../syscalls/abi-mman.js";
import type { MmanOptions } from "../syscalls/create-mman.js";
import { UsageError } from "./args.js";
import { formatStats } from "./format.js";
import { writeLineSync } from "./host-io.js";
import { importsMman, noMmanImportsLine } from "./run-notices.js";

/** The import runThreaded supplies in every thread; isThreadedModule() tells a module by it. */
const THREAD_SPAWN = { module: "wasi", name: "thread-spawn" } as const;

/**
 * The options a threaded run refuses, and why. The calls are made in the workers, each with
 * an engine object of its own, and no trace hook reaches them; the guard's protection table
 * is one instance's; --dir loads files into one browser_wasi_shim, and each thread has its own.
 */
export const THREADED_REFUSALS: Readonly<Record<string, string>> = {
  "--dir": "each thread has a WASI host of its own, and a loaded directory cannot be shared between them",
  "--ro-dir": "each thread has a WASI host of its own, and a loaded directory cannot be shared between them",
  "--trace": "the calls are made in worker threads, which no trace reaches yet",
  "--strace": "the calls are made in worker threads, which no trace reaches yet",
  "--strace-summary": "the calls are made in worker threads, which no trace reaches yet",
  "--strace-output": "the calls are made in worker threads, which no trace reaches yet",
  "--html": "the report is built from a trace of the calls, and they are made in worker threads",
  "--guard": "the guard's protection table belongs to one instance, and each thread is an instance of its own",
};

/** True for a module that imports `wasi.thread-spawn` (the test of isThreadedModule, on the parsed imports). */
export function importsThreadSpawn(info: ModuleInfo | null): boolean {
  return info !== null && info.imports.some((entry) => entry.module === THREAD_SPAWN.module && entry.name === THREAD_SPAWN.name && entry.kind === "function");
}

/** Throws a UsageError for the first option given (`has`) that a threaded run cannot honour. */
export function refuseThreadedOptions(has: (option: string) => boolean): void {
  for (const [option, reason] of Object.entries(THREADED_REFUSALS)) {
    if (has(option)) throw new UsageError(`${option} is not supported for a threaded module (it imports wasi.thread-spawn): ${reason}`);
  }
}

/**
 * Names an import no thread would have before any worker starts, so that it is exit 2 with
 * one line, as for a single thread, and not a LinkError in a worker (a trap, 134). Returns the
 * shared memory made from the memory import's limits (undefined without one: runThreaded
 * then says what is missing).
 */
function checkThreadImports(info: ModuleInfo): WebAssembly.Memory | undefined {
  checkMmanImports(info.imports, Object.keys(MMAN_FUNCTION_SIGNATURES));
  const provided: WebAssembly.Imports = {
    wasi_snapshot_preview1: new WASI([], [], [], { debug: false }).wasiImport as WebAssembly.ModuleImports,
    [THREAD_SPAWN.module]: { [THREAD_SPAWN.name]: () => 0 },
    [MMAN_MODULE]: MMAN_FUNCTION_SIGNATURES as unknown as WebAssembly.ModuleImports,
  };
  checkAllImportsPresent(info.imports, provided, (entry) => entry.kind === "memory");
  const imported = findImportedMemory(info.imports);
  return imported === null ? undefined : sharedMemoryFor(imported.limits, `${imported.module}.${imported.name}`);
}

export interface ThreadedRun {
  modulePath: string;
  moduleArgs: string[];
  bytes: Uint8Array<ArrayBuffer>;
  info: ModuleInfo | null;
  /** "KEY=VALUE" entries, as --env takes them. */
  env: string[];
  mman: Pick<MmanOptions, "pageSize" | "maxMemoryBytes" | "growth">;
  stats: boolean;
}

/** Runs the threaded module; returns the process exit code (the module's, or 134 after a trap). */
export async function runThreadedCommand(run: ThreadedRun): Promise<number> {
  let memory: WebAssembly.Memory | undefined;
  if (run.info !== null) {
    try {
      memory = checkThreadImports(run.info);
    } catch (error) {
      if (error instanceof ImportMismatchError) throw new UsageError(error.message.replace(/^wasi-mman: /, ""));
      throw error;
    }
  }
  if (!importsMman(run.info)) writeLineSync(2, noMmanImportsLine(run.modulePath));
  const env = Object.fromEntries(run.env.map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]));
  const mman = Object.fromEntries(Object.entries(run.mman).filter(([, value]) => value !== undefined)) as MmanOptions;
  const result = await runThreaded(run.bytes, {
    host: "shim",
    args: [run.modulePath, ...run.moduleArgs],
    env,
    mman,
    memory,
    onWarning: (message) => writeLineSync(2, message),
  }).catch((error: unknown) => {
    // Not a shared memory, no maximum, not a valid module: it cannot run here (exit 2).
    if (error instanceof ImportMismatchError || error instanceof WebAssembly.CompileError) throw new UsageError(error.message.replace(/^wasi-mman: /, ""));
    throw error;
  });
  if (result.trap !== null) writeLineSync(2, `wasi-mman: the module trapped: ${result.trap.replace(/^RuntimeError: /, "")}`);
  if (run.stats && result.mman !== null) writeLineSync(2, formatStats(result.mman.stats()));
  return result.trap !== null ? EXIT_TRAP : result.exitCode;
}
