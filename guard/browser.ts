/**
 * Guard mode for browsers: instrument(), createGuardedMman() and everything of
 * "wasi-mman/browser" (runWithShim ...), with browser_wasi_shim's classes, from one module.
 *
 * Nothing here needs Node: Binaryen's JavaScript build (npm `binaryen`) carries its wasm
 * inline and reaches for node:module, node:fs and the like only after checking
 * `process.versions.node`, through a dynamic import a bundler can leave alone. So a bundler
 * takes this entry as it is, with `node:*` marked external (esbuild: `external: ["node:*"]`);
 * scripts/build-guard-browser.ts writes it as one self-contained ES module a plain
 * `<script type="module">` can import:
 *
 *   import { instrument, createGuardedMman, runWithShim, WASI, OpenFile, File, ConsoleStdout } from "./wasi-mman-guard.js";
 *   const mman = createGuardedMman({ pageSize: 4096 });
 *   try { await runWithShim(instrument(bytes).bytes, { wasi, mman, run: "command" }); }
 *   catch (error) { console.log(mman.guard.report(error) ?? error); }
 */
export * from "./index.js";
export * from "../browser.js";
export { ConsoleStdout, Directory, File, OpenFile, PreopenDirectory, WASI } from "@bjorn3/browser_wasi_shim";
