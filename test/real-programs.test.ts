/**
 * The smallest real program of bench/real-programs.ts, cJSON 1.7.15 (Debian source package
 * cjson) with fixtures/c/real/cjson/workload.c: built with `wasi-mman cc --malloc=mallocng`
 * and with plain wasi-libc, it must print the same bytes on the layer at 4 KiB pages as the
 * plain build does alone. Both run through the benchmark's own runner
 * (bench/real-programs-child.mjs), here on the engine's sources rather than dist/.
 */
import { beforeAll, describe, expect, test } from "vitest";
import { buildRealProgram, fetchSource, REAL_PROGRAMS, SourceUnavailable, type ProgramBuild } from "../bench/real-programs-build.js";
import { runCase } from "../bench/real-programs-case.js";
import { cToolchainStatus } from "../scripts/build-c.js";

const cjson = REAL_PROGRAMS.find((program) => program.name === "cjson");
if (cjson === undefined) throw new Error("bench/real-programs-build.ts lists no cjson");

function skipReason(): string {
  const toolchain = cToolchainStatus();
  if (!toolchain.ok) return toolchain.reason;
  try {
    fetchSource(cjson as NonNullable<typeof cjson>);
    return "";
  } catch (error) {
    if (error instanceof SourceUnavailable) return error.message;
    throw error;
  }
}
const reason = skipReason();
if (reason) console.warn(`\n*** C REAL-PROGRAM TEST SKIPPED: ${reason} ***\n`);

describe.skipIf(reason !== "")("cJSON workload: mallocng on the layer prints what plain wasi-libc prints", () => {
  let build: ProgramBuild;
  beforeAll(async () => {
    build = await buildRealProgram(cjson, ["mallocng", "plain"]);
  });

  test("mallocng at 4 KiB pages: the same stdout as the plain build", async () => {
    const plain = await runCase({ wasm: build.wasm.plain ?? "", build: "plain" }, "source");
    const layer = await runCase({ wasm: build.wasm.mallocng ?? "", build: "layer", pageSize: 4096 }, "source");
    expect(plain.stdoutTail.trimEnd().endsWith("done")).toBe(true);
    expect(plain.stdoutTail).toContain("round 4: 24000 records");
    expect(layer.stdoutSha256).toBe(plain.stdoutSha256);
    expect(layer.stdoutBytes).toBe(plain.stdoutBytes);
    // The layer did the work: musl's mallocng mapped and unmapped, and nobody else grew memory.
    expect(layer.calls?.mmap).toBeGreaterThan(100);
    expect(layer.calls?.munmap).toBeGreaterThan(100);
    expect(layer.foreignBytes).toBe(0);
  });
});
