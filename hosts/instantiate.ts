/**
 * The part every host adapter shares: check a module's imports, instantiate it with the
 * `mman` imports next to the WASI host's, and attach the memory calls to its memory, all
 * before the module's `_start` or `_initialize` runs.
 *
 *   bytes ──readModuleInfo──> imports + signatures + memory limits
 *         ──checkMmanImports / checkAllImportsPresent──> readable error naming the import
 *         ──WebAssembly.instantiate──> instance
 *         ──exportedHeapBase──> __heap_base checked: an i32 address in the memory
 *         ──mman.attach(memory)──> the calls answer from here on
 *   then the host calls _start (command) or _initialize (reactor).
 *
 * Memory growth needs nothing here: the engine re-reads the memory's size on every call and
 * counts pages grown by someone else (the guest's memory.grow, the WASI host) as foreign.
 */
import { createMman, type Mman, type MmanOptions } from "../syscalls/create-mman.js";
import type { AttachInfo } from "../syscalls/create-mman.js";
import { MMAN_MODULE } from "../syscalls/abi-mman.js";
import {
  checkAllImportsPresent,
  checkMmanImports,
  findImportedMemory,
  ImportMismatchError,
  MMAN_FUNCTION_SIGNATURES,
  rewriteLinkError,
} from "./check.js";
import { typedImports, uleb } from "./typed-imports.js";
import { readModuleInfo, type ImportInfo, type ModuleInfo } from "./wasm-imports.js";

/**
 * A module: its bytes (preferred: signatures are checked), a compiled module, a fetch()
 * Response, a URL (fetched; a file: URL is read from disk in Node), or a string: a file path
 * in Node, a URL relative to the page in a browser. Whatever it is, the bytes are read before
 * anything is instantiated, so the import checks below see them.
 */
export type ModuleSource = ModuleBytes | CompiledModule | Response | URL | string;

/** A module's bytes: a Uint8Array or Node Buffer, any other view, or the buffer itself. */
export type ModuleBytes = ArrayBufferLike | ArrayBufferView;

/**
 * A compiled module. TypeScript declares WebAssembly.Module as an empty interface, which any
 * value but null and undefined would match (a number, a path object); the tag every real module
 * carries keeps those out of ModuleSource.
 */
export interface CompiledModule extends WebAssembly.Module {
  readonly [Symbol.toStringTag]?: "WebAssembly.Module";
}

/** What a source is once read: bytes, or the compiled module it already was. */
type LoadedSource = ModuleBytes | WebAssembly.Module;

/**
 * The custom section `wasi-mman cc` adds to every module it links: a JSON object saying how
 * the module was built, e.g. `{"tool":"wasi-mman cc","malloc":"dlmalloc","heapBase":"memory-size"}`.
 * `heapBase: "memory-size"` says the module leaves `__heap_base` out on purpose (wasi-libc's
 * dlmalloc owns the memory above it), so the host starts the break at the end of the memory
 * without a notice.
 */
export const BUILD_NOTE_SECTION = "wasi-mman";

export interface BuildNote {
  tool?: string;
  malloc?: string;
  /** "export": the module exports __heap_base; "memory-size": the break starts above the initial memory. */
  heapBase?: "export" | "memory-size";
}

/** The module's build note, or null when it has none (or one that is not a JSON object). */
export function readBuildNote(module: WebAssembly.Module): BuildNote | null {
  const [section] = WebAssembly.Module.customSections(module, BUILD_NOTE_SECTION);
  if (section === undefined) return null;
  try {
    const note: unknown = JSON.parse(new TextDecoder().decode(section));
    return typeof note === "object" && note !== null && !Array.isArray(note) ? (note as BuildNote) : null;
  } catch {
    return null;
  }
}

/** The build note as a custom section's bytes (id 0, size, name, JSON), to append to a module. */
export function buildNoteSection(note: BuildNote): Uint8Array {
  const name = new TextEncoder().encode(BUILD_NOTE_SECTION);
  const payload = new TextEncoder().encode(JSON.stringify(note));
  const body = [...uleb(name.length), ...name, ...payload];
  return new Uint8Array([0, ...uleb(body.length), ...body]);
}

