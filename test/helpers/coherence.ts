/**
 * The scenarios of fixtures/wat/coherence-guest.wat and the file each one leaves behind, for
 * the library-API test (coherence.test.ts) and the CLI test (coherence-cli.test.ts).
 */

/** argv[1] of the guest (its first letter) -> what the scenario shows. */
export const SCENARIOS = {
  w: "lost write: pwrite and write under a read-only shared mapping are shown by it and survive msync, munmap and the exit sync",
  s: "lost store: a store through one shared mapping is seen through the other after the next memory or host call and survives unmapping the other",
  r: "stale remap: MAP_SHARED|MAP_FIXED over a shared mapping of the same file shows the stored bytes",
  t: "truncation and extension by the host (ftruncate, O_TRUNC, a write past the end) show in the mapping; no stale byte is written back",
  p: "a private mapping starts from what the shared ones show and never writes the file",
} as const;
export type Scenario = keyof typeof SCENARIOS;

/** The file the guest writes before each scenario: byte i is (i mod 251) + 1, two pages. */
export function pattern(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i % 251) + 1);
}

/** Where each scenario leaves its five-byte strings in the two-page file (P: the page size). */
function stores(scenario: Exclude<Scenario, "t">, P: number): [number, string][] {
  const table: Record<Exclude<Scenario, "t">, [number, string][]> = {
    w: [[10, "WRITE"], [30, "EXIT!"], [P + 20, "AGAIN"]],
    s: [[100, "STORE"], [300, "LAST!"], [400, "SYNC!"], [P + 200, "HOST!"]],
    r: [[60, "FIRST"], [70, "THERE"], [P + 50, "REMAP"]],
    p: [[0x40, "SHARE"]],
  };
  return table[scenario];
}

/** The file's bytes after each scenario (and after the exit sync). */
export function expectedFile(scenario: Scenario, P: number): Uint8Array {
  if (scenario === "t") {
    // Truncated, written, extended: "AxTER", zeros, 'y' four bytes into the second page.
    const truncated = new Uint8Array(P + 8);
    truncated.set(new TextEncoder().encode("AxTER"), 0);
    truncated[P + 4] = 0x79;
    return truncated;
  }
  const file = pattern(2 * P);
  for (const [offset, text] of stores(scenario, P)) file.set(new TextEncoder().encode(text), offset);
  return file;
}
