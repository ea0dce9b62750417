/**
 * The cache of C builds: an output is rebuilt only when the hash of its inputs changes. The
 * hash is kept beside the output in `<output>.key`, written after the build, so a build that
 * failed or was stopped half-way is never taken for a finished one.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** A short hash of the parts, each ended by a NUL so that ["ab", "c"] and ["a", "bc"] differ. */
export function digest(parts: readonly (string | Buffer)[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part).update("\0");
  return hash.digest("hex").slice(0, 16);
}

/** Builds `output` with `make` unless its stamp holds `key`; returns `output`. */
export async function unlessBuilt(output: string, key: string, make: () => Promise<void>): Promise<string> {
  const stamp = `${output}.key`;
  if (existsSync(output) && existsSync(stamp) && readFileSync(stamp, "utf8") === key) return output;
  mkdirSync(dirname(output), { recursive: true });
  await make();
  writeFileSync(stamp, key);
  return output;
}
