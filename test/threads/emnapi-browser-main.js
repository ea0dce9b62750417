// The main thread of fixtures/threads/mman-churn.wat under @emnapi/wasi-threads and
// @tybys/wasm-util in Chromium, with the adapter of hosts/emnapi.ts (test/emnapi-browser.test.ts).
// A module Web Worker, since a page may not block in memory.atomic.wait; emnapi's pool of 4
// workers is loaded before _start (preloadWorkers), as emnapi advises for browsers, where a
// blocked thread cannot start a worker. Posts the exit code and a snapshot for the checks in Node.
import { WASIThreads } from "./emnapi/wasi-threads.js";
import { WASI } from "./wasm-util/wasm-util.esm.js";
import { EmnapiMman } from "./dist/hosts/emnapi.js";

/** The word every word of [start, end) holds, or null when they differ. */
function uniformWord(words, start, end) {
  const first = words[start >>> 2];
  for (let at = start >>> 2; at < end >>> 2; at++) if (words[at] !== first) return null;
  return first;
}

/** The guest's tables (the first 4 KiB), each mapping and the break area as one word, the engine's view. */
function snapshot(memory, mman) {
  const words = new Uint32Array(memory.buffer);
  const stats = mman.stats();
  let invariantError = null;
  try {
    mman.checkInvariants(true);
  } catch (error) {
    invariantError = String(error);
  }
  const breakStart = words[0x800 >>> 2];
  return {
    linearMemoryBytes: stats.linearMemoryBytes,
    head: Array.from(words.subarray(0, 1024)),
    mappings: mman.mappings().map(({ address, length, prot }) => ({ address, length, prot, word: uniformWord(words, address, address + length) })),
    breakWord: uniformWord(words, breakStart, stats.brk),
    stats,
    invariantError,
  };
}

self.onmessage = async ({ data: { bytes, pageSize } }) => {
  try {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 4096, shared: true });
    const wasi = new WASI({ version: "preview1", args: ["mman-churn"], returnOnExit: true });
    const mman = new EmnapiMman({ pageSize });
    const wasiThreads = new WASIThreads({
      wasi,
      reuseWorker: { size: 4, strict: true },
      waitThreadStart: 10_000,
      onCreateWorker: () => new Worker(new URL("./thread.js", import.meta.url), { type: "module" }),
      beforeLoad: mman.beforeLoad,
    });
    const { module, instance } = await WebAssembly.instantiate(bytes, { env: { memory }, wasi_snapshot_preview1: wasi.wasiImport, ...wasiThreads.getImportObject(), ...mman.imports });
    mman.attach(instance, memory);
    wasiThreads.setup(instance, module, memory);
    await wasiThreads.preloadWorkers();
    const started = performance.now();
    const exitCode = wasi.start({ exports: { ...instance.exports, memory } });
    self.postMessage({ exitCode, ms: performance.now() - started, snapshot: snapshot(memory, mman.mman) });
  } catch (error) {
    self.postMessage({ error: String(error?.stack ?? error) });
  }
};