/** Node's fs, found without importing it (this file must bundle for browsers); null elsewhere. */
function nodeFs(): { readFileSync(path: string | URL): Uint8Array } | null {
  const host = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return (host?.getBuiltinModule?.("node:fs") as { readFileSync(path: string | URL): Uint8Array } | undefined) ?? null;
}

/** `https://...`, `file:///...`: a string that names its scheme is a URL, also in Node. */
const URL_WITH_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

function readLocalFile(path: string | URL, fs: NonNullable<ReturnType<typeof nodeFs>>): Uint8Array {
  try {
    return fs.readFileSync(path);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const reason = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : code === "EACCES" ? "permission denied" : String(code ?? error);
    throw new Error(`wasi-mman: cannot read the module ${String(path)}: ${reason}`);
  }
}

async function responseBytes(response: Response): Promise<Uint8Array> {
  if (!response.ok) throw new Error(`wasi-mman: cannot fetch the module ${response.url || "(response)"}: HTTP ${response.status} ${response.statusText}`.trimEnd());
  return new Uint8Array(await response.arrayBuffer());
}

/** Reads a source into bytes (a compiled module and bytes are returned as they are). */
export async function loadModuleSource(source: ModuleSource): Promise<LoadedSource> {
  if (source instanceof WebAssembly.Module || source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return source;
  if (typeof Response === "function" && source instanceof Response) return responseBytes(source);
  const fs = nodeFs();
  if (source instanceof URL) {
    if (source.protocol === "file:" && fs !== null) return readLocalFile(source, fs);
    return responseBytes(await fetch(source));
  }
  if (typeof source === "string") {
    if (fs !== null && source.startsWith("file://")) return readLocalFile(new URL(source), fs);
    if (fs !== null && !URL_WITH_SCHEME.test(source)) return readLocalFile(source, fs);
    return responseBytes(await fetch(source));
  }
  if (typeof SharedArrayBuffer === "function" && (source as unknown) instanceof SharedArrayBuffer) return source as SharedArrayBuffer;
  throw new TypeError(`wasi-mman: a module must be bytes, a WebAssembly.Module, a Response, a URL or a path, got ${Object.prototype.toString.call(source)}`);
}

/** Whether the module is a WASI command (`_start`) or a reactor (`_initialize`, or neither). */
export type ModuleKind = "command" | "reactor";

export interface InstantiateOptions {
  /** The memory calls: an Mman made with createMman(), or options to make one. */
  mman?: Mman | MmanOptions;
  /** Further import modules (e.g. `env` functions of your own). */
  imports?: WebAssembly.Imports;
  /**
   * The memory for a module that imports its memory. Default: one is created from the
   * limits the module declares (initial and maximum pages), read from its bytes. A compiled
   * WebAssembly.Module does not expose those limits, so one that imports its memory needs
   * this option (or a memory in `imports`): otherwise ImportMismatchError says so.
   */
  memory?: WebAssembly.Memory;
  /** The heap base for a module that does not export `__heap_base`. */
  heapBase?: number;
  /** Where notices go (a start function that may call us too early). Default: console.warn. */
  onWarning?: (message: string) => void;
}

export interface Instantiated {
  module: WebAssembly.Module;
  instance: WebAssembly.Instance;
  /** The memory the calls are attached to (exported or imported). */
  memory: WebAssembly.Memory;
  /** True when the module imports its memory rather than exporting it. */
  importedMemory: boolean;
  mman: Mman;
  attachInfo: AttachInfo;
  kind: ModuleKind;
  /**
   * What a WASI host's start()/initialize() needs: the instance's exports, with `memory`
   * filled in for a module that imports its memory.
   */
  wasiView: { exports: WebAssembly.Exports & { memory: WebAssembly.Memory } };
}

function isMman(value: Mman | MmanOptions | undefined): value is Mman {
  return typeof value === "object" && value !== null && "attach" in value && "imports" in value;
}

/** Uint8Array over any bytes, without copying. */
function bytesOf(source: ModuleBytes): Uint8Array {
  if (source instanceof Uint8Array) return source;
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  return new Uint8Array(source);
}

/**
 * Imports as far as we can know them: from the bytes (with signatures), or from
 * WebAssembly.Module.imports() for an already compiled module (names and kinds only; a wrong
 * mman signature is then caught by the engine's LinkError, which is rewritten).
 */
function describe(source: LoadedSource, module: WebAssembly.Module): ModuleInfo {
  if (!(source instanceof WebAssembly.Module)) return readModuleInfo(bytesOf(source));
  const imports: ImportInfo[] = WebAssembly.Module.imports(module).map((entry) =>
    entry.kind === "function"
      ? { module: entry.module, name: entry.name, kind: "function", signature: null }
      : entry.kind === "memory"
        ? { module: entry.module, name: entry.name, kind: "memory", limits: { minPages: 0, maxPages: null, shared: false, memory64: false } }
        : { module: entry.module, name: entry.name, kind: entry.kind as "table" | "global" | "tag" },
  );
  return { imports, memories: [], hasStartSection: false };
}

/**
 * The module's `__heap_base` export cannot be the heap base: not a global, not an i32, or
 * not an address in its memory. A kind of ImportMismatchError (the module does not fit the
 * host), so that hosts reporting those as a usage error do the same for this one.
 */
export class HeapBaseError extends ImportMismatchError {
  constructor(message: string) {
    super(message);
    this.name = "HeapBaseError";
  }
}

/** Binary value-type codes (wasm core spec, "Value Types"). */
const NUMBER_TYPE_CODES = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c } as const;
type NumberType = keyof typeof NUMBER_TYPE_CODES;
const globalProbes = new Map<string, WebAssembly.Module>();

