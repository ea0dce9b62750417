/**
 * wasi-mman for browsers: everything that runs without Node's built-in modules.
 *
 * The engine (runtime/), the calls and the `mman` import module (syscalls/), and the
 * browser_wasi_shim adapter (hosts/shim.ts, hosts/shim-files.ts) import nothing from `node:`;
 * the node:wasi adapter and the CLI do, and are left out here. With a bundler:
 *
 *   import { runWithShim, PageKind } from "wasi-mman/browser";
 *   const { exitCode, mman } = await runWithShim(bytes, { args: ["prog"], mman: { pageSize: 16384 } });
 *   const kinds = mman.space.pageKinds();   // one PageKind per libc page, for a memory map
 *
 * Without one, `npm run demo` writes a self-contained ES module (browser_wasi_shim included)
 * to .cache/demo/wasi-mman.js, which a plain `<script type="module">` can import.
 */
export { createMman } from "./syscalls/create-mman.js";
export type { AttachInfo, AttachTarget, Mman, MmanOptions, MmanStats } from "./syscalls/create-mman.js";
export type { FileResolver } from "./syscalls/context.js";
export { CALL_NAMES } from "./syscalls/calls.js";
export type { CallName, TraceHook, TraceRecord } from "./syscalls/calls.js";
export { MMAN_ABI_VERSION, MMAN_MODULE, MMAN_SIGNATURES } from "./syscalls/abi-mman.js";
export type { MmanImportName, MmanImports } from "./syscalls/abi-mman.js";
export { AddressSpace, PageKind } from "./runtime/address-space.js";
export type { MappableFile, MappingInfo } from "./runtime/address-space.js";
export { ArrayLinearMemory, WasmLinearMemory } from "./runtime/memory.js";
export type { LinearMemory } from "./runtime/memory.js";
export { pageGeometry, parsePageSize, MIN_PAGE_SIZE, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE } from "./runtime/page-size.js";
export { growthPolicy } from "./runtime/growth.js";
export type { GrowthOption, GrowthPolicy } from "./runtime/growth.js";
export { Errno, errnoName, Prot, MapFlags, Mremap, Madv, Ms } from "./runtime/linux.js";

// Host adapters that need no Node: browser_wasi_shim, its files, import checks, trace lines.
export { runWithShim, defaultShimFds } from "./hosts/shim.js";
export type { ShimRunOptions, ShimRunResult } from "./hosts/shim.js";
export { shimFileResolver, mappableFromShimFd } from "./hosts/shim-files.js";
export type { ShimFdTable } from "./hosts/shim-files.js";
export { instantiateWithMman, compileModule } from "./hosts/instantiate.js";
export type { InstantiateOptions, Instantiated, ModuleKind, ModuleSource } from "./hosts/instantiate.js";
export { checkAllImportsPresent, checkMmanImports, ImportMismatchError } from "./hosts/check.js";
export { readModuleInfo, WasmFormatError } from "./hosts/wasm-imports.js";
export { straceLine, traceJsonLine } from "./hosts/trace-format.js";
