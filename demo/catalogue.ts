/**
 * The programs the demo page can run. The build script (scripts/build-demo.ts) turns each
 * source into a .wasm under .cache/demo/fixtures/ and writes the entries it could build to
 * fixtures.json; the page lists what that file holds. C programs are included only when they
 * have been built already (scripts/build-c.ts needs clang), the AssemblyScript one when the
 * compiler is available.
 */

/** How the page runs a program once the memory calls are attached. */
export type FixtureRun =
  /** A WASI command: `_start` with these arguments (argv[0] included). */
  | { kind: "command"; args: string[] }
  /** A reactor: `_initialize`, then one exported function with these arguments. */
  | { kind: "reactor"; call: string; args: number[] };

/** What the page receives in fixtures.json. */
export interface DemoFixture {
  id: string;
  title: string;
  description: string;
  /** URL of the .wasm, relative to the page. */
  file: string;
  run: FixtureRun;
  /** Text files in a preopened directory "/" (fd 3), for programs that open files. */
  files?: Record<string, string>;
  /** Expected exit code (the page shows a warning when the program ends otherwise). */
  exitCode?: number;
  /** Built and served for the in-browser checks (selftest.html) but not listed on the page. */
  hidden?: boolean;
}

/** Where a fixture's module comes from (build time only). */
export type FixtureSource =
  | { wat: string }
  | { as: "strings" }
  /** A prebuilt C fixture under .cache/build/c/fixtures/ (`<name>.<malloc>.wasm`). */
  | { c: string };

export interface CatalogueEntry extends Omit<DemoFixture, "file"> {
  source: FixtureSource;
}

export const CATALOGUE: readonly CatalogueEntry[] = [
  {
    id: "churn",
    title: "churn (wat): every kind of page",
    description:
      "brk heap in uneven steps, 16 mappings of sizes that are not page multiples, every other one unmapped, " +
      "madvise(MADV_DONTNEED), mremap growth, memory.grow by the program itself, then reuse of the holes and a split mapping.",
    source: { wat: "demo/fixtures/churn.wat" },
    run: { kind: "command", args: ["churn"] },
    exitCode: 0,
  },
  {
    id: "big",
    title: "big (wat): ~100,000 pages at 4 KiB",
    description: "380 mappings of a little over 1 MiB, every third unmapped, 120 more of 512 KiB + 1 byte in the holes.",
    source: { wat: "demo/fixtures/big.wat" },
    run: { kind: "command", args: ["big"] },
    exitCode: 0,
  },
  {
    id: "hello",
    title: "hello (wat): brk, mmap, mremap, munmap",
    description: "One page of break, a 128 KiB mapping that is printed from, grown to 256 KiB with mremap, then unmapped.",
    source: { wat: "fixtures/hosts/hello.wat" },
    run: { kind: "command", args: ["hello"] },
    exitCode: 0,
  },
  {
    id: "upcase",
    title: "upcase (wat): a shared file mapping",
    description: "Opens data.txt from the in-memory preopened directory, maps it MAP_SHARED, upper-cases it in place, msync, munmap.",
    source: { wat: "fixtures/hosts/upcase.wat" },
    run: { kind: "command", args: ["upcase"] },
    files: { "data.txt": "the bytes of this file were changed through a shared mapping\n" },
    exitCode: 0,
  },
  {
    id: "as-strings",
    title: "strings (AssemblyScript): strings, arrays and a Map",
    description: "An AssemblyScript program whose runtime takes every object from the two-tier brk/mmap allocator; run(20000).",
    source: { as: "strings" },
    run: { kind: "reactor", call: "run", args: [20000] },
  },
  // C programs with musl's mallocng on the memory calls, and one with wasi-libc's dlmalloc,
  // which grows memory itself (its pages show up as grown by the program).
  ...(
    [
      ["many-small", "mallocng"],
      ["many-small", "dlmalloc"],
      ["tiers", "mallocng"],
      ["realloc", "mallocng"],
      ["madvise-freed", "mallocng"],
    ] as const
  ).map(
    ([name, malloc]): CatalogueEntry => ({
      id: `c-${name}-${malloc}`,
      title: `${name} (C, ${malloc})`,
      description:
        `fixtures/c/${name}.c linked with ${malloc}` +
        (malloc === "dlmalloc" ? " (wasi-libc's allocator: it calls memory.grow itself, so its heap shows as grown by the program)." : " on the memory calls."),
      source: { c: `${name}.${malloc}` },
      run: { kind: "command", args: [name] },
      exitCode: 0,
    }),
  ),
  {
    id: "core-guest",
    title: "core guest (wat)",
    description: "A reactor whose exports call the memory calls one at a time (used by the in-browser checks).",
    source: { wat: "fixtures/wat/core-guest.wat" },
    run: { kind: "reactor", call: "page", args: [] },
    hidden: true,
  },
];

/** The page sizes the page offers and the chart sweeps. */
export const PAGE_SIZES = [4096, 8192, 16384, 32768, 65536] as const;
