import { BrokerError } from '../errors.js';

/**
 * A request path must be in canonical form before anything else happens (CONTRACT.md "HTTP API"),
 * in local mode and in AWS alike. IAM's `*` in an invoke grant matches `/` too, so a path such as
 * `/v1/tenants/acme/accounts/x/%2e%2e/%2e%2e/%2e%2e/conf/accounts/c1/token` matches acme's grant;
 * URL parsing would then resolve it to another tenant's route. The broker never needs an encoded
 * character in a path (identifiers are `[A-Za-z0-9._-]`), so the rule is strict: no dot segments,
 * no empty segments (doubled or trailing slashes), no percent-encoding, no backslash.
 *
 * The check runs on the path exactly as it arrived: `event.rawPath` under Lambda, the request line
 * in the local server. Answers the reason, or undefined when the path is canonical.
 */
export function nonCanonicalReason(rawPath: string): string | undefined {
  if (!rawPath.startsWith('/')) return 'it does not start with /';
  if (rawPath.includes('%')) return 'it holds percent-encoded characters';
  if (rawPath.includes('\\')) return 'it holds a backslash';
  if (rawPath === '/') return undefined;
  // the first segment that is empty, `.` or `..` (every segment starts after a /)
  const bad = BAD_SEGMENT.exec(rawPath);
  if (bad) return bad[1] === '' ? 'it holds an empty segment (doubled or trailing slash)' : 'it holds a dot segment';
  return undefined;
}

/** A segment that is empty, `.` or `..`: a / followed by at most two dots, then a / or the end. */
const BAD_SEGMENT = /\/(\.{0,2})(?=\/|$)/;

/* Precondition: a path that is not in canonical form is refused with 400 before anything else happens. */
export function canonicalPathError(rawPath: string): BrokerError | undefined {
  const reason = nonCanonicalReason(rawPath);
  return reason === undefined ? undefined : new BrokerError('invalid_request', 400, `the request path is not in canonical form: ${reason}`);
}
