// One thread of a program under @emnapi/wasi-threads (test/threads/emnapi-main.ts): emnapi's
// ThreadMessageHandler with the adapter of hosts/emnapi.ts joining the shared engine.
import { parentPort } from "node:worker_threads";
import { WASI } from "@tybys/wasm-util";
import { ThreadMessageHandler, WASIThreads, type WASIInstance } from "@emnapi/wasi-threads";
import { EmnapiMmanThread } from "../../hosts/emnapi.js";

const port = parentPort!;
const thread = new EmnapiMmanThread();
const handler = new ThreadMessageHandler({
  postMessage: (message: unknown) => port.postMessage(message),
  async onLoad({ wasmModule, wasmMemory }) {
    const wasi = new WASI({ version: "preview1", returnOnExit: true });
    const wasiThreads = new WASIThreads({ wasi: wasi as WASIInstance, childThread: true, postMessage: (message: unknown) => port.postMessage(message) });
    const imports = { env: { memory: wasmMemory }, wasi_snapshot_preview1: wasi.wasiImport, ...(wasiThreads.getImportObject() as unknown as WebAssembly.Imports), ...thread.imports };
    const loaded = await WebAssembly.instantiate(wasmModule, imports);
    return { module: wasmModule, instance: wasiThreads.initialize(loaded, wasmModule, wasmMemory) };
  },
});
port.on("message", (data: unknown) => {
  if (!thread.receive(data)) handler.handle({ data } as Parameters<ThreadMessageHandler["handle"]>[0]);
});
