/**
 * `npm run bench`: runs every benchmark section present and prints its table. Each section
 * measures its subject and its baseline side by side in one run and prints ratios.
 * Pass section names to run only those: `npm run bench -- core`.
 */
import { existsSync } from "node:fs";

const SECTIONS = ["core", "as-alloc", "c-mman", "threads", "pthread", "zstd-threads", "real-programs", "guard"];
const wanted = process.argv.slice(2);

for (const name of SECTIONS) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  const url = new URL(`./${name}.ts`, import.meta.url);
  if (!existsSync(url)) continue;
  const section = (await import(url.href)) as { run: () => Promise<void> };
  await section.run();
}
