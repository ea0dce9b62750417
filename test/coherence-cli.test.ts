// Coherence of MAP_SHARED file mappings under `wasi-mman run --dir D`: the same scenarios as
// coherence.test.ts (fixtures/wat/coherence-guest.wat, argv[1] picks one), run as a command.
// The exit status is the guest's first failed check (0: all passed); the file D/f the command
// writes back at exit must hold exactly what Linux's page cache would have left in it, after
// the exit sync of the mappings still live.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedFile, SCENARIOS, type Scenario } from "./helpers/coherence.js";
import { cli } from "./helpers/cli.js";

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "wasi-mman-coherence-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

for (const pageSize of [4096, 65536]) {
  describe(`wasi-mman run --dir, ${pageSize / 1024} KiB pages`, () => {
    for (const scenario of Object.keys(SCENARIOS) as Scenario[]) {
      it(SCENARIOS[scenario], async () => {
        const dir = mkdtempSync(join(scratch, `${scenario}-`));
        const run = await cli("run", "--page-size", String(pageSize), "--dir", `${dir}:/data`, "fixtures/wat/coherence-guest.wat", "--", scenario);
        expect(run.stderr).toBe("");
        expect(run.code, "the guest's first failed check").toBe(0);
        expect(new Uint8Array(readFileSync(join(dir, "f")))).toEqual(expectedFile(scenario, pageSize));
      });
    }
  });
}
