/**
 * What every endpoint handler is given: the options, where things are served, the clock, the state,
 * the faults in force and the stats to record. One object, built by `longport-simulator.ts`.
 */
import type { Faults, SimulatorOptions, SimulatorPaths, SimulatorStats } from './types.js';
import type { SimulatorState } from './state.js';
import type { TokenHolds } from './token-holds.js';

export interface SimulatorContext {
  readonly opts: SimulatorOptions;
  readonly paths: SimulatorPaths;
  /** Path part of the issuer ('' or `/…`). */
  readonly issuerPath: string;
  /** Origin, `http://host:port`; fixed once the simulator first listens. */
  readonly url: string;
  readonly issuer: string;
  readonly clock: () => number;
  readonly state: SimulatorState;
  readonly faults: Faults;
  readonly stats: SimulatorStats;
  readonly holds: TokenHolds;
  /** A real-time wait that `close()` cuts short, so no handler outlives the server. */
  delay(ms: number): Promise<void>;
}
