/**
 * Bit operations over Uint32Array bitmaps, one bit per libc page, word at a time.
 * Ranges are half-open [from, to) in bit indexes.
 */

/** Number of 32-bit words for `bits` bits. */
export function wordsFor(bits: number): number {
  return (bits + 31) >>> 5;
}

/** Returns a copy of `map` able to hold `bits` bits (grown, never shrunk). */
export function growBitmap(map: Uint32Array, bits: number): Uint32Array {
  const words = wordsFor(bits);
  if (words <= map.length) return map;
  const next = new Uint32Array(words);
  next.set(map);
  return next;
}

export function testBit(map: Uint32Array, bit: number): boolean {
  return (map[bit >>> 5] & (1 << (bit & 31))) !== 0;
}

export function setBit(map: Uint32Array, bit: number): void {
  map[bit >>> 5] |= 1 << (bit & 31);
}

export function clearBit(map: Uint32Array, bit: number): void {
  map[bit >>> 5] &= ~(1 << (bit & 31));
}

/** Mask of bits [lo, hi) within one word, 0 <= lo < hi <= 32. */
function wordMask(lo: number, hi: number): number {
  const upper = hi === 32 ? 0xffffffff : (1 << hi) - 1;
  return (upper & ~((1 << lo) - 1)) >>> 0;
}

export function setRange(map: Uint32Array, from: number, to: number): void {
  for (let bit = from; bit < to; ) {
    const word = bit >>> 5;
    const lo = bit & 31;
    const hi = Math.min(32, lo + (to - bit));
    map[word] |= wordMask(lo, hi);
    bit += hi - lo;
  }
}

export function clearRange(map: Uint32Array, from: number, to: number): void {
  for (let bit = from; bit < to; ) {
    const word = bit >>> 5;
    const lo = bit & 31;
    const hi = Math.min(32, lo + (to - bit));
    map[word] &= ~wordMask(lo, hi);
    bit += hi - lo;
  }
}

/** True when any bit in [from, to) is set. */
export function anySet(map: Uint32Array, from: number, to: number): boolean {
  for (let bit = from; bit < to; ) {
    const word = bit >>> 5;
    const lo = bit & 31;
    const hi = Math.min(32, lo + (to - bit));
    if ((map[word] & wordMask(lo, hi)) !== 0) return true;
    bit += hi - lo;
  }
  return false;
}

/** True when every bit in [from, to) is set. */
export function allSet(map: Uint32Array, from: number, to: number): boolean {
  for (let bit = from; bit < to; ) {
    const word = bit >>> 5;
    const lo = bit & 31;
    const hi = Math.min(32, lo + (to - bit));
    const mask = wordMask(lo, hi);
    if (((map[word] & mask) >>> 0) !== mask) return false;
    bit += hi - lo;
  }
  return true;
}

/** The first set bit in [from, to), or -1. */
export function nextSet(map: Uint32Array, from: number, to: number): number {
  for (let bit = from; bit < to; ) {
    const word = bit >>> 5;
    const lo = bit & 31;
    const hi = Math.min(32, lo + (to - bit));
    const hits = (map[word] & wordMask(lo, hi)) >>> 0;
    if (hits !== 0) return (word << 5) + (31 - Math.clz32(hits & -hits));
    bit += hi - lo;
  }
  return -1;
}

/** The last set bit at or below `from` (down to `floor`), or -1. */
export function prevSet(map: Uint32Array, from: number, floor = 0): number {
  for (let bit = from; bit >= floor; ) {
    const word = bit >>> 5;
    const hi = (bit & 31) + 1;
    const lo = Math.max(0, hi - 1 - (bit - floor));
    const hits = (map[word] & wordMask(lo, hi)) >>> 0;
    if (hits !== 0) return (word << 5) + (31 - Math.clz32(hits));
    bit -= hi - lo;
  }
  return -1;
}

/** Number of set bits in [from, to). */
export function countSet(map: Uint32Array, from: number, to: number): number {
  let count = 0;
  for (let bit = from; bit < to; ) {
    const word = bit >>> 5;
    const lo = bit & 31;
    const hi = Math.min(32, lo + (to - bit));
    let v = (map[word] & wordMask(lo, hi)) >>> 0;
    v = v - ((v >>> 1) & 0x55555555);
    v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
    count += (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
    bit += hi - lo;
  }
  return count;
}
