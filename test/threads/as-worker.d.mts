// Types of the pattern helpers that test/threads/as-worker.mjs exports to test/as-threads.test.ts.
export function tagOf(thread: number, serial: number): number;
export function byteOf(tag: number): number;
export function writePattern(memory: WebAssembly.Memory, address: number, size: number, tag: number): void;
export function patternProblem(memory: WebAssembly.Memory, address: number, size: number, tag: number, length?: number): string | null;
export const MAILBOX_SLOTS: number;
export function mailboxBlocks(mailbox: Int32Array): [number, number, number][];