/**
 * A module that imports one global `m.g` of `type`: it links only with a global of exactly
 * that type and mutability (wasm core spec, import matching of global types).
 */
function globalProbe(type: NumberType, mutable: boolean): WebAssembly.Module {
  const key = `${mutable ? "mut " : ""}${type}`;
  let probe = globalProbes.get(key);
  if (probe === undefined) {
    // \0asm, version 1; import section (2), 8 bytes: 1 import "m" "g", global (3), type, mutability.
    const bytes = [0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 2, 8, 1, 1, 0x6d, 1, 0x67, 3, NUMBER_TYPE_CODES[type], mutable ? 1 : 0];
    probe = new WebAssembly.Module(new Uint8Array(bytes));
    globalProbes.set(key, probe);
  }
  return probe;
}

/**
 * A global's value type, or null for one that is not a number (v128, a reference). The JS
 * API tells it only with the type-reflection proposal, so a tiny module that imports a
 * global of each type in turn is linked against it.
 */
function globalType(global: WebAssembly.Global): NumberType | null {
  for (const type of Object.keys(NUMBER_TYPE_CODES) as NumberType[]) {
    for (const mutable of [false, true]) {
      try {
        new WebAssembly.Instance(globalProbe(type, mutable), { m: { g: global } });
        return type;
      } catch {
        // Not this type.
      }
    }
  }
  return null;
}

/**
 * The module's `__heap_base`, checked before the engine reads it; undefined when the module
 * exports none. It must be an i32 global (an i64, f32 or f64 one would be cut to 32 bits or
 * to an integer without a word), read as unsigned (a wasm32 address: -1 is 0xffffffff), and
 * no further than the end of the module's memory, since wasm-ld and asc place it at the end
 * of the static data, which the memory holds.
 */
