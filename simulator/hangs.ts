/**
 * The `hang` fault: a request to a hung endpoint is accepted and read, then neither processed nor
 * answered until it is let go, which destroys its connection.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HungRequest, SimulatorEndpoint } from './types.js';
import { dropConnection } from './http-io.js';
import { Waitlist } from './waitlist.js';

export class Hangs {
  private readonly hung = new Set<HungRequest>();
  private readonly handedOut = new Waitlist<HungRequest>();

  /** Holds the request; it ends only when dropped or when its caller leaves. */
  hold(endpoint: SimulatorEndpoint, req: IncomingMessage, res: ServerResponse): void {
    // Drain the body so the request counts as received; nothing reads it.
    req.resume();
    const entry: HungRequest = { endpoint, drop: () => dropConnection(req, res) };
    this.hung.add(entry);
    res.once('close', () => this.hung.delete(entry));
    this.handedOut.push(entry);
  }

  next(): Promise<HungRequest> {
    return this.handedOut.next();
  }

  /** Lets go of every hung request whose endpoint no longer hangs. */
  dropAllBut(stillHanging: readonly SimulatorEndpoint[]): void {
    for (const entry of [...this.hung]) if (!stillHanging.includes(entry.endpoint)) entry.drop();
  }

  dropAll(): void {
    this.dropAllBut([]);
  }
}
