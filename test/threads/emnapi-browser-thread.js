// One thread of test/threads/emnapi-browser-main.js: emnapi's ThreadMessageHandler in a module
// Web Worker, with the adapter of hosts/emnapi.ts joining the shared engine.
import { ThreadMessageHandler, WASIThreads } from "./emnapi/wasi-threads.js";
import { WASI } from "./wasm-util/wasm-util.esm.js";
import { EmnapiMmanThread } from "./dist/hosts/emnapi.js";

const thread = new EmnapiMmanThread();
const handler = new ThreadMessageHandler({
  async onLoad({ wasmModule, wasmMemory }) {
    const wasi = new WASI({ version: "preview1", returnOnExit: true });
    const wasiThreads = new WASIThreads({ wasi, childThread: true });
    const imports = { env: { memory: wasmMemory }, wasi_snapshot_preview1: wasi.wasiImport, ...wasiThreads.getImportObject(), ...thread.imports };
    const instance = await WebAssembly.instantiate(wasmModule, imports);
    return { module: wasmModule, instance: wasiThreads.initialize(instance, wasmModule, wasmMemory) };
  },
});
self.onmessage = (event) => {
  if (!thread.receive(event.data)) handler.handle(event);
};
