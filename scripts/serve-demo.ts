/**
 * Builds the demo page into .cache/demo and serves it (cli/demo-server.ts: 127.0.0.1 only,
 * static files). `wasi-mman demo` serves the copy the package ships (dist/demo).
 *
 *   node --import tsx scripts/serve-demo.ts [--port N] [--no-build]    (npm run demo)
 *
 * Builds first unless --no-build; port 0 picks a free port. Prints the page's URL.
 */
import { pathToFileURL } from "node:url";
import { serveDemo as serveDir, type DemoServer } from "../cli/demo-server.js";
import { buildDemo, DEMO_OUT_DIR } from "./build-demo.js";

export type { DemoServer } from "../cli/demo-server.js";

/** Serves the built demo folder (default .cache/demo) on 127.0.0.1:`port` (0: any free port). */
export function serveDemo(dir: string = DEMO_OUT_DIR, port = 0): Promise<DemoServer> {
  return serveDir(dir, port);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const args = process.argv.slice(2);
  const portIndex = args.indexOf("--port");
  const port = portIndex >= 0 ? Number(args[portIndex + 1]) : Number(process.env.PORT ?? 5178);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve-demo: --port needs a port number, got ${args[portIndex + 1]}`);
    process.exit(2);
  }
  if (!args.includes("--no-build")) {
    const built = await buildDemo();
    for (const { id, reason } of built.skipped) console.log(`left out ${id}: ${reason}`);
  }
  try {
    const { url } = await serveDemo(DEMO_OUT_DIR, port);
    console.log(`wasi-mman demo: ${url}  (checks in this browser: ${url}selftest.html; Ctrl-C stops)`);
  } catch (error) {
    console.error(`serve-demo: cannot listen on 127.0.0.1:${port}: ${(error as Error).message}`);
    process.exit(1);
  }
}
