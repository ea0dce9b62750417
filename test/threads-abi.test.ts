/**
 * The `mman` import ABI under wasi-threads (hosts/threads.ts runThreaded): 4 guest threads of
 * fixtures/threads/mman-churn.wat map, cut, remap and unmap at once through the imports, and
 * thread 0 moves the break, all on one shared engine. The guest checks its tag in every word it
 * owns after each call; test/helpers/mman-churn.ts then checks the state the run ends in against
 * the engine (the same mappings and break, every word still its tag, call counts, invariants).
 * At 4 KiB and 64 KiB pages, with browser_wasi_shim and node:wasi in every thread.
 */
import { describe, expect, it } from "vitest";
import { runThreaded } from "../hosts/threads.js";
import { checkChurn, churnFailure, threadFixture } from "./helpers/mman-churn.js";

describe.each(["shim", "node-wasi"] as const)("mman imports in 4 threads, %s", (host) => {
  it.each([4096, 65536])("%i-byte pages: no page handed out twice, every live mapping and the break keep their bytes", async (pageSize) => {
    const started = performance.now();
    const result = await runThreaded(await threadFixture("mman-churn"), { host, args: ["mman-churn"], mman: { pageSize } });
    const elapsed = performance.now() - started;
    expect(churnFailure(result.memory)).toBeNull();
    expect(result.exitCode).toBe(0);
    expect(result.trap).toBeNull();
    expect(result.threadsSpawned).toBe(4);
    expect(result.mman).not.toBeNull();
    const figures = checkChurn(result.memory, result.mman!);
    expect(figures.calls.mmap).toBeGreaterThan(1000);
    expect(figures.calls.mremap).toBeGreaterThan(1000);
    console.log(
      `${host}, ${pageSize / 1024} KiB pages: ${figures.calls.mmap} mmap, ${figures.calls.munmap} munmap, ${figures.calls.mremap} mremap, ` +
        `${figures.calls.brk} brk (${figures.brkRefusals} refused) from 4 threads (${figures.mostRunning} at once) in ${elapsed.toFixed(0)} ms; ` +
        `${figures.mappings} mappings live at exit (${(figures.mappedBytes / 1024).toFixed(0)} KiB)`,
    );
  }, 60_000);
});
