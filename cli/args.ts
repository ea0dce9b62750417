/**
 * Command-line values shared by the subcommands: sizes with suffixes, page sizes, growth
 * policies, and the error type that makes the CLI print one line and exit with 2.
 */
import { parseArgs } from "node:util";
import { WASM_PAGE_SIZE } from "../runtime/linux.js";
import { pageGeometry } from "../runtime/page-size.js";
import { closestName } from "./suggest.js";

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

/**
 * --page-size: 4k, 16k, 32k, 64k or a number of bytes; a power of two from 4 KiB to 64 KiB.
 * Written as the tool prints sizes too: `16KiB`, `16 KiB`, `16K`, `16kb`.
 */
export function parsePageSizeOption(text: string): number {
  let size: number;
  try {
    size = parseSize(text, "--page-size");
  } catch {
    size = Number.NaN;
  }
  try {
    return pageGeometry(size).size;
  } catch {
    throw new UsageError(`--page-size: expected a power of two from 4k to 64k (4k, 8k, 16k, 32k, 64k, 16KiB or bytes), got "${text}"`);
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

/** How an option takes its value. */
export type OptionKind =
  /** `--stats`: no value. */
  | "flag"
  /** `--page-size 16k`, `--page-size=16k`: one value, once. */
  | "value"
  /** `--env A=1 --env B=2`: a value, repeatable. */
  | "list"
  /** `--strace` or `--strace=mmap,munmap`: a value only after `=` (the next argument is never taken). */
  | "optional";

/**
 * Splits argv into options and positional arguments, GNU getopt style, with node:util's
 * parseArgs: options (`--name value`, `--name=value`, `--flag`, `-h`) may come before or after
 * positional arguments; everything after a `--` is positional, even if it starts with a dash.
 * `spec` says how each long option takes its value; `aliases` maps short options to long ones.
 *
 * parseArgs runs in its non-strict mode and this function does the checking, because parseArgs
 * cannot itself: take a value only after `=` ("optional": `--strace` then the module, or
 * `--strace=mmap`; a string option would swallow the module), suggest the closest option for a
 * mistyped one, and say in one line which option lacks a value or came twice.
 */
export function splitOptions(
  argv: readonly string[],
  spec: Readonly<Record<string, OptionKind>>,
  aliases: Readonly<Record<string, string>> = {},
): {
  options: Map<string, string[]>;
  positional: string[];
  afterDashes: string[];
  /** positional followed by afterDashes: the module, then its arguments. */
  rest: string[];
} {
  const config: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const [name, kind] of Object.entries(spec)) {
    config[name.replace(/^--/, "")] = { type: kind === "value" || kind === "list" ? "string" : "boolean" };
  }
  for (const [short, long] of Object.entries(aliases)) config[long.replace(/^--/, "")].short = short.replace(/^-/, "");
  const { tokens } = parseArgs({ args: [...argv], options: config, strict: false, allowPositionals: true, tokens: true });
  const options = new Map<string, string[]>();
  const positional: string[] = [];
  const afterDashes: string[] = [];
  let dashes = false;
  for (const token of tokens) {
    if (token.kind === "option-terminator") {
      dashes = true;
      continue;
    }
    if (token.kind === "positional") {
      (dashes ? afterDashes : positional).push(token.value);
      continue;
    }
    const name = `--${token.name}`;
    const kind = spec[name];
    if (kind === undefined) {
      const suggestion = closestName(token.rawName, [...Object.keys(spec), ...Object.keys(aliases)]);
      const hint = suggestion === null ? "" : `: did you mean ${suggestion}?`;
      throw new UsageError(`unknown option ${token.rawName}${hint} (see --help; arguments for the module go after --)`);
    }
    let value: string;
    if (kind === "flag") {
      if (token.value !== undefined) throw new UsageError(`${token.rawName} takes no value`);
      value = "";
    } else if (kind === "optional") {
      value = token.value ?? "";
      if (token.inlineValue === true && value === "") throw new UsageError(`${token.rawName}= needs a value after the =`);
    } else {
      if (token.value === undefined) throw new UsageError(`${token.rawName} needs a value`);
      value = token.value;
    }
    const list = options.get(name) ?? [];
    if (kind !== "list" && list.length > 0) throw new UsageError(`${token.rawName} given twice`);
    list.push(value);
    options.set(name, list);
  }
  return { options, positional, afterDashes, rest: [...positional, ...afterDashes] };
}
