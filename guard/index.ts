/**
 * wasi-mman/guard: guard mode for library users. instrument() the module's bytes, make the
 * memory calls with createGuardedMman(), instantiate and attach as usual; a fault traps, and
 * mman.guard.report(error) gives the report block. Binaryen is loaded only by this entry.
 */
export { instrument } from "./instrument.js";
export type { InstrumentOptions, InstrumentResult } from "./instrument.js";
export { createGuardedMman, EXIT_SEGV, isGuarded } from "./guard.js";
export type { Guard, GuardedMman } from "./guard.js";
export type { Fault, FaultSummary, PageChange } from "./report.js";
export { Access, Kind, GRANULE } from "./protection.js";
