// Compiles runtime/zeroer.wat into runtime/zeroer-wasm.ts, so that the runtime carries the
// zeroer's binaries and needs neither wabt nor a file read. Run it after changing the .wat:
//
//   node --import tsx scripts/build-zeroer.ts
//
// test/zeroing.test.ts compiles the .wat again and fails while the embedded bytes differ.
import { compileWat } from "../cli/wat.js";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const watPath = join(root, "runtime", "zeroer.wat");
const outPath = join(root, "runtime", "zeroer-wasm.ts");

// The .wat imports a non-shared memory with no maximum, which links with every non-shared
// wasm32 memory. A shared memory links only with an import that is shared and has a maximum
// no smaller than the memory's (WebAssembly JS API, "match limits"): 65536 pages (4 GiB) is
// the largest a wasm32 memory can declare, so that import takes every shared wasm32 memory.
const PLAIN_IMPORT = '(import "env" "memory" (memory 0))';
const SHARED_IMPORT = '(import "env" "memory" (memory 0 65536 shared))';

// SIMD for the scan, bulk memory for memory.fill, threads for the shared import.
const FEATURES = { simd: true, bulk_memory: true, threads: true } as const;

export interface ZeroerBinaries {
  /** For a non-shared memory. */
  readonly plain: Uint8Array;
  /** For a shared memory. */
  readonly shared: Uint8Array;
}

/** The two binaries of runtime/zeroer.wat, as the runtime embeds them. */
export async function buildZeroer(): Promise<ZeroerBinaries> {
  const text = readFileSync(watPath, "utf8");
  if (text.split(PLAIN_IMPORT).length !== 2) {
    throw new Error(`${watPath}: expected exactly one ${PLAIN_IMPORT} to derive the shared variant from`);
  }
  const compile = (source: string, name: string): Promise<Uint8Array> => compileWat(source, name, FEATURES);
  return {
    plain: await compile(text, "zeroer.wat"),
    shared: await compile(text.replace(PLAIN_IMPORT, SHARED_IMPORT), "zeroer.wat (shared)"),
  };
}

/** The text of runtime/zeroer-wasm.ts for these binaries. */
export function renderZeroerModule(binaries: ZeroerBinaries): string {
  // Base64 keeps each binary on one line (a byte list would take 25 lines each).
  const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64");
  return `/**
 * The binaries of runtime/zeroer.wat, base64, written by scripts/build-zeroer.ts: run it
 * after changing the .wat (test/zeroing.test.ts fails while these differ from a fresh build).
 */

/** Imports ${PLAIN_IMPORT}: links with any non-shared wasm32 memory. */
export const ZEROER_WASM = "${base64(binaries.plain)}";

/** Imports ${SHARED_IMPORT}: links with any shared wasm32 memory. */
export const ZEROER_SHARED_WASM = "${base64(binaries.shared)}";
`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const binaries = await buildZeroer();
  writeFileSync(outPath, renderZeroerModule(binaries));
  console.log(`${outPath}: ${binaries.plain.length} + ${binaries.shared.length} bytes`);
}
