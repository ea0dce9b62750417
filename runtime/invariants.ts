/**
 * Invariants: every rule the engine relies on, checked from its state. Tests call this after
 * every step, and `createMman({ debug: true })` after every call. It throws an Error naming the
 * first broken rule and why the rule matters.
 */
import type { BrkArea } from "./brk-area.js";
import type { FreeRuns } from "./free-runs.js";
import type { Mappings } from "./mappings.js";
import type { LinearMemory } from "./memory.js";
import type { PageTable } from "./page-table.js";
import type { Counters } from "./statistics.js";

export interface EngineState {
  memory: LinearMemory;
  pageSize: number;
  ownedPages: number;
  limitPage: number;
  knownBytes: number;
  table: PageTable;
  runs: FreeRuns;
  maps: Mappings;
  brk: BrkArea;
  counters: Counters;
  recycled: [number, number][];
  recycledPages: number;
}

function countUsed(table: PageTable, from: number, to: number): number {
  let n = 0;
  for (let page = from; page < to; page++) if (table.isUsed(page)) n++;
  return n;
}

export function checkInvariants(s: EngineState, deep: boolean): void {
  const fail = (why: string): never => {
    throw new Error(`wasi-mman invariant broken: ${why}`);
  };
  const { table, runs, maps, brk, counters: c } = s;
  const owned = s.ownedPages;
  const size = s.pageSize;
  // The engine's view of memory matches the memory (foreign growth is adopted at sync()).
  if (s.knownBytes > s.memory.byteLength()) fail("the engine accounts for more memory than exists");
  if (owned !== s.knownBytes / size) fail(`owned pages ${owned} != memory pages ${s.knownBytes / size}`);
  if (runs.end !== owned) fail(`the free runs end at page ${runs.end}, memory at ${owned}`);
  // Nothing below the heap base is handed out: image pages are used, never mappings or free.
  const regionStart = brk.regionStartPage;
  if (!table.allUsed(0, Math.min(regionStart, owned))) fail("an image page is not marked used");
  if (table.nextStart(0, Math.min(regionStart, owned)) >= 0) fail("a mapping starts in the module image");
  // The brk area reports the exact break and covers whole pages up to it.
  if (brk.breakAddress < brk.heapBase) fail("the break is below the heap base");
  if (brk.brkEndPage !== brk.endPageFor(brk.breakAddress)) fail(`brk end page ${brk.brkEndPage} does not match the break ${brk.breakAddress}`);
  const brkOwnedEnd = Math.min(brk.brkEndPage, owned);
  if (!table.allUsed(regionStart, brkOwnedEnd)) fail("a brk page is not marked used");
  if (table.anyForeign(regionStart, brkOwnedEnd)) fail("the brk area overlaps foreign pages");
  // Mappings never overlap each other, foreign pages, or the last page below 4 GiB.
  let mappedPages = 0;
  let mappedInBrk = 0;
  let live = 0;
  let previousEnd = regionStart;
  let requested = 0;
  const r = maps.records;
  for (let start = maps.next(0, owned); start >= 0; ) {
    const pages = r.pages[start];
    if (pages <= 0) fail(`mapping at page ${start} has ${pages} pages`);
    if (start < previousEnd) fail(`mapping at page ${start} overlaps the previous mapping or the image`);
    if (start + pages > owned) fail(`mapping at page ${start} runs past the end of memory`);
    if (start + pages > s.limitPage) fail(`mapping at page ${start} reaches past the address limit`);
    if (!table.allUsed(start, start + pages)) fail(`mapping at page ${start} has a page not marked used`);
    if (table.anyForeign(start, start + pages)) fail(`mapping at page ${start} covers foreign pages`);
    if (table.nextStart(start + 1, start + pages) >= 0) fail(`mapping at page ${start} contains another mapping's start`);
    const req = r.requested[start];
    if (req < 0 || req > pages * size) fail(`mapping at page ${start} has ${req} requested bytes for ${pages} pages`);
    requested += req;
    mappedPages += pages;
    if (start < brkOwnedEnd) mappedInBrk += Math.min(start + pages, brkOwnedEnd) - start;
    live++;
    previousEnd = start + pages;
    start = maps.next(previousEnd, owned);
  }
  if (live !== c.liveMappings) fail(`${live} mappings found, ${c.liveMappings} accounted`);
  if (mappedPages !== c.mappedPages) fail(`${mappedPages} mapped pages found, ${c.mappedPages} accounted`);
  if (Math.abs(requested - c.requestedBytes) > 0.5) fail(`${requested} requested bytes found, ${c.requestedBytes} accounted`);
  // The free runs hold exactly the unused pages, as maximal runs with exact boundary tags; the
  // wilderness is the run that ends at the end of memory and is never in the index.
  let freePages = 0;
  for (const [start, length] of runs.index.allRuns()) {
    if (length <= 0 || start + length > owned) fail(`free run at page ${start} (${length} pages) is out of range`);
    if (start < brk.brkEndPage) fail(`free run at page ${start} is below the break`);
    if (table.anyUsed(start, start + length)) fail(`free run at page ${start} holds a used page`);
    if (start + length > s.limitPage) fail(`free run at page ${start} reaches past the address limit`);
    if (start + length >= runs.wildStart) fail(`free run at page ${start} touches the wilderness`);
    if (runs.holeEndingAt(start + length - 1) !== start) fail(`free run at page ${start} has a wrong end tag`);
    if (start > brk.brkEndPage && !table.isUsed(start - 1)) fail(`free run at page ${start} is not merged with the run below`);
    if (!table.isUsed(start + length)) fail(`free run at page ${start} is not merged with the run above`);
    freePages += length;
  }
  if (runs.wildStart > owned) fail(`the wilderness starts at page ${runs.wildStart}, past memory`);
  if (table.anyUsed(runs.wildStart, owned)) fail("the wilderness holds a used page");
  if (runs.wildStart > brk.brkEndPage && runs.wildStart < owned && !table.isUsed(runs.wildStart - 1)) fail("the wilderness is not merged with the run below");
  if (runs.wildStart < owned && owned > s.limitPage) fail("the wilderness reaches past the address limit");
  freePages += owned - runs.wildStart;
  if (freePages !== runs.freePages) fail(`${freePages} free pages in runs, ${runs.freePages} accounted`);
  // Recycled pages are held aside: marked used and dirty, no mapping starts in them, no overlap.
  let recycledPages = 0;
  let previous = -1;
  for (const [start, pages] of [...s.recycled].sort((a, b) => a[0] - b[0])) {
    if (start < previous) fail(`recycled range at page ${start} overlaps another`);
    if (start < brk.brkEndPage || start + pages > owned) fail(`recycled range at page ${start} is out of range`);
    if (!table.allUsed(start, start + pages)) fail(`recycled range at page ${start} has a page not marked used`);
    for (let page = start; page < start + pages; page++) if (!table.isDirty(page)) fail(`recycled page ${page} is not marked dirty`);
    if (table.nextStart(start, start + pages) >= 0) fail(`recycled range at page ${start} overlaps a mapping`);
    if (table.anyForeign(start, start + pages)) fail(`recycled range at page ${start} overlaps foreign pages`);
    recycledPages += pages;
    previous = start + pages;
  }
  if (recycledPages !== s.recycledPages) fail(`${recycledPages} recycled pages found, ${s.recycledPages} accounted`);
  // Bitmap population equals the pages accounted for: image + brk + mapped + foreign + recycled + free = all.
  const usedCount = countUsed(table, 0, owned);
  let foreignCount = 0;
  for (let page = 0; page < owned; page++) if (table.isForeign(page)) foreignCount++;
  if (foreignCount !== c.foreignPages) fail(`${foreignCount} foreign pages found, ${c.foreignPages} accounted`);
  if (usedCount + freePages !== owned) fail(`used ${usedCount} + free ${freePages} != ${owned} pages`);
  const brkAndImage = brkOwnedEnd - mappedInBrk;
  if (usedCount !== brkAndImage + mappedPages + foreignCount + recycledPages) {
    fail(`used pages ${usedCount} != image+brk ${brkAndImage} + mapped ${mappedPages} + foreign ${foreignCount} + recycled ${recycledPages}`);
  }
  if (deep) {
    // Free pages not marked dirty read as zeros, so they can be handed out without clearing.
    const bytes = s.memory.bytes();
    for (const [start, length] of runs.allRuns()) {
      for (let page = start; page < start + length; page++) {
        if (table.isDirty(page)) continue;
        const from = page * size;
        for (let i = from; i < from + size; i++) {
          if (bytes[i] !== 0) fail(`free clean page ${page} holds a non-zero byte at ${i}`);
        }
      }
    }
  }
}
