/**
 * Compiling WebAssembly text (.wat) to a binary with wabt: the one .wat compiler of the
 * project, so `wasi-mman run` accepts a .wat file directly, tests and benchmarks compile their
 * fixtures (test/helpers/wat.ts), and scripts build the demo and the zeroer with it. wabt is a
 * development dependency: it is loaded only when a .wat file is given, and its absence is a
 * readable error.
 */

/** wabt feature flags (its names: bulk_memory, simd, threads, ...). */
export type WatFeatures = Record<string, boolean>;

/** The features the fixtures use beyond wasm 1.0 (bulk memory: memory.fill/copy). */
export const DEFAULT_WAT_FEATURES: WatFeatures = { bulk_memory: true, mutable_globals: true, sign_extension: true, sat_float_to_int: true, multi_value: true };

interface Wabt {
  parseWat(
    filename: string,
    text: string,
    features?: Record<string, boolean>,
  ): { resolveNames(): void; validate(features?: Record<string, boolean>): void; toBinary(options: object): { buffer: Uint8Array }; destroy(): void };
}

let wabtPromise: Promise<Wabt> | null = null;

async function loadWabt(): Promise<Wabt> {
  wabtPromise ??= (async () => {
    let factory: () => Promise<Wabt>;
    try {
      factory = ((await import("wabt")) as unknown as { default: () => Promise<Wabt> }).default;
    } catch {
      throw new Error("wasi-mman: running a .wat file needs the wabt package (npm install --save-dev wabt), or compile it to .wasm first");
    }
    return factory();
  })();
  return wabtPromise;
}

/** Compiles WebAssembly text to a validated binary; errors name the file and line. */
export async function compileWat(text: string, filename = "module.wat", features: WatFeatures = DEFAULT_WAT_FEATURES): Promise<Uint8Array<ArrayBuffer>> {
  const wabt = await loadWabt();
  let parsed: ReturnType<Wabt["parseWat"]> | null = null;
  try {
    parsed = wabt.parseWat(filename, text, features);
    parsed.resolveNames();
    parsed.validate(features);
    return new Uint8Array(parsed.toBinary({}).buffer);
  } catch (error) {
    // wabt reports "parseWat failed:\nfile:line:col: error: ...\n<source line>\n<caret>";
    // keep the "file:line:col: error: ..." line.
    const message = error instanceof Error ? error.message : String(error);
    const located = message.split("\n").find((line) => /:\d+:\d+: error:/.test(line)) ?? message.split("\n")[0];
    throw new SyntaxError(`wasi-mman: cannot compile ${located.trim()}`);
  } finally {
    parsed?.destroy();
  }
}
