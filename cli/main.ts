/**
 * The `wasi-mman` command: a dispatcher over subcommands. Each subcommand is a module with a
 * `(argv) => Promise<exit code>` function, loaded only when it is asked for, so a missing or
 * broken subcommand never stops the others from working.
 */
import { readFileSync } from "node:fs";
import { closestName } from "./suggest.js";

type Command = (argv: string[]) => Promise<number>;

interface Subcommand {
  summary: string;
  load(): Promise<Command>;
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  run: {
    summary: "run a WASI command module with the memory calls (browser_wasi_shim)",
    load: async () => (await import("./run.js")).runCommand,
  },
  cc: {
    summary: "compile C for wasm32-wasi against musl's malloc on the memory calls",
    load: async () => (await import("./cc.js")).ccCommand,
  },
  compare: {
    summary: "compare page sizes: wastage and memory for one workload",
    // The module path is a variable so that the compiler does not require the file to exist.
    load: async () => {
      const path = "./compare.js";
      return ((await import(path)) as { compareCommand: Command }).compareCommand;
    },
  },
  demo: {
    summary: "serve the memory-map page (offline, this machine only), with a module of yours",
    load: async () => (await import("./demo.js")).demoCommand,
  },
};

function version(): string {
  // dist/cli/main.js and cli/main.ts sit at different depths below package.json.
  for (const relative of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "wasi-mman") return pkg.version ?? "unknown";
    } catch {
      // try the next candidate
    }
  }
  return "unknown";
}

function usage(): string {
  const width = Math.max(...Object.keys(SUBCOMMANDS).map((name) => name.length));
  const lines = Object.entries(SUBCOMMANDS).map(([name, sub]) => `  ${name.padEnd(width)}  ${sub.summary}`);
  return `Usage: wasi-mman <command> [options]

Commands:
${lines.join("\n")}

Run \`wasi-mman <command> --help\` for a command's options.

Example (the package ships examples/hello.wasm):
  wasi-mman run --stats node_modules/wasi-mman/examples/hello.wasm`;
}

function isModuleNotFound(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND";
}

async function main(argv: string[]): Promise<number> {
  // `wasi-mman help run` is `wasi-mman run --help`, as git and npm read it.
  if (argv[0] === "help" && argv.length > 1) return main([argv[1], "--help"]);
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-V") {
    console.log(version());
    return 0;
  }
  const sub = SUBCOMMANDS[name];
  if (sub === undefined) {
    const suggestion = closestName(name, Object.keys(SUBCOMMANDS));
    const hint = suggestion === null ? "" : `: did you mean ${suggestion}?`;
    console.error(`wasi-mman: unknown command "${name}"${hint} (commands: ${Object.keys(SUBCOMMANDS).join(", ")})`);
    return 2;
  }
  let command: Command;
  try {
    command = await sub.load();
  } catch (error) {
    if (!isModuleNotFound(error)) throw error;
    console.error(`wasi-mman: the ${name} command is not available in this build`);
    return 2;
  }
  return command(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  // A bug in the host itself: say so in one line, with the stack for a report.
  console.error(`wasi-mman: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 70;
}
