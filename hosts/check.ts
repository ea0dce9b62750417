/**
 * Checks a module's imports before it is instantiated, so that a mismatch is reported as a
 * readable error naming the import, instead of a LinkError from deep inside the engine or a
 * guest that runs and then fails in a way nobody can trace back.
 */
import { MMAN_MODULE, MMAN_SIGNATURES } from "../syscalls/abi-mman.js";
import { formatSignature, type FuncSignature, type ImportInfo, type MemoryLimits, type ValType } from "./wasm-imports.js";

/**
 * The wasm signatures of the `mman` imports, from the ABI adapter's table (the mman import
 * ABI, version 1: pointers and lengths are i32, mmap's file offset is i64).
 */
export const MMAN_FUNCTION_SIGNATURES: Readonly<Record<string, FuncSignature>> = Object.fromEntries(
  Object.entries(MMAN_SIGNATURES).map(([name, [params, results]]) => [
    name,
    { params: [...params] as ValType[], results: [...results] as ValType[] },
  ]),
);

/** A module's imports do not fit what the host provides; the message names the import. */
export class ImportMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImportMismatchError";
  }
}

function sameSignature(a: FuncSignature, b: FuncSignature): boolean {
  return (
    a.params.length === b.params.length &&
    a.results.length === b.results.length &&
    a.params.every((type, i) => type === b.params[i]) &&
    a.results.every((type, i) => type === b.results[i])
  );
}

/**
 * Checks every `mman` import against the calls provided (`provided`, the keys of
 * `mman.imports.mman`) and the ABI's signatures. Throws ImportMismatchError naming the first
 * import that does not fit. Imports of other modules are not looked at here.
 */
export function checkMmanImports(imports: readonly ImportInfo[], provided: Iterable<string>): void {
  const providedNames = new Set(provided);
  const list = [...providedNames].sort().join(", ");
  for (const entry of imports) {
    if (entry.module !== MMAN_MODULE) continue;
    const what = `${entry.module}.${entry.name}`;
    if (entry.kind !== "function") {
      throw new ImportMismatchError(`wasi-mman: the module imports ${what} as a ${entry.kind}; the mman module has only functions (${list})`);
    }
    const expected = MMAN_FUNCTION_SIGNATURES[entry.name];
    if (!providedNames.has(entry.name) || expected === undefined) {
      throw new ImportMismatchError(`wasi-mman: the module imports the function ${what}, which wasi-mman does not provide (it provides ${list})`);
    }
    // A null signature means the type section used encodings the reader does not decode;
    // the engine's own link-time check still catches a mismatch then (see rewriteLinkError).
    if (entry.signature !== null && !sameSignature(entry.signature, expected)) {
      throw new ImportMismatchError(
        `wasi-mman: the module imports ${what} with signature ${formatSignature(entry.signature)}, ` +
          `but the mman ABI declares ${formatSignature(expected)}`,
      );
    }
  }
}

/**
 * Checks that every import of the module is present in `importObject` (any module, any
 * kind), so that a missing one is named before instantiation. Imports for which
 * `isSuppliedLater(entry)` is true (an imported memory the host creates) are skipped.
 */
export function checkAllImportsPresent(
  imports: readonly ImportInfo[],
  importObject: WebAssembly.Imports,
  isSuppliedLater: (entry: ImportInfo) => boolean = () => false,
): void {
  for (const entry of imports) {
    if (isSuppliedLater(entry)) continue;
    const namespace = importObject[entry.module];
    const value = namespace === undefined ? undefined : (namespace as Record<string, unknown>)[entry.name];
    if (value === undefined) {
      const hint =
        entry.module === "wasi_unstable"
          ? " (this is the old WASI snapshot 0; rebuild the module for wasi_snapshot_preview1)"
          : "";
      throw new ImportMismatchError(`wasi-mman: the module imports the ${entry.kind} ${entry.module}.${entry.name}, which nothing provides${hint}`);
    }
  }
}

/**
 * Rewrites a LinkError that concerns an `mman` import into a readable ImportMismatchError
 * (the fallback for modules whose signatures the reader could not decode). Other errors are
 * returned unchanged.
 */
export function rewriteLinkError(error: unknown): unknown {
  if (!(error instanceof WebAssembly.LinkError)) return error;
  // V8's wording (Node 20): `Import #0 module="mman" function="mmap" error: imported function
  // does not match the expected type`; older versions wrote `Import #0 "mman" "mmap": ...`.
  const match = /module="mman" function="([^"]+)"/.exec(error.message) ?? /"mman" "([^"]+)"/.exec(error.message);
  if (match === null) return error;
  const expected = MMAN_FUNCTION_SIGNATURES[match[1]];
  const declared = expected === undefined ? "" : ` (the mman ABI declares ${formatSignature(expected)})`;
  return new ImportMismatchError(`wasi-mman: the module's import mman.${match[1]} does not match${declared}: ${error.message}`);
}

export interface ImportedMemory {
  module: string;
  name: string;
  limits: MemoryLimits;
}

/** The module's imported memory, if it imports one (wasm 1.0 allows at most one). */
export function findImportedMemory(imports: readonly ImportInfo[]): ImportedMemory | null {
  for (const entry of imports) {
    if (entry.kind === "memory") return { module: entry.module, name: entry.name, limits: entry.limits };
  }
  return null;
}

