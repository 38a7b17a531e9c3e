/**
 * The life of a confidential client's secret: issued with an optional lifetime
 * (`client_secret_expires_at`, RFC 7591 §3.2.1), rotated by the provider with an optional grace for
 * the old one, and checked at every client authentication.
 */
import type { ClientRecord } from './types.js';
import { newClientSecret, secretsEqual } from './secrets.js';

/** A fresh secret and when it expires (epoch seconds; 0 = never). */
export function issueSecret(nowMs: number, ttlS: number | undefined): { client_secret: string; client_secret_expires_at: number } {
  return { client_secret: newClientSecret(), client_secret_expires_at: ttlS ? Math.floor(nowMs / 1000) + ttlS : 0 };
}

/** The outcome of presenting a secret. */
export type SecretCheck = 'accepted' | 'expired' | 'wrong';

/** Precondition: a client secret authenticates only while it is current and unexpired, or retired and within its grace. */
export function checkSecret(client: ClientRecord, presented: string, nowMs: number): SecretCheck {
  const retired = client.retiredSecret;
  if (retired && nowMs < retired.acceptedUntilMs && secretsEqual(presented, retired.secret)) return 'accepted';
  if (!secretsEqual(presented, client.client_secret ?? '')) return 'wrong';
  return secretExpired(client, nowMs) ? 'expired' : 'accepted';
}

function secretExpired(client: ClientRecord, nowMs: number): boolean {
  const expiresAt = client.client_secret_expires_at ?? 0;
  return expiresAt !== 0 && nowMs >= expiresAt * 1000;
}

/**
 * The provider replaces the secret: the new one is current at once; the old one is accepted for
 * `graceS` more seconds (never past its own expiry), or not at all.
 */
export function rotateSecret(client: ClientRecord, nowMs: number, ttlS: number | undefined, graceS = 0): { client_secret: string; client_secret_expires_at: number } {
  if (client.client_secret === undefined) throw new Error(`rotateClientSecret: ${client.client_id} is a public client and has no secret`);
  const oldExpiresAtMs = (client.client_secret_expires_at ?? 0) === 0 ? Infinity : client.client_secret_expires_at! * 1000;
  const acceptedUntilMs = Math.min(nowMs + graceS * 1000, oldExpiresAtMs);
  const issued = issueSecret(nowMs, ttlS);
  if (graceS > 0 && acceptedUntilMs > nowMs) client.retiredSecret = { secret: client.client_secret, acceptedUntilMs };
  else delete client.retiredSecret;
  client.client_secret = issued.client_secret;
  client.client_secret_expires_at = issued.client_secret_expires_at;
  return issued;
}
