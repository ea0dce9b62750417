/**
 * Host adapters: run a module with a WASI host written in JavaScript and the memory calls
 * plugged in, check its imports first, map the host's files, format traces.
 * node:wasi lives in ./node-wasi.js and wasi-threads for Node in ./threads.js (each imported
 * separately, "wasi-mman/node-wasi" and "wasi-mman/threads": they need Node).
 */
export { runWithShim, defaultShimFds } from "./shim.js";
export type { ShimRunOptions, ShimRunResult } from "./shim.js";
export { shimFileResolver, mappableFromShimFd, coherentShim, coherentShimImports, coherentWasiImport, coherentMmanImports } from "./shim-files.js";
export type { ShimFdTable, ShimWasi, CoherentEngine, HostFiles } from "./shim-files.js";
export { instantiateWithMman, compileModule, loadModuleSource, readBuildNote, buildNoteSection, BUILD_NOTE_SECTION, HeapBaseError } from "./instantiate.js";
export type { BuildNote, CompiledModule, InstantiateOptions, Instantiated, ModuleBytes, ModuleKind, ModuleSource } from "./instantiate.js";
export {
  checkAllImportsPresent,
  checkMmanImports,
  findImportedMemory,
  ImportMismatchError,
  MMAN_FUNCTION_SIGNATURES,
  rewriteLinkError,
} from "./check.js";
export { readModuleInfo, formatSignature, WasmFormatError } from "./wasm-imports.js";
export type { FuncSignature, ImportInfo, MemoryLimits, ModuleInfo, ValType } from "./wasm-imports.js";
export { errnoText, straceLine, traceJsonLine } from "./trace-format.js";
export type { StraceLineOptions } from "./trace-format.js";
