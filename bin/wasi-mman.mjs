#!/usr/bin/env node
// The `wasi-mman` command. Runs the compiled CLI from dist/ when it exists (an installed
// package, or a checkout after `npm install`, whose `prepare` step builds it); otherwise runs
// the TypeScript sources through tsx (a checkout whose build has not run yet).
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

const compiled = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
if (existsSync(compiled)) {
  await import(pathToFileURL(compiled).href);
} else {
  await import("tsx/esm");
  await import(new URL("../cli/main.ts", import.meta.url).href);
}
