/**
 * What test/zstd.test.ts and test/zstd-threads.test.ts share: why they would skip, and the
 * native reference's output on the corpus.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cToolchainStatus } from "../../scripts/build-c.js";
import { fetchZstdSource, ZstdSourceUnavailable, type NativeZstd } from "../../scripts/build-zstd.js";

/** "" when zstd can be built and compared here; else one line saying what is missing. */
export function zstdSkipReason(): string {
  const toolchain = cToolchainStatus();
  if (!toolchain.ok) return toolchain.reason;
  try {
    fetchZstdSource();
  } catch (error) {
    if (error instanceof ZstdSourceUnavailable) return error.message;
    throw error;
  }
  const haveZstd = spawnSync("sh", ["-c", "command -v zstd || command -v gcc"]).status === 0;
  return haveZstd ? "" : "no native zstd and no gcc to build one from the same source";
}

/**
 * Native zstd's frame for `args` on `<work>/in`, read as a file (its size known, as in the
 * wasm runs, where zstd picks its parameters for that size too).
 */
export function nativeFrame(native: NativeZstd, work: string, args: readonly string[]): Buffer {
  const output = join(work, "native.zst");
  const result = spawnSync(native.path, ["-q", "-f", ...args, join(work, "in"), "-o", output], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`native zstd ${args.join(" ")} failed: ${result.stderr}`);
  return readFileSync(output);
}
