/**
 * The lines `wasi-mman run` adds so that no case passes in silence: a module that never calls
 * the memory calls, a memory limit that refused a call, and a run stopped by SIGINT. Each is
 * one line on stderr.
 */
import { runInNewContext } from "node:vm";
import { findImportedMemory } from "../hosts/check.js";
import { straceLine } from "../hosts/trace-format.js";
import type { ModuleInfo } from "../hosts/wasm-imports.js";
import { MMAN_MODULE } from "../syscalls/abi-mman.js";
import type { TraceRecord } from "../syscalls/calls.js";
import { Mremap, WASM_PAGE_SIZE } from "../runtime/linux.js";
import { formatBytes } from "./format.js";

/** True when the module imports at least one `mman` function (or cannot be read: assume it does). */
export function importsMman(info: ModuleInfo | null): boolean {
  return info === null || info.imports.some((entry) => entry.module === MMAN_MODULE);
}

/** The notice for a module that imports no `mman` function: nothing it does reaches us. */
export function noMmanImportsLine(modulePath: string): string {
  return (
    `wasi-mman: ${modulePath} imports no mman functions, so nothing is tracked: its allocator grows memory itself ` +
    "(build it with `wasi-mman cc` to put malloc on the memory calls)"
  );
}

/** A wasm32 memory holds at most 2^16 pages of 64 KiB. */
const WASM32_MAX_BYTES = 2 ** 32;

/** The limit that stops linear memory from growing, and who set it. */
export interface MemoryLimit {
  bytes: number;
  /** `--max-memory 64 MiB`, `the module's declared maximum (2 MiB, 32 wasm pages)`, `the wasm32 maximum (4 GiB)`. */
  description: string;
}

/** The smallest of --max-memory, the memory's declared maximum and 4 GiB. */
export function memoryLimit(maxMemoryBytes: number | undefined, info: ModuleInfo | null): MemoryLimit {
  const declaredPages = info === null ? null : (findImportedMemory(info.imports)?.limits.maxPages ?? info.memories[0]?.maxPages ?? null);
  const declared = declaredPages === null ? null : declaredPages * WASM_PAGE_SIZE;
  if (maxMemoryBytes !== undefined && (declared === null || maxMemoryBytes <= declared)) {
    return { bytes: maxMemoryBytes, description: `--max-memory ${formatBytes(maxMemoryBytes)}` };
  }
  if (declared !== null && declared < WASM32_MAX_BYTES) {
    return { bytes: declared, description: `the module's declared maximum (${formatBytes(declared)}, ${declaredPages} wasm pages)` };
  }
  return { bytes: WASM32_MAX_BYTES, description: `the wasm32 maximum (${formatBytes(WASM32_MAX_BYTES)})` };
}

/**
 * Watches the calls for the ones refused for want of memory:
 * - an mmap, or an mremap allowed to move, answered ENOMEM: no free run was large enough and
 *   memory could not grow (mremap without MREMAP_MAYMOVE also fails with ENOMEM when it cannot
 *   grow in place, which is not the limit, so it is left out);
 * - a brk refused although it asked for a break past the end of memory: growth was refused.
 *   musl's allocators then fall back to mmap, so a brk refusal alone is named only when the
 *   program then ends with a non-zero status.
 */
export class LimitWatch {
  private firstMap: TraceRecord | null = null;
  private firstBrk: TraceRecord | null = null;
  private count = 0;

  /** `memoryBytes`: linear memory's size after the call. */
  constructor(
    private readonly limit: MemoryLimit,
    private readonly memoryBytes: () => number,
  ) {}

  observe(record: TraceRecord): void {
    if (record.call === "brk") {
      const [asked] = record.args;
      if (asked !== 0 && record.result !== asked && (asked > this.memoryBytes() || asked > this.limit.bytes)) {
        this.firstBrk ??= record;
        this.count++;
      }
      return;
    }
    if (record.errno !== "ENOMEM") return;
    if (record.call !== "mmap" && !(record.call === "mremap" && (record.args[3] & Mremap.MAYMOVE) !== 0)) return;
    this.firstMap ??= record;
    this.count++;
  }

  /** The line for stderr, or null when nothing was refused (or only brk, and the program coped). */
  line(exitCode: number): string | null {
    const first = this.firstMap ?? (exitCode !== 0 ? this.firstBrk : null);
    if (first === null) return null;
    const shown = first.call === "brk" ? `${straceLine(first)} (refused)` : straceLine(first, { errnoText: true });
    const more = this.count > 1 ? ` (${this.count} calls refused in all)` : "";
    return `wasi-mman: out of memory: ${shown}: linear memory is ${formatBytes(this.memoryBytes())} and may not grow past ${this.limit.description}${more}`;
  }
}

/** What Node's vm module throws when SIGINT interrupts a script run with breakOnSigint. */
function isSigintInterrupt(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "ERR_SCRIPT_EXECUTION_INTERRUPTED";
}

/**
 * Runs `body` (a module's `_start`, synchronous) so that Ctrl-C stops it and control comes
 * back here: returns "interrupted" then, else what `body` returned. A WASI command runs
 * synchronously on the main thread, so a `process.on("SIGINT")` handler would never run
 * before it ends; Node's vm `breakOnSigint` watches for SIGINT on its own thread and ends the
 * running code (wasm included) with an exception, after which --stats and the trace can still
 * be written. Outside this call, SIGINT keeps its default action.
 */
export function runInterruptibly<T>(body: () => T): T | "interrupted" {
  try {
    return runInNewContext("body()", { body }, { breakOnSigint: true }) as T;
  } catch (error) {
    if (isSigintInterrupt(error)) return "interrupted";
    throw error;
  }
}

/** The shell's exit status for a process ended by SIGINT: 128 + 2. */
export const EXIT_SIGINT = 130;
