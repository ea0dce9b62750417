/**
 * Builds the demo page into .cache/demo/ (served by scripts/serve-demo.ts):
 *
 *   index.html, style.css, demo.js      the page (demo/), bundled with esbuild, nothing fetched
 *   worker.js                            from anywhere but this folder; programs run in a worker
 *   wasi-mman.js                        browser.ts as one self-contained ES module
 *                                        (browser_wasi_shim included)
 *   thread-worker.js                     the Web Worker of every guest thread of a threaded
 *                                        program (hosts/thread-worker-browser.ts), found by
 *                                        runThreadedInBrowser next to wasi-mman.js
 *   selftest.html, selftest.js          the library's checks in the browser, importing
 *                                        ./wasi-mman.js as a plain module
 *   report.js                            the viewer `wasi-mman run --html` inlines in its report
 *   fixtures/<id>.wasm, fixtures.json   the programs of demo/catalogue.ts that could be built:
 *                                        .wat with wabt, AssemblyScript with scripts/build-as.ts,
 *                                        C only when scripts/build-c.ts has built them already
 *
 *   node --import tsx scripts/build-demo.ts [outDir]
 */
import { compileWat } from "../cli/wat.js";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build, type Plugin } from "esbuild";
import { CATALOGUE, type CatalogueEntry, type DemoFixture } from "../demo/catalogue.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const DEMO_OUT_DIR = join(root, ".cache", "demo");

export interface DemoBuild {
  outDir: string;
  /** Every fixture that was built (hidden ones included). */
  fixtures: DemoFixture[];
  /** Catalogue entries left out, each with the reason. */
  skipped: { id: string; reason: string }[];
}

async function compileWatFile(path: string): Promise<Uint8Array> {
  return compileWat(readFileSync(join(root, path), "utf8"), path);
}

/** The module bytes of one entry, or the reason it cannot be built here. */
async function fixtureBytes(entry: CatalogueEntry, options: BuildDemoOptions): Promise<Uint8Array | string> {
  const source = entry.source;
  if ("wat" in source) return compileWatFile(source.wat);
  if ("as" in source) {
    if (options.assemblyScript === false) return "AssemblyScript left out (assemblyScript: false)";
    try {
      const { buildAs } = await import("./build-as.js");
      return readFileSync(await buildAs(source.as));
    } catch (error) {
      return `AssemblyScript build failed: ${(error as Error).message.split("\n")[0]}`;
    }
  }
  const built = join(root, ".cache", "build", "c", "fixtures", `${source.c}.wasm`);
  if (!existsSync(built)) return `not built (run: node --import tsx scripts/build-c.ts fixtures)`;
  const bytes = readFileSync(built);
  // The C build may be writing this file right now (tests build in parallel): a partial
  // module does not validate, and is left out rather than served.
  if (!WebAssembly.validate(bytes)) return `${built} is not a valid module (being rebuilt?)`;
  return bytes;
}

/**
 * browser.ts is built once, as wasi-mman.js; the self-test imports it from there instead of
 * bundling its own copy, which is what checks that the file works as a plain module.
 */
const libraryAsExternal: Plugin = {
  name: "wasi-mman-external",
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /(^|\/)browser\.js$/ }, () => ({ path: "./wasi-mman.js", external: true }));
  },
};

export interface BuildDemoOptions {
  /**
   * Build the AssemblyScript fixture (default true). Loading the compiler takes seconds, so
   * the browser tests, which do not run that fixture, leave it out.
   */
  assemblyScript?: boolean;
}

export async function buildDemo(outDir: string = DEMO_OUT_DIR, options: BuildDemoOptions = {}): Promise<DemoBuild> {
  mkdirSync(join(outDir, "fixtures"), { recursive: true });
  const fixtures: DemoFixture[] = [];
  const skipped: DemoBuild["skipped"] = [];
  for (const entry of CATALOGUE) {
    const bytes = await fixtureBytes(entry, options);
    if (typeof bytes === "string") {
      skipped.push({ id: entry.id, reason: bytes });
      continue;
    }
    const { source: _source, ...fixture } = entry;
    const file = `fixtures/${entry.id}.wasm`;
    writeFileSync(join(outDir, file), bytes);
    fixtures.push({ ...fixture, file });
  }
  writeFileSync(join(outDir, "fixtures.json"), `${JSON.stringify(fixtures, null, 2)}\n`);

  const common = {
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    sourcemap: true,
    logLevel: "warning",
    absWorkingDir: root,
  } as const;
  await build({ ...common, entryPoints: [join(root, "browser.ts")], outfile: join(outDir, "wasi-mman.js") });
  await build({ ...common, entryPoints: [join(root, "hosts", "thread-worker-browser.ts")], outfile: join(outDir, "thread-worker.js") });
  await build({ ...common, entryPoints: [join(root, "demo", "demo.ts")], outfile: join(outDir, "demo.js") });
  await build({ ...common, entryPoints: [join(root, "demo", "worker.ts")], outfile: join(outDir, "worker.js") });
  await build({ ...common, entryPoints: [join(root, "demo", "selftest.ts")], outfile: join(outDir, "selftest.js"), plugins: [libraryAsExternal] });
  // Inlined into each `wasi-mman run --html` report (cli/run-html.ts): no source map, which
  // would be a reference outside the file.
  await build({ ...common, sourcemap: false, minify: true, entryPoints: [join(root, "demo", "report.ts")], outfile: join(outDir, "report.js") });
  for (const name of ["index.html", "selftest.html", "style.css"]) copyFileSync(join(root, "demo", name), join(outDir, name));
  return { outDir, fixtures, skipped };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const result = await buildDemo(process.argv[2] ? resolve(process.argv[2]) : DEMO_OUT_DIR);
  console.log(`demo built in ${result.outDir}: ${result.fixtures.map((f) => f.id).join(", ")}`);
  for (const { id, reason } of result.skipped) console.log(`  left out ${id}: ${reason}`);
}