function exportedHeapBase(exports: WebAssembly.Exports, memory: WebAssembly.Memory): number | undefined {
  const exported: unknown = exports.__heap_base;
  if (exported === undefined) return undefined;
  if (!(exported instanceof WebAssembly.Global)) {
    const kind = typeof exported === "function" ? "a function" : exported instanceof WebAssembly.Memory ? "a memory" : exported instanceof WebAssembly.Table ? "a table" : "something else";
    throw new HeapBaseError(`wasi-mman: the module exports __heap_base as ${kind}, not as an i32 global`);
  }
  const type = globalType(exported);
  if (type === null) throw new HeapBaseError("wasi-mman: the module's __heap_base is not a number global; it must be an i32 address in its memory");
  if (type !== "i32") {
    const value: unknown = exported.value;
    const shown = typeof value === "bigint" ? `0x${value.toString(16)}` : String(value);
    throw new HeapBaseError(`wasi-mman: the module's __heap_base is an ${type} global (${shown}); it must be an i32 address in its memory`);
  }
  const signed = exported.value as number;
  const heapBase = signed >>> 0;
  const size = memory.buffer.byteLength;
  if (heapBase > size) {
    const asSigned = signed < 0 ? ` (${signed} as a signed i32)` : "";
    throw new HeapBaseError(`wasi-mman: the module's __heap_base is 0x${heapBase.toString(16)}${asSigned}, past the end of its memory (${size} bytes)`);
  }
  return heapBase;
}

/**
 * True for a module that has no `__heap_base` and needs none: one that imports no `mman`
 * function (a plain wasi-libc program: its allocator grows memory itself, nothing of ours is
 * called), or one whose build note says the break starts above the initial memory
 * (`wasi-mman cc --malloc=dlmalloc`). The engine's notice about a missing export would be wrong
 * advice for both.
 */
function withoutHeapBaseOnPurpose(info: ModuleInfo, module: WebAssembly.Module): boolean {
  if (!info.imports.some((entry) => entry.module === MMAN_MODULE)) return true;
  return readBuildNote(module)?.heapBase === "memory-size";
}

/** mman.attach(), with the engine's own refusal of a heap base as a HeapBaseError. */
function attachChecked(mman: Mman, target: Parameters<Mman["attach"]>[0]): AttachInfo {
  try {
    return mman.attach(target);
  } catch (error) {
    if (error instanceof RangeError && /heap base/i.test(error.message)) throw new HeapBaseError(error.message);
    throw error;
  }
}

/** Compiles a source, turning a CompileError into a one-line readable error. */
export async function compileModule(source: ModuleSource): Promise<WebAssembly.Module> {
  const loaded = await loadModuleSource(source);
  if (loaded instanceof WebAssembly.Module) return loaded;
  try {
    return await WebAssembly.compile(bytesOf(loaded) as Uint8Array<ArrayBuffer>);
  } catch (error) {
    if (error instanceof WebAssembly.CompileError) throw new WebAssembly.CompileError(`wasi-mman: invalid WebAssembly module: ${error.message}`);
    throw error;
  }
}

/**
 * Instantiates a module with `hostImports` (the WASI host's import object) and the `mman`
 * imports, and attaches the memory calls to its memory. Throws ImportMismatchError, naming
 * the import, when the module imports an `mman` function that is not provided or has the
 * wrong signature, or imports anything that nothing provides; HeapBaseError (a kind of
 * ImportMismatchError) when its `__heap_base` export is not an i32 address in its memory.
 */
