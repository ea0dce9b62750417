/**
 * The memory map: one cell per libc page, drawn on a <canvas> as one ImageData (no DOM node
 * per page, so 100,000 pages draw in a few milliseconds). Above MAX_CELLS pages, each cell
 * stands for a group of consecutive pages and takes the colour of the kind most of them have.
 *
 *   cell index = page / groupSize        row = cell / cols, column = cell % cols
 */
import { PageKind } from "../browser.js";
import { OUTSIDE } from "../cli/map-steps.js";

/** Cells drawn at most; more pages than this are grouped. */
export const MAX_CELLS = 20_000;

/** Kinds in PageKind order, with the colour and the name the legend shows. */
export const KINDS = [
  { kind: PageKind.IMAGE, name: "IMAGE", label: "module image", rgb: [100, 116, 139] },
  { kind: PageKind.BRK, name: "BRK", label: "brk heap", rgb: [37, 99, 235] },
  { kind: PageKind.MAPPED, name: "MAPPED", label: "mapped", rgb: [245, 158, 11] },
  { kind: PageKind.FREE_CLEAN, name: "FREE_CLEAN", label: "free (zero)", rgb: [226, 232, 240] },
  { kind: PageKind.FREE_DIRTY, name: "FREE_DIRTY", label: "free, dirty", rgb: [192, 132, 252] },
  { kind: PageKind.FOREIGN, name: "FOREIGN", label: "grown by the program", rgb: [16, 185, 129] },
] as const;

/** The cell of the page a `--guard` fault stopped the run at (it is drawn in this colour whatever its kind). */
export const FAULT_RGB = [220, 38, 38] as const;

/** Pages beyond the end of memory at this step. */
const OUTSIDE_RGB = [255, 255, 255] as const;
/** The 1-pixel gaps between cells large enough to show them. */
const GAP_RGB = [248, 250, 252] as const;

export interface MapLayout {
  pages: number;
  /** Pages per cell (1 up to MAX_CELLS pages). */
  groupSize: number;
  cells: number;
  /** Side of a cell in canvas pixels. */
  cellPx: number;
  cols: number;
  rows: number;
}

/** Square cells that fill `width` pixels and about `targetHeight` pixels of height. */
export function layoutMap(pages: number, width: number, targetHeight = 420): MapLayout {
  const groupSize = Math.max(1, Math.ceil(pages / MAX_CELLS));
  const cells = Math.max(1, Math.ceil(pages / groupSize));
  const cellPx = Math.max(2, Math.min(28, Math.floor(Math.sqrt((width * targetHeight) / cells))));
  const cols = Math.max(1, Math.floor(width / cellPx));
  const rows = Math.ceil(cells / cols);
  return { pages, groupSize, cells, cellPx, cols, rows };
}

/** One kind per cell: the page's kind, or the commonest kind of the group (OUTSIDE last). */
export function cellKinds(kinds: Uint8Array, layout: MapLayout): Uint8Array {
  const { groupSize, cells } = layout;
  if (groupSize === 1) return kinds.slice(0, cells);
  const result = new Uint8Array(cells);
  const counts = new Int32Array(KINDS.length);
  for (let cell = 0; cell < cells; cell++) {
    counts.fill(0);
    const end = Math.min(kinds.length, (cell + 1) * groupSize);
    for (let page = cell * groupSize; page < end; page++) {
      const kind = kinds[page];
      if (kind !== OUTSIDE) counts[kind]++;
    }
    let best: number = OUTSIDE;
    let bestCount = 0;
    for (let kind = 0; kind < KINDS.length; kind++) {
      if (counts[kind] > bestCount) {
        best = kind;
        bestCount = counts[kind];
      }
    }
    result[cell] = best;
  }
  return result;
}

function rgbOf(kind: number): readonly number[] {
  return kind === OUTSIDE ? OUTSIDE_RGB : KINDS[kind].rgb;
}

/** Draws the cells, `faultCell` (or none, -1) in FAULT_RGB; sizes the canvas to the layout. */
export function drawMap(canvas: HTMLCanvasElement, cells: Uint8Array, layout: MapLayout, faultCell = -1): void {
  const width = layout.cols * layout.cellPx;
  const height = layout.rows * layout.cellPx;
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  if (context === null) return;
  const image = context.createImageData(width, height);
  const pixels = new Uint32Array(image.data.buffer);
  // ImageData is RGBA in memory; a little-endian Uint32 holds it as 0xAABBGGRR.
  const packed = (rgb: readonly number[]): number => ((255 << 24) | (rgb[2] << 16) | (rgb[1] << 8) | rgb[0]) >>> 0;
  const gap = packed(GAP_RGB);
  pixels.fill(gap);
  const inset = layout.cellPx >= 6 ? 1 : 0;
  const side = layout.cellPx - inset;
  for (let cell = 0; cell < cells.length; cell++) {
    const colour = packed(cell === faultCell ? FAULT_RGB : rgbOf(cells[cell]));
    const x0 = (cell % layout.cols) * layout.cellPx;
    const y0 = Math.floor(cell / layout.cols) * layout.cellPx;
    for (let y = y0; y < y0 + side; y++) pixels.fill(colour, y * width + x0, y * width + x0 + side);
  }
  context.putImageData(image, 0, 0);
}

/**
 * Reads the drawn canvas back: how many cells show each kind (by the colour at each cell's
 * centre). The page reports this next to the engine's own counts, so a test can check that
 * what is on screen is what the engine holds.
 */
export function readBackCells(canvas: HTMLCanvasElement, layout: MapLayout): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries([...KINDS.map((k) => [k.name, 0]), ["OUTSIDE", 0], ["FAULT", 0], ["UNKNOWN", 0]]);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  if (context === null) return counts;
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const half = Math.floor((layout.cellPx - (layout.cellPx >= 6 ? 1 : 0)) / 2);
  for (let cell = 0; cell < layout.cells; cell++) {
    const x = (cell % layout.cols) * layout.cellPx + half;
    const y = Math.floor(cell / layout.cols) * layout.cellPx + half;
    const at = (y * canvas.width + x) * 4;
    const rgb = [data[at], data[at + 1], data[at + 2]];
    const match = KINDS.find((k) => k.rgb.every((value, i) => value === rgb[i]));
    const same = (colour: readonly number[]): boolean => colour.every((value, i) => value === rgb[i]);
    const name = match?.name ?? (same(OUTSIDE_RGB) ? "OUTSIDE" : same(FAULT_RGB) ? "FAULT" : "UNKNOWN");
    counts[name]++;
  }
  return counts;
}

/** Pages of each kind (OUTSIDE pages are not counted). */
export function countKinds(kinds: Uint8Array): Record<string, number> {
  const counts = new Array<number>(KINDS.length).fill(0);
  for (let page = 0; page < kinds.length; page++) {
    const kind = kinds[page];
    if (kind !== OUTSIDE) counts[kind]++;
  }
  return Object.fromEntries(KINDS.map((k) => [k.name, counts[k.kind]]));
}

/** The cell under a point of the canvas (CSS pixels), or -1. */
export function cellAt(canvas: HTMLCanvasElement, layout: MapLayout, clientX: number, clientY: number): number {
  const box = canvas.getBoundingClientRect();
  const x = ((clientX - box.left) * canvas.width) / box.width;
  const y = ((clientY - box.top) * canvas.height) / box.height;
  const col = Math.floor(x / layout.cellPx);
  const row = Math.floor(y / layout.cellPx);
  if (col < 0 || col >= layout.cols || row < 0) return -1;
  const cell = row * layout.cols + col;
  return cell < layout.cells ? cell : -1;
}
