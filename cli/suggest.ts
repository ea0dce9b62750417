/**
 * "Did you mean": the known name closest to a mistyped one (options, commands, call names).
 * Imports nothing, so that the dispatcher (cli/main.ts) can use it whatever else is broken.
 */

/**
 * Edit distance between two names, for "did you mean": insertions, deletions, substitutions and
 * swaps of two neighbours (`mmpa` -> `mmap` is one), each counting 1 (optimal string alignment).
 */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The known name closest to `given` (`--page-sise` -> `--page-size`, `--stat` -> `--stats`),
 * or null when none is close: at most a third of the name's letters differ, or one starts with
 * the other.
 */
export function closestName(given: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const name of known) {
    const bare = given.replace(/^-+/, "");
    const candidate = name.replace(/^-+/, "");
    const distance = bare.length >= 3 && (candidate.startsWith(bare) || bare.startsWith(candidate)) ? 1 : editDistance(bare, candidate);
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best !== null && bestDistance <= Math.max(1, Math.floor(given.replace(/^-+/, "").length / 3)) ? best : null;
}
