/**
 * Everything the simulator knows, in memory: registered clients, pending logins, authorization
 * codes, and grant families with their access and refresh tokens. Endpoints change it only through
 * these maps and the few operations below, so "what a revocation ends" is written once.
 */
import type { ClientRecord } from './types.js';
import { random } from './secrets.js';

/** An authorization request waiting for the login form to be posted. */
export interface PendingLogin {
  clientId: string;
  redirectUri: string;
  state: string | null;
  scope: string;
  codeChallenge: string;
  expiresAt: number;
}

/** An authorization code and what it is bound to. */
export interface CodeRecord {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  scope: string;
  expiresAt: number;
  used: boolean;
  /** The grant family the code produced, revoked if the code is replayed. */
  familyId: string | null;
}

/** All tokens descending from one authorization code (or one seeded grant). */
export interface GrantFamily {
  id: string;
  clientId: string;
  scope: string;
  currentRefreshToken: string;
  accessTokens: Set<string>;
  revoked: boolean;
}

export interface AccessTokenRecord {
  familyId: string;
  expiresAt: number;
  revoked: boolean;
}

export class SimulatorState {
  readonly clients = new Map<string, ClientRecord>();
  readonly logins = new Map<string, PendingLogin>();
  readonly codes = new Map<string, CodeRecord>();
  readonly families = new Map<string, GrantFamily>();
  readonly accessTokens = new Map<string, AccessTokenRecord>();
  /** Every refresh token ever issued, current or rotated, mapped to its family (reuse detection). */
  readonly refreshTokens = new Map<string, string>();

  /** A new, empty grant family; its first tokens come from `issueTokens`. */
  startFamily(clientId: string, scope: string): GrantFamily {
    const family: GrantFamily = { id: random(12), clientId, scope, currentRefreshToken: '', accessTokens: new Set(), revoked: false };
    this.families.set(family.id, family);
    return family;
  }

  /** Ends a grant: its refresh token and every access token it produced stop working. */
  revokeFamily(family: GrantFamily): void {
    family.revoked = true;
    for (const t of family.accessTokens) {
      const rec = this.accessTokens.get(t);
      if (rec) rec.revoked = true;
    }
  }

  revokeAll(): void {
    for (const family of this.families.values()) this.revokeFamily(family);
  }

  /** RFC 7592 §2.3: deleting a client invalidates its grants and tokens. */
  deleteClient(clientId: string): void {
    this.clients.delete(clientId);
    for (const family of this.families.values()) if (family.clientId === clientId) this.revokeFamily(family);
    for (const [code, rec] of this.codes) if (rec.clientId === clientId) this.codes.delete(code);
  }
}
