/**
 * Fault plumbing shared by the endpoints: the snapshot of token-endpoint faults a request gets
 * (counting down `failCount` and healing at zero) and the answer of a simulated upstream failure.
 */
import type { ServerResponse } from 'node:http';
import type { Faults } from './types.js';
import { NO_STORE, sendJson } from './http-io.js';

/** Faults of the token endpoint that `failCount` limits. */
export const HEALING_FAULTS = ['tokenStatus', 'slowMs', 'malformedJson', 'dropAfterRotate', 'dropBeforeProcessing'] as const;

export type TokenFaults = Pick<Faults, (typeof HEALING_FAULTS)[number]>;

/** The OAuth error code a simulated upstream failure status carries. */
export function errorCodeForStatus(status: number): string {
  if (status === 429 || status === 503) return 'temporarily_unavailable';
  if (status >= 500) return 'server_error';
  if (status === 401) return 'invalid_client';
  return 'invalid_request';
}

/** Snapshot of the token faults for this request; counts down `failCount` and heals at zero. */
export function takeTokenFaults(f: Faults): TokenFaults {
  const active: TokenFaults = {};
  for (const k of HEALING_FAULTS) if (f[k] !== undefined && f[k] !== false) (active as Record<string, unknown>)[k] = f[k];
  if (f.failCount === undefined || Object.keys(active).length === 0) return active;
  if (f.failCount <= 0) {
    healTokenFaults(f);
    return {};
  }
  f.failCount -= 1;
  if (f.failCount === 0) healTokenFaults(f);
  return active;
}

function healTokenFaults(f: Faults): void {
  for (const k of HEALING_FAULTS) delete f[k];
  delete f.failCount;
}

/** The answer of an endpoint told to fail with `status`. */
export function simulatedFailure(res: ServerResponse, status: number, description = 'simulated upstream failure', headers: Record<string, string> = NO_STORE): void {
  sendJson(res, status, { error: errorCodeForStatus(status), error_description: description }, headers);
}
