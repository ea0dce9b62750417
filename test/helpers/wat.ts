/**
 * Compiles .wat fixtures with wabt (npm) at test time. Fixtures live in fixtures/wat/.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

type Wabt = Awaited<ReturnType<typeof import("wabt")>>;
let wabtPromise: Promise<Wabt> | null = null;

function wabt(): Promise<Wabt> {
  wabtPromise ??= import("wabt").then((module) => module.default());
  return wabtPromise;
}

/** The binary of a .wat text. */
export async function watToWasm(text: string, name = "inline.wat"): Promise<Uint8Array<ArrayBuffer>> {
  const parsed = (await wabt()).parseWat(name, text, {});
  try {
    parsed.resolveNames();
    parsed.validate();
    const { buffer } = parsed.toBinary({});
    return new Uint8Array(buffer);
  } finally {
    parsed.destroy();
  }
}

/** The binary of fixtures/wat/<name>.wat. */
export async function watFixture(name: string): Promise<Uint8Array<ArrayBuffer>> {
  const path = fileURLToPath(new URL(`../../fixtures/wat/${name}.wat`, import.meta.url));
  return watToWasm(readFileSync(path, "utf8"), `${name}.wat`);
}
