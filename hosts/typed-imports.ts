/**
 * Typed `mman` imports, for modules whose signatures we could not read before instantiation
 * (a precompiled WebAssembly.Module, or a type section the reader does not decode).
 *
 * A JavaScript function imported into wasm has no wasm type, so the engine links it to any
 * signature: a guest declaring `mman.mmap` with an i32 offset would link and run. A function
 * exported from a wasm module does carry its type, and linking it to an import of a different
 * type is a LinkError (WebAssembly JS API, "read the imports": the function's type must match).
 * So we route the JavaScript functions through a tiny module that imports them with the ABI's
 * signatures and exports them again unchanged:
 *
 *   (module
 *     (type $t0 (func (param i32) (result i32))) ...            one type per distinct signature
 *     (import "mman" "brk" (func (type $t0))) ...               one import per call
 *     (export "brk" (func 0)) ...)                              re-exported as typed functions
 *
 * The module is encoded here directly (WebAssembly core spec, section 5, Binary Format).
 */
import type { FuncSignature, ValType } from "./wasm-imports.js";

const VALTYPE_CODES: Partial<Record<ValType, number>> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c };

/** An unsigned LEB128 number (wasm core spec, "Integers"). */
export function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...uleb(bytes.length), ...bytes];
}

function section(id: number, contents: number[]): number[] {
  return [id, ...uleb(contents.length), ...contents];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/** The binary of the re-exporting module for `signatures` (import module `moduleName`). */
export function typedReexportModule(moduleName: string, signatures: Readonly<Record<string, FuncSignature>>): Uint8Array<ArrayBuffer> {
  const names = Object.keys(signatures);
  const typeKeys: string[] = [];
  const types: number[][] = [];
  const typeIndex = (signature: FuncSignature): number => {
    const key = JSON.stringify(signature);
    let index = typeKeys.indexOf(key);
    if (index < 0) {
      const code = (type: ValType): number => {
        const found = VALTYPE_CODES[type];
        if (found === undefined) throw new Error(`wasi-mman: no encoding for value type ${type}`);
        return found;
      };
      index = typeKeys.push(key) - 1;
      types.push([0x60, ...vec(signature.params.map((t) => [code(t)])), ...vec(signature.results.map((t) => [code(t)]))]);
    }
    return index;
  };
  const imports = names.map((call) => [...name(moduleName), ...name(call), 0x00, ...uleb(typeIndex(signatures[call]))]);
  const exports = names.map((call, index) => [...name(call), 0x00, ...uleb(index)]);
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(7, vec(exports)),
  ]);
}

/**
 * Wraps JavaScript import functions as typed wasm functions (see above). Functions not in
 * `signatures` are passed through unchanged.
 */
export function typedImports(
  moduleName: string,
  functions: Readonly<Record<string, unknown>>,
  signatures: Readonly<Record<string, FuncSignature>>,
): Record<string, unknown> {
  const present = Object.fromEntries(Object.entries(signatures).filter(([call]) => typeof functions[call] === "function"));
  const module = new WebAssembly.Module(typedReexportModule(moduleName, present));
  const instance = new WebAssembly.Instance(module, { [moduleName]: functions as WebAssembly.ModuleImports });
  return { ...functions, ...instance.exports };
}
