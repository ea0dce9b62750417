// What a user gets (issue 13, item 4): the packed package's contents, no install-time build
// script, and every JavaScript/TypeScript block of README.md and docs/hosts.md, taken from the
// installed package, type-checked (strict) and run in a consumer project that installed the
// tarball. Every block must be a whole program: its imports, its inputs (the shipped
// wasi-mman/examples/hello.wasm) and all.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installConsumer, type Consumer } from "./helpers/package.js";

let consumer: Consumer;
beforeAll(() => {
  consumer = installConsumer();
});
afterAll(() => rmSync(consumer.dir, { recursive: true, force: true }));

interface Block {
  /** `README.md:27`: where the block starts. */
  where: string;
  language: "js" | "ts";
  code: string;
}

/** The ```js / ```ts (javascript, typescript) blocks of a markdown text. */
function codeBlocks(markdown: string, name: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(js|javascript|ts|typescript)\s*$/.exec(lines[i]);
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i].startsWith("```"); i++) body.push(lines[i]);
    blocks.push({ where: `${name}:${start + 1}`, language: open[1].startsWith("j") ? "js" : "ts", code: `${body.join("\n")}\n` });
  }
  return blocks;
}

/** The file name a block is written to in the consumer project. */
function fileOf(block: Block): string {
  return `${block.where.replace(/[^A-Za-z0-9]+/g, "-")}.${block.language}`;
}

/** tsc over the consumer's examples/ folder, strict, into out/; returns its diagnostics. */
function typeCheck(dir: string, files: string[]): string {
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        // The WebAssembly namespace is declared in TypeScript's DOM library (README.md).
        lib: ["ES2022", "DOM"],
        types: ["node"],
        strict: true,
        allowJs: true,
        checkJs: true,
        skipLibCheck: false,
        rootDir: "examples",
        outDir: "out",
      },
      files: files.map((file) => `examples/${file}`),
    }),
  );
  const tsc = spawnSync(process.execPath, [join(dir, "node_modules", "typescript", "bin", "tsc"), "-p", dir], { cwd: dir, encoding: "utf8" });
  return `${tsc.stdout}${tsc.stderr}`.trim();
}

describe("the packed package", () => {
  it("holds the compiled library and CLI, the example module, the docs and the C glue; no sources, tests or fixtures", () => {
    const paths = consumer.packed.files.map((file) => file.path);
    for (const needed of [
      "package.json",
      "README.md",
      "CHANGELOG.md",
      "bin/wasi-mman.mjs",
      "dist/index.js",
      "dist/index.d.ts",
      "dist/browser.js",
      "dist/hosts/node-wasi.js",
      "dist/cli/main.js",
      "dist/cli/run.js",
      "examples/hello.wasm",
      "dist/cli/demo.js",
      "dist/demo/index.html",
      "dist/demo/demo.js",
      "dist/demo/report.js",
      "examples/hello.wat",
      "docs/hosts.md",
      "docs/cli.md",
      "guest/c/include/sys/mman.h",
      "scripts/toolchain.sh",
      "scripts/fetch-musl.sh",
    ]) {
      expect(paths, needed).toContain(needed);
    }
    for (const path of paths) {
      expect(path, path).not.toMatch(/^(test|fixtures|bench|node_modules|\.cache|test-output|demo)\//);
      // TypeScript sources stay in the repository; declarations ship.
      if (path.endsWith(".ts")) expect(path, path).toMatch(/\.d\.ts$|^guest\/as\//);
    }
  });

  it("runs no build script when installed (prepack builds it instead)", () => {
    const manifest = JSON.parse(readFileSync(join(consumer.packageDir, "package.json"), "utf8")) as { scripts: Record<string, string> };
    for (const hook of ["preinstall", "install", "postinstall", "prepare"]) expect(manifest.scripts[hook], hook).toBeUndefined();
    expect(manifest.scripts.prepack).toBe("npm run build");
    // A fresh clone builds dist/ when its tests run: `npm install && npm test`.
    expect(manifest.scripts.pretest).toBe("npm run build");
  });

  it("the installed command runs the shipped example", () => {
    const run = spawnSync(process.execPath, [join(consumer.packageDir, "bin", "wasi-mman.mjs"), "run", "--stats", "node_modules/wasi-mman/examples/hello.wasm"], {
      cwd: consumer.dir,
      encoding: "utf8",
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe("hello from mapped memory\n");
    expect(run.stderr).toMatch(/^statistic\s+value\n/);
    // The report's viewer ships in the package: run --html works from an install.
    const html = spawnSync(process.execPath, [join(consumer.packageDir, "bin", "wasi-mman.mjs"), "run", "--html", "report.html", "node_modules/wasi-mman/examples/hello.wasm"], {
      cwd: consumer.dir,
      encoding: "utf8",
    });
    expect(html.status).toBe(0);
    expect(readFileSync(join(consumer.dir, "report.html"), "utf8")).toContain('<script type="application/json" id="report-data">');
  });
});

describe("README.md and docs/hosts.md examples, as written", () => {
  let blocks: Block[];
  let diagnostics: string;
  beforeAll(() => {
    blocks = [
      ...codeBlocks(readFileSync(join(consumer.packageDir, "README.md"), "utf8"), "README.md"),
      ...codeBlocks(readFileSync(join(consumer.packageDir, "docs", "hosts.md"), "utf8"), "docs/hosts.md"),
    ];
    mkdirSync(join(consumer.dir, "examples"), { recursive: true });
    for (const block of blocks) writeFileSync(join(consumer.dir, "examples", fileOf(block)), block.code);
    // runWithShim's source type is precise: these are not module sources.
    writeFileSync(
      join(consumer.dir, "examples", "source-types.ts"),
      [
        'import { runWithShim, type ModuleSource } from "wasi-mman";',
        "const sources: ModuleSource[] = [new Uint8Array(8), new ArrayBuffer(8), new URL(\"file:///x.wasm\"), \"x.wasm\", new Response(null)];",
        "// @ts-expect-error a number is no module",
        "void runWithShim(42);",
        "// @ts-expect-error nor a plain object",
        "void runWithShim({ path: \"x.wasm\" });",
        "export { sources };",
        "",
      ].join("\n"),
    );
    diagnostics = typeCheck(consumer.dir, [...blocks.map(fileOf), "source-types.ts"]);
  });

  it("there are blocks to check in both files", () => {
    expect(blocks.filter((block) => block.where.startsWith("README.md")).length).toBeGreaterThanOrEqual(2);
    expect(blocks.filter((block) => block.where.startsWith("docs/hosts.md")).length).toBeGreaterThanOrEqual(5);
  });

  it("every block type-checks with strict TypeScript against the installed package's types", () => {
    // Diagnostics name the file (README-md-27.ts): the block that starts on that line.
    expect(diagnostics).toBe("");
  });

  it("every block runs with exit status 0 and runs the example module", () => {
    const failures: string[] = [];
    for (const block of blocks) {
      const run = spawnSync(process.execPath, [join("out", fileOf(block).replace(/\.ts$/, ".js"))], { cwd: consumer.dir, encoding: "utf8", timeout: 60_000 });
      if (run.status !== 0) failures.push(`${block.where}: exit ${run.status}\n${run.stderr}`);
      else if (!run.stdout.includes("hello from mapped memory")) failures.push(`${block.where}: the example module's line is not in its output:\n${run.stdout}`);
    }
    expect(failures).toEqual([]);
  });
});
