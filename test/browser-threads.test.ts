// Threads in the browser.
//
//   1. The demo server (cli/demo-server.ts) sends COOP same-origin, COEP require-corp and CORP
//      same-origin on every response, 404s and /user/<name> included (plain HTTP, no browser).
//   2. In headless Chromium (Debian's, over the DevTools pipe, test/helpers/chromium.ts): the
//      page is crossOriginIsolated.
//
// Skips the Chromium part with one loud line when Chromium is missing.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ISOLATION_HEADERS, serveDemo, type DemoServer } from "../cli/demo-server.js";

/** One GET: status and headers. */
function get(url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    request(url, (response) => {
      response.resume();
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers }));
    })
      .on("error", reject)
      .end();
  });
}

describe("the demo server", () => {
  let dir: string;
  let server: DemoServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "wasi-mman-serve-"));
    writeFileSync(join(dir, "index.html"), "<!doctype html><title>t</title>");
    writeFileSync(join(dir, "a.js"), "export {};");
    server = await serveDemo(dir, 0, { name: "prog.wasm", bytes: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]) });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends COOP, COEP and CORP with every response (page, script, user module, 404)", async () => {
    expect(ISOLATION_HEADERS).toEqual({
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-embedder-policy": "require-corp",
      "cross-origin-resource-policy": "same-origin",
    });
    const seen: Record<string, number> = {};
    for (const path of ["", "a.js", "user/prog.wasm", "missing.js"]) {
      const { status, headers } = await get(`${server.url}${path}`);
      seen[path] = status;
      expect(headers["cross-origin-opener-policy"], path).toBe("same-origin");
      expect(headers["cross-origin-embedder-policy"], path).toBe("require-corp");
      expect(headers["cross-origin-resource-policy"], path).toBe("same-origin");
    }
    expect(seen).toEqual({ "": 200, "a.js": 200, "user/prog.wasm": 200, "missing.js": 404 });
  });
});
