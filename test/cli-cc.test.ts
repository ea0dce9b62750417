// `wasi-mman cc` as a user meets it (issue 13, items 2 and 3): what it builds says how it was
// built (the build note), so `wasi-mman run` gives no wrong __heap_base hint for a dlmalloc
// build; it keeps everything it fetches and builds in its cache folder ($WASI_MMAN_CACHE,
// $XDG_CACHE_HOME/wasi-mman), with a line when it builds or fetches, and a readable error when
// it cannot; it works from a read-only install (run as nobody, since root ignores
// permissions); .cpp sources are compiled as C++.
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test, vi } from "vitest";
import { ccCommand, fetchMuslSource } from "../cli/cc.js";
import { readBuildNote } from "../hosts/instantiate.js";
import { cToolchainStatus } from "../scripts/build-c.js";
import { cli } from "./helpers/cli.js";
import { installConsumer } from "./helpers/package.js";

const toolchain = cToolchainStatus();
if (!toolchain.ok) console.warn(`\n*** C COMPILER TESTS SKIPPED: ${toolchain.reason} ***\n`);

const work = mkdtempSync(join(tmpdir(), "wasi-mman-cli-cc-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PROGRAM = [
  "#include <stdio.h>",
  "#include <stdlib.h>",
  "#include <sys/mman.h>",
  "int main(void) {",
  "  char *volatile block = malloc(200000);",
  "  void *map = mmap(0, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);",
  "  block[0] = 'x';",
  "  printf(\"%c %d\\n\", block[0], map != MAP_FAILED);",
  "  return 0;",
  "}",
].join("\n");

describe.skipIf(!toolchain.ok)("wasi-mman cc: the build note", () => {
  const source = join(work, "prog.c");
  writeFileSync(source, PROGRAM);

  test("a dlmalloc build says it has no __heap_base on purpose, and run gives no hint about it", async () => {
    const output = join(work, "prog.dlmalloc.wasm");
    expect(await ccCommand(["--malloc=dlmalloc", "-O2", "-o", output, source])).toBe(0);
    const module = new WebAssembly.Module(readFileSync(output));
    expect(WebAssembly.Module.exports(module).map((entry) => entry.name)).not.toContain("__heap_base");
    expect(readBuildNote(module)).toEqual({ tool: "wasi-mman cc", malloc: "dlmalloc", heapBase: "memory-size" });
    const run = await cli("run", output);
    expect(run).toEqual({ code: 0, stdout: "x 1\n", stderr: "" });
  });

  test("without --malloc, mallocng: the build exports __heap_base and says so", async () => {
    const output = join(work, "prog.mallocng.wasm");
    expect(await ccCommand(["-O2", "-o", output, source])).toBe(0);
    const module = new WebAssembly.Module(readFileSync(output));
    expect(readBuildNote(module)).toEqual({ tool: "wasi-mman cc", malloc: "mallocng", heapBase: "export" });
    expect(await cli("run", output)).toEqual({ code: 0, stdout: "x 1\n", stderr: "" });
  });
});

/**
 * A cache folder that already holds musl's source (the part the allocators are built from,
 * src/malloc), copied from the checkout's cache, so no test needs the network.
 */
function seededCache(dir: string): string {
  const source = fetchMuslSource();
  const copy = join(dir, "musl", "musl-1.2.3");
  cpSync(join(source, "src", "malloc"), join(copy, "src", "malloc"), { recursive: true });
  writeFileSync(join(dir, "musl", ".fetched"), `${copy}\n`);
  return dir;
}

/** Runs ccCommand with `env` set, collecting what it prints on stderr. */
async function ccWith(env: Record<string, string | undefined>, argv: string[]): Promise<{ code: number; errors: string[] }> {
  const saved = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
  const errors: string[] = [];
  const spy = vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    errors.push(args.join(" "));
  });
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  try {
    return { code: await ccCommand(argv), errors };
  } finally {
    spy.mockRestore();
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

describe.skipIf(!toolchain.ok)("wasi-mman cc: the cache", () => {
  const source = join(work, "cache-prog.c");
  writeFileSync(source, PROGRAM);

  test("WASI_MMAN_CACHE holds every build; the first build says so in a line, the second is quiet", async () => {
    const cache = seededCache(join(work, "cache"));
    const output = join(work, "cache-prog.wasm");
    const first = await ccWith({ WASI_MMAN_CACHE: cache }, ["-O2", "-o", output, source]);
    expect(first.code).toBe(0);
    expect(first.errors).toEqual([
      `wasi-mman cc: building libwasi-mman.a (2 files) into ${join(cache, "build", "c", "lib")} (once; later builds reuse it)`,
      `wasi-mman cc: building libwasi-mman-brk.a (1 file) into ${join(cache, "build", "c", "lib")} (once; later builds reuse it)`,
      expect.stringMatching(/^wasi-mman cc: building libmallocng\.a \(\d+ files\) into /),
    ]);
    expect(existsSync(join(cache, "build", "c", "lib", "libmallocng.a"))).toBe(true);
    const second = await ccWith({ WASI_MMAN_CACHE: cache }, ["-O2", "-o", output, source]);
    expect(second).toEqual({ code: 0, errors: [] });
  }, 120_000);

  test("without the network, fetching musl is one progress line and one readable error, exit 2", async () => {
    const cache = join(work, "empty-cache");
    const result = await ccWith({ WASI_MMAN_CACHE: cache, WASI_MMAN_DEBIAN_MIRROR: "http://127.0.0.1:9/debian" }, ["-o", join(work, "x.wasm"), source]);
    expect(result.code).toBe(2);
    const [fetching, failure] = result.errors.filter((line) => !line.includes(": building "));
    expect(fetching).toBe(`wasi-mman cc: fetching musl's source from Debian into ${join(cache, "musl")} (once)`);
    expect(failure).toMatch(/^wasi-mman cc: cannot fetch Debian source package musl: fetch-musl\.sh: .*no network.*\(this needs apt-get and the network once; or --malloc=dlmalloc, which needs no musl\)$/);
    expect(failure).not.toContain("\n");
  }, 120_000);

  test("a cache folder that cannot be made is a readable error, exit 2", async () => {
    const file = join(work, "a-file");
    writeFileSync(file, "");
    const result = await ccWith({ WASI_MMAN_CACHE: join(file, "cache") }, ["-o", join(work, "x.wasm"), source]);
    expect(result.code).toBe(2);
    expect(result.errors).toEqual([expect.stringMatching(/^wasi-mman cc: cannot create its cache folder .*a-file\/cache.*: ENOTDIR \(set WASI_MMAN_CACHE or XDG_CACHE_HOME to a writable folder\)$/)]);
  });

  test("a .cpp source is compiled as C++, its operator new on the memory calls", async () => {
    const cpp = join(work, "prog.cpp");
    writeFileSync(cpp, ["#include <cstdio>", "#include <string>", "#include <vector>", "int main() {", "  std::vector<std::string> v(200, std::string(1000, 'x'));", '  std::printf("%zu\\n", v.size());', "}"].join("\n"));
    const output = join(work, "prog-cpp.wasm");
    const result = await ccWith({}, ["-O2", "-o", output, cpp]);
    if (result.errors.some((line) => line.includes("C++ needs libc++"))) {
      console.warn(`\n*** C++ TEST SKIPPED: ${result.errors.join(" ")} ***\n`);
      return;
    }
    expect(result).toEqual({ code: 0, errors: [] });
    const run = await cli("run", "--stats", output);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("200\n");
    expect(run.stderr).toMatch(/^mmap calls\s+[1-9]/m);
  }, 120_000);
});

// Root ignores file permissions, so the read-only install is tried as nobody.
const asNobody = process.getuid?.() === 0 && existsSync("/usr/bin/setpriv");

describe.skipIf(!toolchain.ok || !asNobody)("wasi-mman cc from a read-only install", () => {
  test("the installed command builds into $XDG_CACHE_HOME/wasi-mman; without a writable cache it says what to do", () => {
    const consumer = installConsumer();
    try {
      // Everyone may read the project; nobody may write the package (as after `sudo npm i -g`).
      chmodSync(consumer.dir, 0o755);
      spawnSync("chmod", ["-R", "a+rX,a-w", consumer.packageDir]);
      const out = join(consumer.dir, "out");
      mkdirSync(out, { mode: 0o777 });
      chmodSync(out, 0o777);
      writeFileSync(join(out, "prog.c"), PROGRAM);
      const xdg = mkdtempSync(join(tmpdir(), "wasi-mman-xdg-"));
      seededCache(join(xdg, "wasi-mman"));
      spawnSync("chmod", ["-R", "a+rwX", xdg]);
      const cc = (env: NodeJS.ProcessEnv) =>
        spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, join(consumer.packageDir, "bin", "wasi-mman.mjs"), "cc", "-O2", "-o", join(out, "prog.wasm"), join(out, "prog.c")], {
          cwd: consumer.dir,
          encoding: "utf8",
          env: { PATH: process.env.PATH, ...env },
        });
      const noCache = cc({ HOME: "/nonexistent" });
      expect(noCache.status).toBe(2);
      expect(noCache.stderr.trim()).toBe("wasi-mman cc: cannot create its cache folder /nonexistent/.cache/wasi-mman/build/c/lib: permission denied (set WASI_MMAN_CACHE or XDG_CACHE_HOME to a writable folder)");
      const built = cc({ HOME: "/nonexistent", XDG_CACHE_HOME: xdg });
      expect(built.stderr).toMatch(/building libmallocng\.a/);
      expect(built.status).toBe(0);
      expect(existsSync(join(xdg, "wasi-mman", "build", "c", "lib", "libmallocng.a"))).toBe(true);
      const run = spawnSync(process.execPath, [join(consumer.packageDir, "bin", "wasi-mman.mjs"), "run", join(out, "prog.wasm")], { encoding: "utf8" });
      expect(run.stdout).toBe("x 1\n");
      rmSync(xdg, { recursive: true, force: true });
    } finally {
      rmSync(consumer.dir, { recursive: true, force: true });
    }
  }, 240_000);
});
