/**
 * Builds guard/browser.ts as one self-contained ES module for browsers, wasi-mman-guard.js:
 * the guard (instrument() with Binaryen's JavaScript build inside), the browser library and
 * browser_wasi_shim, for a plain `<script type="module">`. About 15 MB, nearly all of it
 * Binaryen (its wasm is inlined in its JavaScript).
 *
 *   node --import tsx scripts/build-guard-browser.ts [outDir]     (default .cache/demo)
 *
 * Binaryen's module imports node:module (and through it node:fs, node:path, node:url,
 * node:crypto) only when `process.versions.node` is set, with a dynamic import(): marked
 * external, it stays in the bundle as a call that a browser never makes.
 */
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const GUARD_BUNDLE_NAME = "wasi-mman-guard.js";

/** Writes `<outDir>/wasi-mman-guard.js`; returns the file's path. */
export async function buildGuardBrowser(outDir: string = join(root, ".cache", "demo")): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, GUARD_BUNDLE_NAME);
  await build({
    bundle: true,
    platform: "browser",
    format: "esm",
    // Binaryen's module ends in a top-level await (it instantiates its wasm on import).
    target: "es2022",
    // No source map: it would be 33 MB, nearly all of it for Binaryen's minified code.
    sourcemap: false,
    logLevel: "warning",
    absWorkingDir: root,
    external: ["node:*"],
    entryPoints: [join(root, "guard", "browser.ts")],
    outfile,
  });
  return outfile;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  console.log(`guard bundle written: ${await buildGuardBrowser(process.argv[2] ? resolve(process.argv[2]) : undefined)}`);
}
