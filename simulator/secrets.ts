/**
 * Random values (tokens, codes, ids, client secrets) and the constant-time comparison every
 * presented credential goes through.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** An opaque URL-safe value of `bytes` random bytes. */
export function random(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

/** A client secret. Standard base64 on purpose: `+ / =` must survive the RFC 6749 §2.3.1 form-encoding of Basic credentials. */
export function newClientSecret(): string {
  return randomBytes(24).toString('base64');
}

/** Compares secrets in constant time, whatever their lengths. */
export function secretsEqual(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** RFC 7636 §4.2: BASE64URL(SHA256(verifier)). */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}