export async function instantiateWithMman(
  source: ModuleSource,
  hostImports: WebAssembly.Imports,
  options: InstantiateOptions = {},
): Promise<Instantiated> {
  const loaded = await loadModuleSource(source);
  const module = await compileModule(loaded);
  const info = describe(loaded, module);
  const mman = isMman(options.mman) ? options.mman : createMman(options.mman ?? {});
  checkMmanImports(info.imports, Object.keys(mman.imports.mman));

  // Where a signature could not be read, the mman functions go through typed wasm wrappers,
  // so that the engine's link step checks them (typed-imports.ts); otherwise the plain
  // JavaScript functions are imported (the check above has done that job).
  const unchecked = info.imports.some((entry) => entry.module === MMAN_MODULE && entry.kind === "function" && entry.signature === null);
  const mmanFunctions = unchecked
    ? typedImports(MMAN_MODULE, mman.imports.mman as unknown as Record<string, unknown>, MMAN_FUNCTION_SIGNATURES)
    : mman.imports.mman;
  const importObject: WebAssembly.Imports = { ...hostImports, ...options.imports, [MMAN_MODULE]: mmanFunctions as WebAssembly.ModuleImports };
  const wanted = findImportedMemory(info.imports);
  let memory: WebAssembly.Memory | null = null;
  if (wanted !== null) {
    const given = (importObject[wanted.module] as Record<string, unknown> | undefined)?.[wanted.name];
    memory = options.memory ?? (given instanceof WebAssembly.Memory ? given : null);
    if (memory === null) {
      // A compiled Module does not tell its memory's limits (WebAssembly.Module.imports() gives
      // names and kinds only), so no memory can be made that is sure to link.
      if (loaded instanceof WebAssembly.Module) {
        throw new ImportMismatchError(
          `wasi-mman: the module imports its memory ${wanted.module}.${wanted.name}, and a compiled WebAssembly.Module does not say how large it must be: ` +
            "pass `memory` (a WebAssembly.Memory at least as large as the module declares), or pass the module's bytes",
        );
      }
      if (wanted.limits.memory64) throw new ImportMismatchError(`wasi-mman: the module imports a 64-bit memory ${wanted.module}.${wanted.name}; wasm32 only`);
      const { minPages, maxPages, shared } = wanted.limits;
      memory = new WebAssembly.Memory({ initial: minPages, maximum: maxPages ?? undefined, shared } as WebAssembly.MemoryDescriptor);
    }
    importObject[wanted.module] = { ...importObject[wanted.module], [wanted.name]: memory };
  }
  checkAllImportsPresent(info.imports, importObject);
  if (info.hasStartSection && info.imports.some((entry) => entry.module === MMAN_MODULE)) {
    // The start function runs inside instantiate(), before anything can attach (wasm core
    // spec, "instantiation": the start function is invoked last). Its mman calls get ENOSYS.
    (options.onWarning ?? ((message: string) => console.warn(message)))(
      "wasi-mman: the module has a start function, which runs before the memory calls are attached: " +
        "any mman call it makes fails with ENOSYS (AssemblyScript: compile with --exportStart _start or _initialize)",
    );
  }

  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(module, importObject);
  } catch (error) {
    throw rewriteLinkError(error);
  }

  const exports = instance.exports;
  const exportedMemory = exports.memory instanceof WebAssembly.Memory ? exports.memory : null;
  memory = memory ?? exportedMemory;
  if (memory === null) throw new ImportMismatchError("wasi-mman: the module neither exports nor imports a memory");

  // Checked here, before the engine reads it: a readable error instead of a value cut to
  // 32 bits or a RangeError that a host would take for a trap.
  const exportedBase = exportedHeapBase(exports, memory);
  // `instance` rides along for an mman that needs the exports to attach (guard/guard.ts);
  // createMman's attach reads only memory and heapBase.
  const at = (heapBase: number | undefined): { memory: WebAssembly.Memory; heapBase?: number; instance: WebAssembly.Instance } => ({ memory: memory as WebAssembly.Memory, heapBase, instance });
  let attachInfo: AttachInfo;
  if (exportedBase === undefined && options.heapBase === undefined && withoutHeapBaseOnPurpose(info, module)) {
    // Starting at the end of the memory is right for these modules: no notice.
    attachInfo = { ...attachChecked(mman, at(memory.buffer.byteLength)), heapBaseSource: "memory-size" };
  } else if (exportedMemory === memory) {
    attachInfo = options.heapBase === undefined || exportedBase !== undefined
      ? attachChecked(mman, instance)
      : attachChecked(mman, at(options.heapBase));
  } else {
    // Imported memory: the heap base still comes from the module's export when it has one.
    attachInfo = attachChecked(mman, at(exportedBase ?? options.heapBase));
    if (exportedBase !== undefined) attachInfo = { ...attachInfo, heapBaseSource: "export" };
  }

  const kind: ModuleKind = typeof exports._start === "function" ? "command" : "reactor";
  const wasiView = { exports: { ...exports, memory } };
  return { module, instance, memory, importedMemory: exportedMemory !== memory, mman, attachInfo, kind, wasiView };
}
