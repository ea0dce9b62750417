/**
 * Running a module with Node's own WASI (`node:wasi`) and the memory calls.
 *
 *   const { exitCode, mman } = await runWithNodeWasi(bytes, { args: ["prog"], preopens: { "/data": "./data" } });
 *
 * Plain-imports path:
 *
 *   const wasi = new WASI({ version: "preview1", args, env, preopens });
 *   const mman = createMman();
 *   const instance = await WebAssembly.instantiate(module, { ...wasi.getImportObject(), ...mman.imports });
 *   mman.attach(instance); wasi.start(instance);
 *
 * File-backed mappings: node:wasi keeps its file descriptors inside Node (uvwasi), out of
 * JavaScript's reach, so the memory calls cannot read the file behind a guest fd. Without a
 * resolver of your own every file mapping fails with ENODEV (mmap(2): "the underlying
 * filesystem of the specified file does not support memory mapping"). To map files, pass
 * `files: { resolve(fd) { ... } }` returning a MappableFile for the fds you know about, for
 * example files you opened yourself with node:fs and whose guest fd numbers you track. With a
 * resolver, node:wasi's file calls on those fds are kept coherent with shared mappings of them
 * (docs/hosts.md, "Coherence of shared file mappings").
 */
import { WASI, type WASIOptions } from "node:wasi";
import type { FileResolver } from "../syscalls/context.js";
import type { Mman, MmanOptions } from "../syscalls/create-mman.js";
import { createMman } from "../syscalls/create-mman.js";
import { instantiateWithMman, type Instantiated, type ModuleKind, type ModuleSource } from "./instantiate.js";
import { coherentMmanImports, coherentWasiImport } from "./shim-files.js";

export interface NodeWasiRunOptions {
  /** argv, including argv[0] (default `["module.wasm"]`: with an empty argv a C main exits 71). */
  args?: string[];
  env?: Record<string, string>;
  /** Guest path -> host directory. */
  preopens?: Record<string, string>;
  /** Host fds for the guest's stdin/stdout/stderr (default 0, 1, 2). */
  stdin?: number;
  stdout?: number;
  stderr?: number;
  /** A WASI object of your own (then the options above are ignored). */
  wasi?: WASI;
  mman?: Mman | MmanOptions;
  /** Resolver for file-backed mmap; without one they fail with ENODEV (see above). */
  files?: FileResolver | null;
  imports?: WebAssembly.Imports;
  /**
   * The memory, for a module that imports one (default: made from the limits its bytes
   * declare). Required when `source` is a compiled WebAssembly.Module that imports its
   * memory, whose limits cannot be read: without it, ImportMismatchError says so.
   */
  memory?: WebAssembly.Memory;
  heapBase?: number;
  /** Where notices go (default console.warn). */
  onWarning?: (message: string) => void;
  run?: "auto" | "command" | "reactor";
}

export interface NodeWasiRunResult extends Instantiated {
  wasi: WASI;
  exitCode: number | null;
}

/**
 * Instantiates `source` with node:wasi and the memory calls, attaches them, and runs `_start`
 * (command: returns its exit code) or `_initialize` (reactor). node:wasi allows one
 * start()/initialize() per WASI object.
 */
export async function runWithNodeWasi(source: ModuleSource, options: NodeWasiRunOptions = {}): Promise<NodeWasiRunResult> {
  const wasiOptions: WASIOptions = {
    version: "preview1",
    args: options.args ?? ["module.wasm"],
    env: options.env ?? {},
    preopens: options.preopens ?? {},
    stdin: options.stdin,
    stdout: options.stdout,
    stderr: options.stderr,
    returnOnExit: true,
  };
  const wasi = options.wasi ?? new WASI(wasiOptions);
  let mman: Mman;
  const files = options.files ?? null;
  if (options.mman !== undefined && "attach" in options.mman) {
    mman = options.mman;
  } else {
    mman = createMman({ ...(files === null ? {} : { files }), onWarning: options.onWarning, ...(options.mman as MmanOptions | undefined) });
  }
  // Coherence (docs/hosts.md): the memory calls always reconcile shared mappings among
  // themselves; node:wasi's file calls only when a resolver says which file an fd is.
  const hostImports = wasi.getImportObject() as { wasi_snapshot_preview1: Record<string, unknown> };
  const preview1 =
    files === null
      ? hostImports.wasi_snapshot_preview1
      : coherentWasiImport(hostImports.wasi_snapshot_preview1, mman, { fileOf: (fd) => files.resolve(fd) });
  const instantiated = await instantiateWithMman(source, { ...hostImports, wasi_snapshot_preview1: preview1 } as WebAssembly.Imports, {
    mman: { ...mman, imports: { ...mman.imports, mman: coherentMmanImports(mman) } },
    imports: options.imports,
    memory: options.memory,
    heapBase: options.heapBase,
    onWarning: options.onWarning,
  });
  const kind: ModuleKind = options.run === undefined || options.run === "auto" ? instantiated.kind : options.run;
  // node:wasi validates `exports.memory`; wasiView supplies it for an imported memory. It also
  // refuses a command that exports _initialize and a reactor that exports _start, so the view
  // carries only the entry point being run.
  const { _start, _initialize, ...rest } = instantiated.wasiView.exports;
  let exitCode: number | null = null;
  if (kind === "command") {
    if (typeof _start !== "function") throw new TypeError("wasi-mman: the module exports no _start function (is it a reactor?)");
    exitCode = wasi.start({ exports: { ...rest, _start } } as unknown as WebAssembly.Instance);
  } else {
    wasi.initialize({ exports: _initialize === undefined ? rest : { ...rest, _initialize } } as unknown as WebAssembly.Instance);
  }
  return { ...instantiated, mman, kind, wasi, exitCode };
}
