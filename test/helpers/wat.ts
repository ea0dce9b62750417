/**
 * Compiles .wat fixtures at test time with the project's one .wat compiler (cli/wat.ts).
 * Fixtures live in fixtures/wat/.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { compileWat } from "../../cli/wat.js";

/** The binary of a .wat text. */
export async function watToWasm(text: string, name = "inline.wat"): Promise<Uint8Array<ArrayBuffer>> {
  return compileWat(text, name);
}

/** The binary of fixtures/wat/<name>.wat. */
export async function watFixture(name: string): Promise<Uint8Array<ArrayBuffer>> {
  const path = fileURLToPath(new URL(`../../fixtures/wat/${name}.wat`, import.meta.url));
  return watToWasm(readFileSync(path, "utf8"), `${name}.wat`);
}
