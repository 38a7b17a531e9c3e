import { BrokerError } from '../errors.js';
import type { LinkRefusal } from '../store/links.js';
import type { TenantRecord } from '../store/records.js';
import type { BrokerDeps } from './deps.js';
import { readTenant } from './tenant-read.js';

/**
 * The account-linking flow, one job per file:
 *
 * - `linking-create.ts`: `POST …/link`, a link URL for the end user;
 * - `linking-start.ts`: `GET /oauth/authorize`, a flow started from a link;
 * - `linking-complete.ts`: `GET /oauth/callback`, the flow completed (and the link with it);
 * - `linking-confirm.ts`: `POST …/link/confirm`, a linking the tenant confirms (`confirm_links`);
 * - `linking-expiry.ts`: unconfirmed linkings revoked and dropped by the refresher;
 * - `linking-accounts.ts`: what a completed linking stores and announces;
 * - `linking-secrets.ts`: the flow's secrets, and why none of them is in the table.
 *
 * This file holds what they share: lifetimes, the flow's error, and the link refused.
 */

/** A link URL lives at most this long; the flows it starts end with it. */
export const LINK_TTL_MS = 10 * 60 * 1000;
/** The tenant confirms a linking within this time, or its tokens are revoked and dropped. */
export const LINK_SESSION_TTL_MS = 10 * 60 * 1000;
/** Flows one link may start: enough to try again a few times, too few to farm authorization requests. */
export const MAX_FLOWS_PER_LINK = 10;

/** Which tenant and account a failed flow was for, and where the end user goes back to. */
export interface FlowRef {
  tenant: string;
  account: string;
  returnTo?: string | undefined;
}

export interface LinkFlowErrorOptions {
  /** The same link's path, offered as "try again" when the failure may pass (the link still lives). */
  retryLink?: string | undefined;
  /** The flow is still alive (nothing was consumed): the browser keeps its flow cookie. */
  flowAlive?: boolean;
}

/** Failure of the browser part of the flow: shown as a page, or sent back to `return_to`. */
export class LinkFlowError extends Error {
  override readonly name = 'LinkFlowError';
  constructor(
    readonly error: BrokerError,
    readonly flow?: FlowRef,
    readonly options: LinkFlowErrorOptions = {},
  ) {
    super(error.description, { cause: error });
  }
}

const LINK_REFUSED: Record<LinkRefusal, string> = {
  unknown: 'This link is not valid or was already used. Ask for a new link.',
  used: 'This link was already used to link an account. Ask for a new link.',
  expired: 'This link has expired. Ask for a new link.',
  exhausted: 'This link was opened too many times. Ask for a new link.',
};

/** The tenant a link or flow was made for; gone, the link is no longer valid (the page says nothing of tenants). */
export async function readTenantOfLink(deps: BrokerDeps, tenant: string): Promise<TenantRecord> {
  try {
    return await readTenant(deps, tenant);
  } catch (err) {
    if (err instanceof BrokerError && err.code === 'not_found') throw invalidLink('unknown');
    throw err;
  }
}

/** The end user's refusal of a link that cannot start or complete a flow (never says why beyond these four). */
export const invalidLink = (reason: LinkRefusal, flow?: FlowRef) => new LinkFlowError(new BrokerError('invalid_link', 400, LINK_REFUSED[reason]), flow);
