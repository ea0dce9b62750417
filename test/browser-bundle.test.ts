// The browser build: browser.ts bundles for platform=browser with nothing from Node, and the
// engine, the calls and the browser_wasi_shim adapter import no Node built-in module.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

/** Every module specifier a TypeScript file imports or re-exports. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), "utf8");
  return [...text.matchAll(/\b(?:import|export)\b[^;]*?\bfrom\s+["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1] ?? m[2]);
}

describe("browser build", () => {
  it("runtime/ and syscalls/ import no Node built-in", () => {
    const files = ["runtime", "syscalls"].flatMap((dir) => readdirSync(join(root, dir)).filter((f) => f.endsWith(".ts")).map((f) => `${dir}/${f}`));
    expect(files.length).toBeGreaterThan(10);
    const offenders = files.flatMap((file) => importsOf(file).filter((spec) => spec.startsWith("node:")).map((spec) => `${file}: ${spec}`));
    expect(offenders).toEqual([]);
  });

  it("browser.ts bundles for the browser without Node modules or the node:wasi adapter", async () => {
    const result = await build({
      entryPoints: [join(root, "browser.ts")],
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((path) => path.startsWith("node:") || path.includes("node-wasi") || path.startsWith("cli/"))).toEqual([]);
    // The shim adapter is in, with browser_wasi_shim bundled.
    expect(inputs).toContain("hosts/shim.ts");
    expect(inputs.some((path) => path.includes("@bjorn3/browser_wasi_shim"))).toBe(true);
    const output = Object.values(result.metafile.outputs)[0];
    for (const name of ["createMman", "PageKind", "runWithShim", "shimFileResolver", "instantiateWithMman", "straceLine"]) {
      expect(output.exports).toContain(name);
    }
  });

  it("the bundle runs: createMman from it answers pagesize and maps zeroed pages", async () => {
    const result = await build({ entryPoints: [join(root, "browser.ts")], bundle: true, platform: "browser", format: "esm", write: false, logLevel: "silent" });
    const code = result.outputFiles[0].text;
    const bundle = (await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`)) as typeof import("../browser.js");
    const mman = bundle.createMman({ pageSize: 16384 });
    const memory = new WebAssembly.Memory({ initial: 2 });
    new Uint8Array(memory.buffer).fill(7, 65536);
    mman.attach({ memory, heapBase: 1024 });
    expect(mman.calls.pagesize()).toBe(16384);
    const address = mman.calls.mmap(0, 40000, bundle.Prot.READ | bundle.Prot.WRITE, bundle.MapFlags.PRIVATE | bundle.MapFlags.ANONYMOUS, -1, 0);
    expect(address % 16384).toBe(0);
    expect(new Uint8Array(memory.buffer, address, 3 * 16384).every((byte) => byte === 0)).toBe(true);
    const kinds = mman.space.pageKinds();
    expect(kinds.filter((kind) => kind === bundle.PageKind.MAPPED).length).toBe(3);
  });
});
