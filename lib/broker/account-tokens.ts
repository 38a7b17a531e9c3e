import type { AccountRecord } from '../store/records.js';

export const accountTokensContext = (tenant: string, account: string) => ({ tenant, account, purpose: 'account-tokens' as const });

/**
 * When the scheduled refresher should renew a token (epoch s): `horizon` before expiry (at most half
 * the token's life), moved earlier by up to a quarter of that lead so that tokens issued together
 * do not all come due in the same run.
 */
export function nextDueAt(expiresAt: number, receivedAt: number, horizonS: number, random: () => number = Math.random): number {
  const lifeS = Math.max(0, (expiresAt - receivedAt) / 1000);
  const leadS = Math.min(horizonS, lifeS / 2);
  const jitterS = random() * leadS * 0.25;
  return Math.floor(expiresAt / 1000 - leadS - jitterS);
}

/** The answer of the token and refresh routes: never the refresh token. */
export interface TokenAnswer {
  access_token: string;
  token_type: 'Bearer';
  expires_at: string;
  expires_in: number;
  scope: string;
}

/** Whole seconds from `now` to `expiresAt` (ms epoch), never below 0: a token answer's `expires_in`. */
export const secondsLeft = (expiresAt: number, now: number): number => Math.max(0, Math.floor((expiresAt - now) / 1000));

export function tokenAnswer(record: Pick<AccountRecord, 'expiresAt' | 'scope'> & { expiresAtIso?: string }, accessToken: string, now: number): TokenAnswer {
  return {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_at: record.expiresAtIso ?? new Date(record.expiresAt).toISOString(),
    expires_in: secondsLeft(record.expiresAt, now),
    scope: record.scope,
  };
}
