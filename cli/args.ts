/**
 * Command-line values shared by the subcommands: sizes with suffixes, page sizes, growth
 * policies, and the error type that makes the CLI print one line and exit with 2.
 */
import { WASM_PAGE_SIZE } from "../runtime/linux.js";
import { pageGeometry, parsePageSize } from "../runtime/page-size.js";

/** A usage error: printed as one line, exit code 2 (as getopt-style tools do). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export const EXIT_USAGE = 2;

const SUFFIXES: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** "65536", "64k", "256m", "4g" (binary multiples, case-insensitive, optional "b"/"ib"). */
export function parseSize(text: string, option: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$/i.exec(text);
  if (match === null) throw new UsageError(`${option}: expected a size such as 65536, 64k, 256m or 1g, got "${text}"`);
  const bytes = Number(match[1]) * SUFFIXES[match[2].toLowerCase()];
  if (!Number.isInteger(bytes)) throw new UsageError(`${option}: ${text} is not a whole number of bytes`);
  return bytes;
}

/** --page-size: 4k, 16k, 32k, 64k or a number of bytes; a power of two from 4 KiB to 64 KiB. */
export function parsePageSizeOption(text: string): number {
  const size = parsePageSize(text);
  try {
    return pageGeometry(size).size;
  } catch {
    throw new UsageError(`--page-size: expected a power of two from 4k to 64k (4k, 8k, 16k, 32k, 64k or bytes), got "${text}"`);
  }
}

/** --max-memory: from one wasm page to 4 GiB. */
export function parseMaxMemoryOption(text: string): number {
  const bytes = parseSize(text, "--max-memory");
  if (bytes < WASM_PAGE_SIZE || bytes > 2 ** 32) throw new UsageError(`--max-memory: must be from 64k to 4g, got "${text}"`);
  return bytes;
}

export function parseGrowthOption(text: string): "exact" | "geometric" {
  if (text === "exact" || text === "geometric") return text;
  throw new UsageError(`--growth: expected "exact" or "geometric", got "${text}"`);
}

/**
 * Splits argv into options and positional arguments, GNU getopt style: options
 * (`--name value`, `--name=value`, `--flag`) may come before or after positional arguments;
 * everything after a `--` is positional, even if it starts with a dash. `spec` says which
 * options take a value ("value": once, "list": repeatable).
 */
export function splitOptions(
  argv: readonly string[],
  spec: Readonly<Record<string, "flag" | "value" | "list">>,
  aliases: Readonly<Record<string, string>> = {},
): {
  options: Map<string, string[]>;
  positional: string[];
  afterDashes: string[];
  /** positional followed by afterDashes: the module, then its arguments. */
  rest: string[];
} {
  const options = new Map<string, string[]>();
  const positional: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const rawName = eq >= 0 ? arg.slice(0, eq) : arg;
    const name = aliases[rawName] ?? rawName;
    const kind = spec[name];
    if (kind === undefined) throw new UsageError(`unknown option ${rawName} (see --help; arguments for the module go after --)`);
    let value: string;
    if (kind === "flag") {
      if (eq >= 0) throw new UsageError(`${rawName} takes no value`);
      value = "";
    } else if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`${rawName} needs a value`);
      value = argv[++i];
    }
    const list = options.get(name) ?? [];
    if (kind !== "list" && list.length > 0) throw new UsageError(`${rawName} given twice`);
    list.push(value);
    options.set(name, list);
  }
  const afterDashes = argv.slice(i);
  return { options, positional, afterDashes, rest: [...positional, ...afterDashes] };
}
