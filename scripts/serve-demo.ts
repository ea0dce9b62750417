/**
 * Serves the built demo (.cache/demo) on 127.0.0.1 with node:http: static files only, no
 * network access beyond the loopback interface.
 *
 *   node --import tsx scripts/serve-demo.ts [--port N] [--no-build]    (npm run demo)
 *
 * Builds first unless --no-build; port 0 picks a free port. Prints the page's URL.
 */
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { buildDemo, DEMO_OUT_DIR } from "./build-demo.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  // application/wasm lets WebAssembly.instantiateStreaming take the response.
  ".wasm": "application/wasm",
  ".map": "application/json; charset=utf-8",
  ".png": "image/png",
};

export interface DemoServer {
  server: Server;
  /** The page's URL, e.g. http://127.0.0.1:5178/ */
  url: string;
  close(): Promise<void>;
}

/** Serves `dir` on 127.0.0.1:`port` (0: any free port). */
export function serveDemo(dir: string = DEMO_OUT_DIR, port = 0): Promise<DemoServer> {
  const base = resolve(dir);
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? "/", "http://localhost").pathname);
    const file = normalize(join(base, path.endsWith("/") ? `${path}index.html` : path));
    // Nothing outside the demo folder, whatever the path says.
    if ((file !== base && !file.startsWith(base + sep)) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    response.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    createReadStream(file).pipe(response);
  });
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const actualPort = typeof address === "object" && address !== null ? address.port : port;
      resolvePromise({
        server,
        url: `http://127.0.0.1:${actualPort}/`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
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
