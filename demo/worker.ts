/**
 * Runs one fixture off the page's main thread, so the page stays responsive while a large
 * program runs (big at 4 KiB pages grows 440 MiB and makes 627 calls). One worker per run:
 * ending it frees the program's memory at once.
 *
 *   page --{ fixture, bytes, pageSize, record, guard }--> worker --{ reply } or { error }--> page
 */
import type { DemoFixture } from "./catalogue.js";
import { runFixture, toReply } from "./run.js";

export interface WorkerRequest {
  fixture: DemoFixture;
  bytes: Uint8Array<ArrayBuffer>;
  pageSize: number;
  record: boolean;
  /** Instrument the module and run it on a guarded engine (run --guard). */
  guard: boolean;
}

addEventListener("message", (event: MessageEvent<WorkerRequest>) => {
  const { fixture, bytes, pageSize, record, guard } = event.data;
  runFixture(fixture, bytes, pageSize, record, guard).then(
    (outcome) => {
      const { reply, transfer } = toReply(outcome);
      postMessage({ reply }, { transfer });
    },
    (error: unknown) => postMessage({ error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
  );
});
