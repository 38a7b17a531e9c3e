import { createHash, createHmac, randomBytes } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import { secretHash, type SecretHash } from '../store/schema.js';

/**
 * The secrets of a link flow and where each one lives. The table holds none of them, only hashes
 * (`lib/store/schema.ts`):
 *
 * - the link id: in the link URL the tenant hands to its end user;
 * - the `state`: in the authorization request and the provider's redirect back;
 * - the browser binding: a 256-bit secret in the flow's HttpOnly cookie, followed by the id of the
 *   link the flow came from (so a failure that may pass can offer the same link again);
 * - the PKCE `code_verifier` (RFC 7636 §4.1): derived from the binding and the state, so it exists
 *   only while a request of that browser is being served, and a copy of the table cannot rebuild it;
 * - the `link_session` id (confirmed links): in the redirect to the tenant's `return_to`.
 */
const randomId = () => randomBytes(32).toString('base64url');

export const newLinkId = randomId;
export const newLinkSessionId = randomId;
export const newState = (): string => oauth.generateRandomState();

/** A link id as the broker issues it: 32 random bytes, base64url. */
export const LINK_ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** The flow cookie's value: the binding secret, then the link id. */
export function newBrowserBinding(linkId: string): string {
  return `${randomId()}.${linkId}`;
}

/** The link a flow cookie names, when it is the link `linkHash` is the hash of (anything else is ignored). */
export function linkIdOfBinding(binding: string | undefined, linkHash: string): string | undefined {
  const linkId = binding?.split('.')[1];
  return linkId && LINK_ID_PATTERN.test(linkId) && secretHash(linkId) === linkHash ? linkId : undefined;
}

/** What the table keeps of the flow cookie. */
export const bindingHash = (binding: string | undefined): SecretHash => secretHash(binding ?? '');

/**
 * The PKCE verifier of a flow, bound to its purpose, its state and its browser: base64url of
 * HMAC-SHA256(key = the flow cookie's value, "pkce-verifier:" + state). 43 characters of the
 * unreserved alphabet, as RFC 7636 §4.1 asks, with 256 bits of entropy.
 */
export function pkceVerifier(binding: string, state: string): string {
  return createHmac('sha256', binding).update(`pkce-verifier:${state}`, 'utf8').digest('base64url');
}

/** The cookie that binds a flow to one browser; one per flow so parallel tabs do not collide. */
export const bindingCookieName = (state: string): string => `lpb_${createHash('sha256').update(state).digest('base64url').slice(0, 16)}`;

/** The path of a link URL on the broker's host (where the callback is too). */
export const linkPath = (linkId: string): string => `/oauth/authorize?link=${linkId}`;
