/**
 * Deterministic hooks for crash tests: token requests held at a phase (`received`: nothing processed
 * yet; `processed`: the grant committed, the answer not sent) until the test releases them, so it can
 * kill the caller's process at an exact moment and know what the provider did.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GrantType, HeldTokenRequest, HoldPhase, TokenRequestRecord } from './types.js';
import { connectionClosed, dropConnection } from './http-io.js';
import { Waitlist } from './waitlist.js';

interface ArmedHold {
  phase: HoldPhase;
  remaining: number;
  grantType: GrantType | undefined;
}

/** Carry on with the request, or stop: its caller's connection is gone. */
export type AfterHold = 'carry_on' | 'caller_gone';

export class TokenHolds {
  private armed: ArmedHold[] = [];
  /** Release functions of the requests held right now. */
  private readonly holding = new Set<() => void>();
  private readonly handedOut = new Waitlist<HeldTokenRequest>();
  /** Resolvers of each held request's end, keyed by its record. */
  private readonly ends = new Map<TokenRequestRecord, { promise: Promise<TokenRequestRecord>; resolve: () => void }>();

  arm(phase: HoldPhase, options: { count?: number; grantType?: GrantType } = {}): void {
    const count = options.count ?? 1;
    if (count > 0) this.armed.push({ phase, remaining: count, grantType: options.grantType });
  }

  next(): Promise<HeldTokenRequest> {
    return this.handedOut.next();
  }

  /** Holds the request at `phase` when a hold armed for it matches; answers how to go on once let go. */
  async at(phase: HoldPhase, record: TokenRequestRecord, req: IncomingMessage, res: ServerResponse): Promise<AfterHold> {
    const hold = this.armed.find((h) => h.phase === phase && (h.grantType === undefined || h.grantType === record.grantType));
    if (!hold) return 'carry_on';
    hold.remaining -= 1;
    if (hold.remaining <= 0) this.armed.splice(this.armed.indexOf(hold), 1);

    let held = true;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const callerGone = new Promise<void>((resolve) => {
      if (connectionClosed(req, res)) return resolve();
      res.once('close', () => held && resolve());
    });
    const end = this.endOf(record);
    this.holding.add(release);
    this.handedOut.push({
      phase,
      record,
      callerGone,
      release: () => {
        release();
        return end;
      },
      drop: () => {
        dropConnection(req, res);
        return end;
      },
    });
    await Promise.race([released, callerGone]);
    held = false;
    this.holding.delete(release);
    // A request whose caller left while held is never processed (received) or never answered (processed).
    return connectionClosed(req, res) ? 'caller_gone' : 'carry_on';
  }

  /** Called once when a token request has ended, however it ended. */
  ended(record: TokenRequestRecord): void {
    this.ends.get(record)?.resolve();
    this.ends.delete(record);
  }

  /** Disarms every hold and releases every held request. */
  releaseAll(): void {
    this.armed = [];
    for (const release of [...this.holding]) release();
  }

  private endOf(record: TokenRequestRecord): Promise<TokenRequestRecord> {
    let entry = this.ends.get(record);
    if (!entry) {
      let resolve!: () => void;
      const promise = new Promise<TokenRequestRecord>((r) => (resolve = () => r(record)));
      entry = { promise, resolve };
      this.ends.set(record, entry);
    }
    return entry.promise;
  }
}
