/**
 * Builds examples/, the module the package ships for its examples (README.md, docs/hosts.md,
 * `wasi-mman run --help`) to run as written in any project that installs it:
 *
 *   examples/hello.wasm   fixtures/hosts/hello.wat compiled (brk, mmap, mremap, munmap; prints
 *                         "hello from mapped memory", exits with its argument count)
 *   examples/hello.wat    its source, to read
 *
 * Run by `npm run build` (so by `npm pack` and `npm test`); wabt is a development
 * dependency, present then. An installed package has the binary: running a .wat needs wabt.
 *
 *   node --import tsx scripts/build-examples.ts
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { compileWat } from "../cli/wat.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Writes examples/ under `outDir` (default: the package root); returns the files written. */
export async function buildExamples(outDir: string = root): Promise<string[]> {
  const dir = join(outDir, "examples");
  mkdirSync(dir, { recursive: true });
  const source = readFileSync(join(root, "fixtures", "hosts", "hello.wat"), "utf8");
  const files = [join(dir, "hello.wasm"), join(dir, "hello.wat")];
  writeFileSync(files[0], await compileWat(source, "hello.wat"));
  writeFileSync(files[1], source);
  return files;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const files = await buildExamples();
  console.log(`examples built: ${files.map((file) => file.slice(root.length + 1)).join(", ")}`);
}
