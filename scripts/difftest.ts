/**
 * The differential tester from the command line: the library against the running Linux kernel
 * (test/difftest/README.md).
 *
 *   npm run difftest -- --seeds 2000                  2,000 random sequences at 4 KiB, plus the directed cases
 *   npm run difftest -- --seeds 500 --page-size 65536 the wasm side at 64 KiB pages (several: 4096,16384,65536)
 *   npm run difftest -- --seeds 1 --start 1234 -v     replay one seed, printing its first divergence in full
 *
 * Options: --seeds N (default 200), --start S (default 0), --page-size P[,P...] (default 4096),
 * --steps K (calls per sequence, default 40), --off F,F (generator features to leave out),
 * --deep (further passes, each leaving out what the earlier ones found), --minimize (cut one
 * sequence per class down to the calls it needs; with --save-scripts, store them in
 * known-divergences.json for listed classes that have none), --no-directed, --source (the library's
 * TypeScript sources instead of dist/), --json FILE, -q (summary only), -v (full divergences).
 *
 * Exit status: 0 when every divergence is a class listed in test/difftest/known-divergences.json,
 * 1 when one is not, 2 when the tester cannot run here.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  buildDifftest,
  callText,
  difftestToolchainStatus,
  firstPageDifference,
  formatDivergence,
  loadKnownDivergences,
  minimize,
  parseCall,
  repoRoot,
  saveKnownScripts,
  runDeep,
  runDirected,
  summarize,
  DEFAULT_STEPS,
  type CreateMman,
  type Divergence,
  type Pass,
  type UnitResult,
} from "../test/difftest/runner.js";

interface Options {
  seeds: number;
  start: number;
  pageSizes: number[];
  steps: number;
  off: string[];
  deep: boolean;
  minimize: boolean;
  saveScripts: boolean;
  directed: boolean;
  source: boolean;
  json: string | null;
  quiet: boolean;
  verbose: boolean;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    seeds: 200, start: 0, pageSizes: [4096], steps: DEFAULT_STEPS, off: [], deep: false, minimize: false, saveScripts: false,
    directed: true, source: false, json: null, quiet: false, verbose: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    const count = (text: string): number => {
      const n = Number(text);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${arg}: not a count: ${text}`);
      return n;
    };
    switch (arg) {
      case "--seeds": options.seeds = count(value()); break;
      case "--start": options.start = count(value()); break;
      case "--steps": options.steps = count(value()); break;
      case "--page-size":
        options.pageSizes = value().split(",").map((size) => count(size.replace(/k$/i, "")) * (/k$/i.test(size) ? 1024 : 1));
        break;
      case "--off": options.off = value().split(",").filter(Boolean); break;
      case "--deep": options.deep = true; break;
      case "--minimize": options.minimize = true; break;
      case "--save-scripts": options.saveScripts = options.minimize = true; break;
      case "--no-directed": options.directed = false; break;
      case "--source": options.source = true; break;
      case "--json": options.json = value(); break;
      case "-q": case "--quiet": options.quiet = true; break;
      case "-v": case "--verbose": options.verbose = true; break;
      default: throw new Error(`unknown option ${arg} (see the head of scripts/difftest.ts)`);
    }
  }
  return options;
}

async function loadCreateMman(source: boolean): Promise<CreateMman> {
  const path = source ? join(repoRoot, "index.ts") : join(repoRoot, "dist", "index.js");
  const module = (await import(pathToFileURL(path).href)) as { createMman: (options: object) => ReturnType<CreateMman> };
  return (options) => module.createMman({ ...options, onWarning: () => {} });
}

function printResults(label: string, results: UnitResult[], options: Options, known: ReturnType<typeof loadKnownDivergences>): void {
  if (options.quiet) return;
  for (const { divergence } of results) {
    if (!divergence) continue;
    if (options.verbose) console.log(formatDivergence(divergence, known));
    else console.log(`${label} ${oneLine(divergence)}${known[divergence.className] ? "" : "  NEW"}`);
  }
}

/** A divergence on one line: the unit, its class, the call, and what each side did. */
function oneLine(d: Divergence): string {
  let sides: string;
  if (d.kind === "result") sides = `native ${parseCall(d.native)?.result}, wasm ${parseCall(d.wasm)?.result}`;
  else if (d.kind === "state") {
    const page = firstPageDifference(d.native, d.wasm);
    sides = page ? `then page ${page.where}: native ${page.native}, wasm ${page.wasm}` : "then the pages differ";
  } else sides = `native "${d.native}", wasm "${d.wasm}"`;
  return `${d.unit}: ${d.className} | ${callText(d.call)} => ${sides}`;
}

