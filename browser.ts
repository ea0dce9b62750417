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
// The main entry is itself free of Node built-ins (node:wasi has its own entry,
// "wasi-mman/node-wasi"); this entry exists so that browser code can say what it needs, and
// so that a test can hold that promise: test/browser-bundle.test.ts bundles it for browsers.
export * from "./index.js";
// wasi-threads with Web Workers (a cross-origin isolated page; docs/browser.md, "Threads").
export { runThreadedInBrowser } from "./hosts/threads-browser.js";
export type { BrowserThreadedRunOptions, BrowserThreadedRunResult } from "./hosts/threads-browser.js";
