/**
 * The page of test/guard-browser.test.ts: imports the guard bundle (./wasi-mman-guard.js, as
 * scripts/build-guard-browser.ts writes it, left external so the page loads that very file)
 * and offers `guardRun(name, pageSize)`: fetches fixtures/<name>.wasm, then guardedRun().
 * When the bundle has loaded (Binaryen's wasm compiled), <pre id="result"> says so.
 */
import * as lib from "../../guard/browser.js";
import { guardedRun, type GuardOutcome } from "./guard-run.js";

async function guardRun(name: string, pageSize: number): Promise<GuardOutcome> {
  const response = await fetch(`fixtures/${name}.wasm`);
  if (!response.ok) throw new Error(`fixtures/${name}.wasm: HTTP ${response.status}`);
  return guardedRun(lib, new Uint8Array(await response.arrayBuffer()), pageSize);
}

(globalThis as unknown as { guardRun: typeof guardRun }).guardRun = guardRun;
const result = document.getElementById("result") as HTMLElement;
result.textContent = JSON.stringify({ status: "ready", userAgent: navigator.userAgent, loadMs: Math.round(performance.now()) });
