/**
 * hosts/emnapi.ts in a browser: fixtures/threads/mman-churn.wat under @emnapi/wasi-threads and
 * @tybys/wasm-util in headless Chromium (Debian's, test/helpers/chromium.ts), every thread a
 * module Web Worker. The adapter's handle reaches each worker by postMessage from beforeLoad,
 * which is the part Node's workerData would not have shown. The page's main worker
 * (test/threads/emnapi-browser-main.js) sends back the guest's tables, each mapping and the
 * break area as one word, and the engine's mappings, statistics and deep invariant check;
 * test/helpers/mman-churn.ts checks them as in Node (test/emnapi.test.ts).
 *
 * Served from a folder of copies: the built dist/ (run `npm run build` first), emnapi's and
 * wasm-util's ESM builds, the two worker scripts, the compiled fixture. Skips with one loud line
 * when Chromium is missing.
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveDemo, type DemoServer } from "../cli/demo-server.js";
import type { Mman, MmanStats } from "../syscalls/create-mman.js";
import { available, Chromium, CHROMIUM } from "./helpers/chromium.js";
import { checkChurn, churnFailure, threadFixture } from "./helpers/mman-churn.js";

const root = join(import.meta.dirname, "..");
const pageDir = join(root, ".cache", "browser-test", "emnapi");
if (!available) console.warn(`\n*** SKIPPED emnapi Chromium test: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH) ***\n`);

const PAGE = `<!doctype html><meta charset="utf-8"><title>emnapi</title><pre id="result"></pre>
<script type="module">
  window.runChurn = (bytes, pageSize) => new Promise((resolve) => {
    const worker = new Worker("./main.js", { type: "module" });
    worker.onmessage = (event) => { worker.terminate(); resolve(event.data); };
    worker.onerror = (event) => resolve({ error: String(event.message) });
    worker.postMessage({ bytes, pageSize });
  });
  document.getElementById("result").textContent = JSON.stringify({ status: "ready", isolated: crossOriginIsolated });
</script>`;

interface Snapshot {
  linearMemoryBytes: number;
  head: number[];
  mappings: { address: number; length: number; prot: number; word: number | null }[];
  breakWord: number | null;
  stats: MmanStats;
  invariantError: string | null;
}

/**
 * A memory and an engine in the shape checkChurn reads: the first 4 KiB as the page saw them,
 * each mapping and the break area filled with their one word, or with two different words
 * when the page found them mixed (so that the tag check fails).
 */
function fromSnapshot(snapshot: Snapshot): { memory: WebAssembly.Memory; mman: Mman } {
  const buffer = new ArrayBuffer(snapshot.linearMemoryBytes);
  const words = new Uint32Array(buffer);
  words.set(snapshot.head);
  const fill = (start: number, end: number, word: number | null): void => {
    words.fill(word ?? 0x5a5a5a5a, start >>> 2, end >>> 2);
    if (word === null && end > start) words[start >>> 2] = 0;
  };
  for (const mapping of snapshot.mappings) fill(mapping.address, mapping.address + mapping.length, mapping.word);
  fill(snapshot.head[0x800 >>> 2], snapshot.stats.brk, snapshot.breakWord);
  const mman = {
    mappings: () => snapshot.mappings.map(({ address, length, prot }) => ({ address, length, prot })),
    stats: () => snapshot.stats,
    checkInvariants: () => {
      if (snapshot.invariantError !== null) throw new Error(snapshot.invariantError);
    },
  };
  return { memory: { buffer } as WebAssembly.Memory, mman: mman as unknown as Mman };
}

/** The page's folder: copies of what it loads, nothing served from outside it. */
async function buildPage(): Promise<void> {
  if (!existsSync(join(root, "dist", "hosts", "emnapi.js"))) throw new Error("dist/hosts/emnapi.js is missing: run npm run build first");
  rmSync(pageDir, { recursive: true, force: true });
  mkdirSync(pageDir, { recursive: true });
  for (const part of ["runtime", "syscalls", "hosts"]) cpSync(join(root, "dist", part), join(pageDir, "dist", part), { recursive: true, filter: (path) => !path.endsWith(".map") && !path.endsWith(".d.ts") });
  const emnapi = join(root, "node_modules", "@emnapi", "wasi-threads");
  const wasmUtil = join(root, "node_modules", "@tybys", "wasm-util");
  mkdirSync(join(pageDir, "emnapi"));
  mkdirSync(join(pageDir, "wasm-util"));
  copyFileSync(join(emnapi, "dist", "wasi-threads.js"), join(pageDir, "emnapi", "wasi-threads.js"));
  copyFileSync(join(wasmUtil, "dist", "wasm-util.esm.js"), join(pageDir, "wasm-util", "wasm-util.esm.js"));
  copyFileSync(join(root, "test", "threads", "emnapi-browser-main.js"), join(pageDir, "main.js"));
  copyFileSync(join(root, "test", "threads", "emnapi-browser-thread.js"), join(pageDir, "thread.js"));
  writeFileSync(join(pageDir, "churn.wasm"), await threadFixture("mman-churn"));
  writeFileSync(join(pageDir, "index.html"), PAGE);
}

describe.skipIf(!available)("hosts/emnapi.ts in headless Chromium", () => {
  let server: DemoServer;
  let browser: Chromium;
  beforeAll(async () => {
    await buildPage();
    server = await serveDemo(pageDir, 0);
    browser = await Chromium.launch();
    const ready = await browser.runPage<{ status: string; isolated: boolean }>(server.url);
    expect(ready).toEqual({ status: "ready", isolated: true });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it.each([4096, 65536])("mman-churn.wat at %i-byte pages, emnapi's pool of 4 Web Workers: the Node checks pass on the page's snapshot", async (pageSize) => {
    const result = await browser.evaluate<{ exitCode?: number; ms?: number; snapshot?: Snapshot; error?: string }>(
      `fetch("./churn.wasm").then((r) => r.arrayBuffer()).then((bytes) => runChurn(bytes, ${pageSize}))`,
    );
    expect(result.error).toBeUndefined();
    expect(browser.problems, "errors on the page").toEqual([]);
    const { memory, mman } = fromSnapshot(result.snapshot as Snapshot);
    expect(churnFailure(memory)).toBeNull();
    expect(result.exitCode).toBe(0);
    expect(result.snapshot?.stats.pageSize).toBe(pageSize);
    const figures = checkChurn(memory, mman);
    console.log(
      `Chromium, emnapi, ${pageSize / 1024} KiB pages: ${figures.calls.mmap} mmap, ${figures.calls.munmap} munmap, ${figures.calls.mremap} mremap, ` +
        `${figures.calls.brk} brk from 4 threads (${figures.mostRunning} at once) in ${result.ms?.toFixed(0)} ms`,
    );
  }, 60_000);
});

// The snapshot's reading of a mixed mapping must fail the checks, or the test above could not.
describe("fromSnapshot", () => {
  it("a mapping the page found mixed fails the tag check", () => {
    const head = new Array<number>(1024).fill(0);
    const snapshot: Snapshot = { linearMemoryBytes: 65536, head, mappings: [{ address: 8192, length: 4096, prot: 3, word: null }], breakWord: 0, stats: { brk: 0 } as MmanStats, invariantError: null };
    const words = new Uint32Array(fromSnapshot(snapshot).memory.buffer, 8192, 1024);
    expect(new Set(words).size).toBe(2);
  });
});
