#!/usr/bin/env node
// Runs the whole test suite with vitest and ends with the plain summary line
// `N passed, N failed, N skipped` that CI reads (vitest's own summary is not read).
// Extra arguments go to vitest (e.g. `npm test -- test/engine.test.ts`).
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";

const outDir = "test-output";
mkdirSync(outDir, { recursive: true });
const report = join(outDir, "vitest-report.json");
const args = ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)];
const run = spawnSync("npx", args, { stdio: "inherit" });

let passed = 0, failed = 0, skipped = 0;
if (existsSync(report)) {
  const result = JSON.parse(readFileSync(report, "utf8"));
  passed = result.numPassedTests ?? 0;
  failed = result.numFailedTests ?? 0;
  skipped = (result.numPendingTests ?? 0) + (result.numTodoTests ?? 0);
  // A test file that fails to load has no test results but is a failure.
  for (const file of result.testResults ?? []) {
    if (file.status === "failed" && (file.assertionResults ?? []).length === 0) failed += 1;
  }
} else {
  failed = 1;
}
if (run.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
