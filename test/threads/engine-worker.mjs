// One thread of test/threads-engine.test.ts: joins the shared address space and maps, writes,
// checks, remaps and unmaps at random, keeping a thread-and-mapping tag in every page it owns.
import { parentPort, workerData } from "node:worker_threads";
import { createMman } from "../../dist/index.js";

const { handle, thread, rounds, seed } = workerData;
const mman = createMman({ shared: handle });
const calls = mman.calls;
const pageSize = handle.pageSize;
let state = seed >>> 0;
const random = (n) => {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return (state >>> 8) % n;
};
const live = []; // [address, length, tag]
const words = () => new Int32Array(handle.memory.buffer);
let nextTag = 1;
const tagOf = (serial) => (thread << 20) | serial;
function fill(address, length, tag) {
  const w = words();
  for (let at = address; at < address + length; at += pageSize) w[at >>> 2] = tag;
}
const problems = [];
function check([address, length, tag]) {
  const w = words();
  for (let at = address; at < address + length; at += pageSize) {
    if (w[at >>> 2] !== tag) {
      problems.push(`thread ${thread}: page 0x${at.toString(16)} of mapping tag ${tag} reads ${w[at >>> 2]}`);
      return;
    }
  }
}
for (let round = 0; round < rounds; round++) {
  const action = live.length > 48 ? 6 : random(10);
  if (action < 5 || live.length === 0) {
    const length = (1 + random(pageSize === 4096 ? 24 : 4)) * pageSize;
    const address = calls.mmap(0, length, 3, 0x22, -1, 0);
    if (address < 0) { problems.push(`thread ${thread}: mmap failed ${address}`); break; }
    const w = words();
    for (let at = address; at < address + length; at += pageSize) {
      if (w[at >>> 2] !== 0) problems.push(`thread ${thread}: fresh page 0x${at.toString(16)} reads ${w[at >>> 2]}`);
    }
    const tag = tagOf(nextTag++);
    fill(address, length, tag);
    live.push([address, length, tag]);
  } else if (action < 8) {
    const [mapping] = live.splice(random(live.length), 1);
    check(mapping);
    const result = calls.munmap(mapping[0], mapping[1]);
    if (result !== 0) problems.push(`thread ${thread}: munmap ${result}`);
  } else {
    const i = random(live.length);
    const mapping = live[i];
    check(mapping);
    const newLength = (1 + random(pageSize === 4096 ? 40 : 6)) * pageSize;
    const address = calls.mremap(mapping[0], mapping[1], newLength, 1, 0);
    if (address < 0) { problems.push(`thread ${thread}: mremap ${address}`); break; }
    const kept = Math.min(mapping[1], newLength);
    live[i] = [address, kept, mapping[2]];
    check(live[i]);
    const tag = tagOf(nextTag++);
    fill(address, newLength, tag);
    live[i] = [address, newLength, tag];
  }
  if (thread === 0 && round % 16 === 0) {
    const current = calls.brk(0);
    calls.brk(current + (random(3) === 0 ? -pageSize : 3 * pageSize));
  }
}
for (const mapping of live) check(mapping);
parentPort.postMessage({ live, problems });
