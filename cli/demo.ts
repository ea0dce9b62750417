/**
 * `wasi-mman demo [module]`: serves the memory-map page that the package ships (dist/demo,
 * built by `npm run build`) on 127.0.0.1, so it works from any install, offline. A module given
 * on the command line is served beside it and preloaded: the page opens with it selected and
 * run. Any other module can be opened in the page (a picker, or drag and drop); it never
 * leaves the browser.
 */
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { EXIT_USAGE, splitOptions, UsageError } from "./args.js";
import { packageRoot } from "./cc.js";
import { serveDemo } from "./demo-server.js";
import { writeLineSync } from "./host-io.js";
import { readModule } from "./run.js";

export const DEMO_USAGE = `Usage: wasi-mman demo [options] [module.wasm | module.wat]

Serves the memory-map page on http://127.0.0.1:PORT/ (this machine only) and prints its
address: pick a bundled program or open a module of your own (a picker, or drop the file on
the page), choose a page size and press Run; the page shows the memory map step by step, the
calls, the statistics and a chart across page sizes. A module given here is preloaded and run.
Ctrl-C stops the server.

Options:
  --port N      the port (default 5178; 0: any free port)
  --guard       tick the page's "guard": runs are made as run --guard makes them, and the
                page at which the guard stops a program is drawn red in the map (docs/guard.md)
  -h, --help    show this help

Example:
  wasi-mman demo prog.wasm
  wasi-mman demo --guard prog.wasm`;

const SPEC = { "--port": "value", "--guard": "flag", "--help": "flag" } as const;

/** The built page: dist/demo in the package. */
function demoDir(): string {
  const dir = join(packageRoot(), "dist", "demo");
  if (!existsSync(join(dir, "index.html"))) throw new UsageError(`the page is not built (${dir}); run npm run build`);
  return dir;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`--port: expected a port number from 0 to 65535, got "${text}"`);
  return port;
}

/** The `demo` subcommand: serves until the process is stopped; returns only on an error. */
export async function demoCommand(argv: string[]): Promise<number> {
  try {
    const { options, rest } = splitOptions(argv, SPEC, { "-h": "--help" });
    if (options.has("--help")) {
      console.log(DEMO_USAGE);
      return 0;
    }
    if (rest.length > 1) throw new UsageError(`one module at most, got ${rest.length} (see wasi-mman demo --help)`);
    const port = parsePort(options.get("--port")?.[0] ?? "5178");
    const dir = demoDir();
    const module = rest.length === 0 ? null : { name: basename(rest[0]).replace(/\.wat$|\.wast$/, ".wasm"), bytes: await readModule(rest[0]) };
    let server;
    try {
      server = await serveDemo(dir, port, module);
    } catch (error) {
      throw new UsageError(`cannot listen on 127.0.0.1:${port}: ${(error as NodeJS.ErrnoException).code ?? String(error)} (try --port 0)`);
    }
    const query = [module === null ? null : `module=${encodeURIComponent(`/user/${module.name}`)}`, options.has("--guard") ? "guard=1" : null].filter((part) => part !== null);
    const url = query.length === 0 ? server.url : `${server.url}?${query.join("&")}`;
    // The first line is the address, alone, for scripts (and the browser tests).
    console.log(url);
    writeLineSync(2, `wasi-mman demo: serving ${dir}${module === null ? "" : ` and ${rest[0]}`} on ${server.url} (Ctrl-C stops)`);
    await new Promise<never>(() => {});
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      writeLineSync(2, `wasi-mman demo: ${error.message}`);
      return EXIT_USAGE;
    }
    throw error;
  }
}
