/**
 * The demo page's server: static files of the built page (scripts/build-demo.ts) with
 * node:http on 127.0.0.1 only, nothing outside the page's folder, and optionally one module of
 * the user's own at /user/<name>. Used by `wasi-mman demo` and `npm run demo`.
 *
 * Every response, 404s included, carries the headers that make the page cross-origin
 * isolated, which is what lets it use SharedArrayBuffer and a shared WebAssembly.Memory
 * (threaded programs, hosts/threads-browser.ts): COOP same-origin and COEP require-corp
 * (HTML Living Standard, "cross-origin isolated"), and CORP same-origin on every resource, so
 * that an isolated page of this origin may load it and no other origin may embed it.
 */
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";

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

/** The headers sent with every response (see above). */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cross-origin-resource-policy": "same-origin",
};

export interface DemoServer {
  server: Server;
  /** The page's URL, e.g. http://127.0.0.1:5178/ */
  url: string;
  close(): Promise<void>;
}

/** A module of the user's own, served at /user/<name> (`wasi-mman demo prog.wasm`). */
export interface ServedModule {
  name: string;
  bytes: Uint8Array;
}

/** Serves `dir` on 127.0.0.1:`port` (0: any free port), and `module` at /user/<its name>. */
export function serveDemo(dir: string, port = 0, module: ServedModule | null = null): Promise<DemoServer> {
  const base = resolve(dir);
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? "/", "http://localhost").pathname);
    if (module !== null && path === `/user/${module.name}`) {
      response.writeHead(200, { ...ISOLATION_HEADERS, "content-type": TYPES[".wasm"], "cache-control": "no-store" }).end(module.bytes);
      return;
    }
    const file = normalize(join(base, path.endsWith("/") ? `${path}index.html` : path));
    // Nothing outside the demo folder, whatever the path says.
    if ((file !== base && !file.startsWith(base + sep)) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404, { ...ISOLATION_HEADERS, "content-type": "text/plain" }).end("not found\n");
      return;
    }
    response.writeHead(200, { ...ISOLATION_HEADERS, "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
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
