/**
 * Running a module with @bjorn3/browser_wasi_shim and the memory calls.
 *
 * One call does it all:
 *
 *   const { exitCode, mman } = await runWithShim(bytes, { args: ["prog"], mman: { pageSize: 16384 } });
 *
 * and the plain-imports path, for a setup of your own, is four lines:
 *
 *   const wasi = new WASI(args, env, fds, { debug: false });
 *   const mman = createMman({ files: shimFileResolver(wasi) });
 *   const { instance } = await WebAssembly.instantiate(bytes, { wasi_snapshot_preview1: wasi.wasiImport, ...mman.imports });
 *   mman.attach(instance); wasi.start(instance);
 *
 * File-backed mappings: unless told otherwise, the memory calls resolve guest fds through the
 * shim's descriptor table (shimFileResolver), so `mmap(fd)` maps the shim's files. Both import
 * modules are wrapped (coherentShim) so that shared mappings and the shim's file calls
 * see the same bytes at every call.
 * This file imports nothing from Node: it runs in browsers too.
 */
import { ConsoleStdout, File, OpenFile, WASI, WASIProcExit, type Fd } from "@bjorn3/browser_wasi_shim";
import type { FileResolver } from "../syscalls/context.js";
import type { Mman, MmanOptions } from "../syscalls/create-mman.js";
import { createMman } from "../syscalls/create-mman.js";
import { instantiateWithMman, type Instantiated, type ModuleKind, type ModuleSource } from "./instantiate.js";
import { coherentShim, shimFileResolver } from "./shim-files.js";

export interface ShimRunOptions {
  /** argv, including argv[0] (default `["module.wasm"]`: C's main needs an argv[0]). */
  args?: string[];
  /** Environment, as an object or as "K=V" strings. */
  env?: Record<string, string> | string[];
  /**
   * The descriptor table: [stdin, stdout, stderr, preopened dirs...]. Default: empty stdin,
   * stdout and stderr line-buffered to console.log / console.error.
   */
  fds?: Fd[];
  /** A WASI object of your own (then args, env and fds are ignored). */
  wasi?: WASI;
  /** The memory calls: an Mman from createMman(), or options to make one. */
  mman?: Mman | MmanOptions;
  /**
   * How guest fds become files for file-backed mmap. Default "shim": the shim's own
   * descriptors. Pass a FileResolver of your own, or null for ENODEV on every file mapping.
   * Ignored when `mman` is an existing Mman (set its resolver with setFileResolver()).
   */
  files?: "shim" | FileResolver | null;
  /** Further import modules. */
  imports?: WebAssembly.Imports;
  /**
   * The memory, for a module that imports one (default: made from the limits its bytes
   * declare). Required when `source` is a compiled WebAssembly.Module that imports its
   * memory, whose limits cannot be read: without it, ImportMismatchError says so.
   */
  memory?: WebAssembly.Memory;
  /** Heap base for a module that does not export `__heap_base`. */
  heapBase?: number;
  /** Where notices go (default console.warn). */
  onWarning?: (message: string) => void;
  /**
   * "auto" (default): `_start` makes a command, otherwise a reactor. A command's `_start`
   * runs; a reactor's `_initialize` (if any) runs and its exports are then yours to call.
   */
  run?: "auto" | "command" | "reactor";
  /** browser_wasi_shim's debug logging (default false; the shim's own default is on). */
  debug?: boolean;
}

export interface ShimRunResult extends Instantiated {
  wasi: WASI;
  /** The command's exit code, or the code a reactor's _initialize exited with; else null. */
  exitCode: number | null;
}

function envStrings(env: ShimRunOptions["env"]): string[] {
  if (env === undefined) return [];
  if (Array.isArray(env)) return env;
  return Object.entries(env).map(([key, value]) => `${key}=${value}`);
}

/** stdin (empty), stdout and stderr to the console, one line per call. */
export function defaultShimFds(): Fd[] {
  return [
    new OpenFile(new File([])),
    ConsoleStdout.lineBuffered((line) => console.log(line)),
    ConsoleStdout.lineBuffered((line) => console.error(line)),
  ];
}

/**
 * Instantiates `source` with browser_wasi_shim and the memory calls, attaches them, and runs
 * `_start` (command) or `_initialize` (reactor). A command's exit code is returned, whether it
 * returned from `_start` (0) or called proc_exit; a trap propagates as the engine's
 * RuntimeError. Import mismatches throw ImportMismatchError before anything runs.
 */
export async function runWithShim(source: ModuleSource, options: ShimRunOptions = {}): Promise<ShimRunResult> {
  const wasi =
    options.wasi ??
    new WASI(options.args ?? ["module.wasm"], envStrings(options.env), options.fds ?? defaultShimFds(), {
      debug: options.debug ?? false,
    });
  let mman: Mman;
  // Which files guest fds name, for coherence: the shim's own unless a resolver is given.
  let resolver: FileResolver = shimFileResolver(wasi);
  if (options.mman !== undefined && "attach" in options.mman) {
    mman = options.mman;
  } else {
    const files = options.files === undefined || options.files === "shim" ? resolver : options.files;
    if (files !== null) resolver = files;
    mman = createMman({ ...(files === null ? {} : { files }), onWarning: options.onWarning, ...(options.mman as MmanOptions | undefined) });
  }
  // Shared file mappings and the shim's file calls agree at every call of either kind
  // (docs/hosts.md, "Coherence of shared file mappings").
  const coherent = coherentShim(wasi, mman, resolver);
  const instantiated = await instantiateWithMman(
    source,
    coherent.hostImports,
    {
      mman: coherent.mman,
      imports: options.imports,
      memory: options.memory,
      heapBase: options.heapBase,
      onWarning: options.onWarning,
    },
  );
  const kind: ModuleKind = options.run === undefined || options.run === "auto" ? instantiated.kind : options.run;
  // The shim reads `inst.exports.memory` on every WASI call; wasiView supplies it for an
  // imported memory too (browser_wasi_shim's start/initialize only keep the object).
  const view = instantiated.wasiView as unknown as Parameters<WASI["start"]>[0];
  let exitCode: number | null = null;
  if (kind === "command") {
    if (typeof view.exports._start !== "function") throw new TypeError("wasi-mman: the module exports no _start function (is it a reactor?)");
    exitCode = wasi.start(view);
  } else {
    try {
      wasi.initialize(view);
    } catch (error) {
      // The shim catches proc_exit only inside start(); a reactor may exit during _initialize.
      if (!(error instanceof WASIProcExit)) throw error;
      exitCode = error.code;
    }
  }
  return { ...instantiated, mman, kind, wasi, exitCode };
}
