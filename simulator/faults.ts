/**
 * Fault plumbing shared by the endpoints: which faults a request meets (counting down `failCount`,
 * `registrationFailCount` and `revocationFailCount`, healing at zero) and the answer of a simulated
 * upstream failure.
 */
import type { ServerResponse } from 'node:http';
import type { Faults, SimulatorEndpoint } from './types.js';
import { NO_STORE, sendJson } from './http-io.js';
import { BASIC_CHALLENGE, BEARER_CHALLENGE } from './oauth-error.js';

/** Faults of the token endpoint that `failCount` limits. */
export const HEALING_FAULTS = ['tokenStatus', 'slowMs', 'malformedJson', 'dropAfterRotate', 'dropBeforeProcessing'] as const;

export type TokenFaults = Pick<Faults, (typeof HEALING_FAULTS)[number]>;

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

/** Status faults that a count limits, by the endpoint they belong to. */
const COUNTED_STATUS_FAULTS = {
  registration: ['registrationStatus', 'registrationFailCount'],
  revocation: ['revocationStatus', 'revocationFailCount'],
} as const;

/** The status this request must fail with, if any; counts the endpoint's fail count down and heals both at zero. */
export function takeStatusFault(f: Faults, endpoint: keyof typeof COUNTED_STATUS_FAULTS): number | undefined {
  const [statusKey, countKey] = COUNTED_STATUS_FAULTS[endpoint];
  const status = f[statusKey];
  const count = f[countKey];
  if (status === undefined || count === undefined) return status;
  if (count > 1) f[countKey] = count - 1;
  else {
    delete f[statusKey];
    delete f[countKey];
  }
  return count > 0 ? status : undefined;
}

/**
 * The answer of an endpoint told to fail with `status`. A 429 or 503 says when to come back
 * (`Retry-After`); a 401 carries the challenge of the endpoint's authentication (RFC 7235 §3.1):
 * Bearer at the registration endpoints (RFC 7592 §2), Basic elsewhere (RFC 6749 §5.2).
 */
export function simulatedFailure(f: Faults, res: ServerResponse, endpoint: SimulatorEndpoint, status: number): void {
  const transient = status === 429 || status === 503;
  let error = transient ? 'temporarily_unavailable' : status >= 500 ? 'server_error' : 'invalid_request';
  let challenge = {};
  if (status === 401) {
    const bearer = endpoint === 'registration';
    error = bearer ? 'invalid_token' : 'invalid_client';
    challenge = bearer ? BEARER_CHALLENGE : BASIC_CHALLENGE;
  }
  sendJson(res, status, { error, error_description: `simulated ${endpoint} failure` }, {
    ...NO_STORE,
    ...challenge,
    ...(transient ? { 'Retry-After': String(f.retryAfterS ?? 2) } : {}),
  });
}
