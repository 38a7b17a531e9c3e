/**
 * Hands things the server produces (held and hung requests) to the tests awaiting them, in order:
 * each item goes to exactly one `next()`, whether the test asked before or after it arrived, and
 * whether or not its request has ended since.
 */
export class Waitlist<T> {
  private readonly items: T[] = [];
  private readonly waiters: ((item: T) => void)[] = [];

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  next(): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
