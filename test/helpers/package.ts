/**
 * The package as a user gets it: `npm pack` of this checkout, installed into a fresh consumer
 * project with `npm install --offline` (the one dependency, @bjorn3/browser_wasi_shim, is packed
 * from this checkout's node_modules, so no network is needed). Used by test/package.test.ts
 * (README's examples, the tarball's contents) and test/cli-cc.test.ts (cc from a read-only
 * install).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./cli.js";

/** The folders and files `npm run build` compiles (tsconfig.build.json, examples/, dist/demo/). */
const BUILD_INPUTS = ["runtime", "syscalls", "hosts", "cli", "index.ts", "browser.ts", "demo", "scripts/build-examples.ts", "scripts/build-demo.ts", "fixtures/hosts/hello.wat"];

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/**
 * Runs `npm run build` unless dist/ and examples/ are newer than every input (`npm test`
 * builds first, so this is usually a check).
 */
export function ensureBuilt(): void {
  const outputs = [join(repoRoot, "dist", "index.js"), join(repoRoot, "dist", "cli", "main.js"), join(repoRoot, "examples", "hello.wasm"), join(repoRoot, "dist", "demo", "report.js"), join(repoRoot, "dist", "demo", "wasi-mman-guard.js")];
  const built = outputs.every((file) => existsSync(file)) ? Math.min(...outputs.map((file) => statSync(file).mtimeMs)) : 0;
  const inputs = Math.max(...BUILD_INPUTS.map((input) => newestMtime(join(repoRoot, input))));
  if (built > inputs) return;
  const build = spawnSync("npm", ["run", "build"], { cwd: repoRoot, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}\n${build.stderr}`);
}

export interface PackedFile {
  path: string;
  size: number;
}

export interface Packed {
  /** The tarball. */
  tarball: string;
  /** What it holds, paths relative to the package folder. */
  files: PackedFile[];
}

/** `npm pack` of this checkout into `dir` (scripts are not run again: ensureBuilt has built). */
export function packPackage(dir: string): Packed {
  ensureBuilt();
  const out = execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], { cwd: repoRoot, encoding: "utf8" });
  const [result] = JSON.parse(out) as { filename: string; files: PackedFile[] }[];
  return { tarball: join(dir, result.filename), files: result.files };
}

export interface Consumer {
  /** The consumer project's folder. */
  dir: string;
  /** node_modules/wasi-mman inside it. */
  packageDir: string;
  packed: Packed;
}

/**
 * A consumer project (`"type": "module"`) with the packed package installed from its tarball,
 * offline. TypeScript and @types/node are linked from this checkout for type-checking.
 */
export function installConsumer(): Consumer {
  const dir = mkdtempSync(join(tmpdir(), "wasi-mman-consumer-"));
  const packs = join(dir, "packs");
  mkdirSync(packs);
  const packed = packPackage(packs);
  // The package's dependencies, packed from this checkout's node_modules: offline, npm has
  // their tarballs in its cache after npm ci but not always their registry documents, which
  // resolving a version range needs.
  const dependencies = ["@bjorn3/browser_wasi_shim", "binaryen"].map((name) => {
    const out = execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", packs, join(repoRoot, "node_modules", ...name.split("/"))], {
      cwd: dir,
      encoding: "utf8",
    });
    return join(packs, (JSON.parse(out) as { filename: string }[])[0].filename);
  });
  writeFileSync(join(dir, "package.json"), `${JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2)}\n`);
  const install = spawnSync("npm", ["install", "--offline", "--no-audit", "--no-fund", ...dependencies, packed.tarball], { cwd: dir, encoding: "utf8" });
  if (install.status !== 0) throw new Error(`npm install in the consumer project failed:\n${install.stdout}\n${install.stderr}`);
  mkdirSync(join(dir, "node_modules", "@types"), { recursive: true });
  symlinkSync(join(repoRoot, "node_modules", "@types", "node"), join(dir, "node_modules", "@types", "node"));
  symlinkSync(join(repoRoot, "node_modules", "typescript"), join(dir, "node_modules", "typescript"));
  return { dir, packageDir: join(dir, "node_modules", "wasi-mman"), packed };
}