function printSummary(title: string, results: UnitResult[], known: ReturnType<typeof loadKnownDivergences>): number {
  const summary = summarize(results);
  const same = results.filter((r) => !r.divergence).length;
  console.log(`\n${title}: ${results.length} runs, ${same} agree to the end, ${results.length - same} diverge`);
  let unknown = 0;
  for (const entry of summary) {
    const isKnown = Boolean(known[entry.className]);
    if (!isKnown) unknown += entry.count;
    console.log(`  ${String(entry.count).padStart(5)}  ${entry.className}${isKnown ? "" : "  NEW"}   e.g. ${entry.first.unit}`);
  }
  return unknown;
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const status = difftestToolchainStatus();
  if (!status.ok) {
    console.error(`*** DIFFTEST CANNOT RUN: ${status.reason} ***`);
    return 2;
  }
  const started = performance.now();
  const build = await buildDifftest();
  const createMman = await loadCreateMman(options.source);
  const known = loadKnownDivergences();
  let unknown = 0;
  const report: Record<string, unknown> = {};
  const scripts = new Map<string, string[]>();
  for (const pageSize of options.pageSizes) {
    const base = { build, createMman, pageSize, off: options.off };
    const label = `[${pageSize / 1024}k]`;
    const all: UnitResult[] = [];
    if (options.directed) {
      const directed = await runDirected(base);
      printResults(label, directed, options, known);
      unknown += printSummary(`${label} directed cases`, directed, known);
      all.push(...directed);
      report[`${pageSize}:directed`] = directed;
    }
    const passes: Pass[] = await runDeep(
      { ...base, start: options.start, count: options.seeds, steps: options.steps, maxPasses: options.deep ? 8 : 1 },
      (pass, index) => {
        printResults(label, pass.results, options, known);
        const title = `${label} seeds ${options.start}..${options.start + options.seeds - 1}, pass ${index + 1}${pass.off.length ? ` (off: ${pass.off.join(",")})` : ""}`;
        unknown += printSummary(title, pass.results, known);
      },
    );
    for (const pass of passes) all.push(...pass.results);
    report[`${pageSize}:seeds`] = passes;
    if (options.minimize) {
      console.log(`\n${label} minimal reproducers (one per class)`);
      for (const entry of summarize(all)) {
        const pass = passes.find((p) => p.results.some((r) => r.divergence === entry.first));
        const { calls, divergence } = await minimize({ ...base, off: pass?.off ?? options.off }, entry.first);
        if (pageSize === 4096 && divergence.className === entry.className && !scripts.has(entry.className)) scripts.set(entry.className, calls);
        console.log(`\n${entry.className} (${entry.count}x, from ${entry.first.unit}): ${calls.length} calls`);
        for (const call of calls.slice(0, -1)) console.log(`    ${call}`);
        console.log(formatDivergence(divergence).split("\n").slice(1).join("\n"));
      }
    }
  }
  if (options.json) writeFileSync(options.json, JSON.stringify(report, null, 1));
  if (options.saveScripts) {
    const saved = saveKnownScripts(scripts);
    console.log(`\nreproducers saved for ${saved.length} classes: ${saved.join(", ") || "none"}`);
  }
  console.log(`\n${unknown === 0 ? "no divergence outside" : `${unknown} divergences not in`} test/difftest/known-divergences.json (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  return unknown === 0 ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 2;
  },
);
