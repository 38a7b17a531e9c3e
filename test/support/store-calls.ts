import type { Db } from '../../lib/store/table.js';

export interface StoreCall {
  /** The command's name without `Command`: `GetItem`, `Query`, `TransactWriteItems`, … */
  name: string;
  input: Record<string, unknown>;
}

let counters = 0;

/**
 * Records every command a document client sends from now on (a middleware on its stack), so a test
 * or the benchmark can say how many DynamoDB calls something cost. `stop()` removes the middleware.
 */
export function recordStoreCalls(db: Db) {
  const calls: StoreCall[] = [];
  const name = `recordStoreCalls${++counters}`;
  db.doc.middlewareStack.add(
    (next, context) => async (args) => {
      calls.push({ name: String(context.commandName ?? '').replace(/Command$/, ''), input: args.input as Record<string, unknown> });
      return next(args);
    },
    { step: 'initialize', name },
  );
  return {
    calls,
    names: () => calls.map((c) => c.name),
    /** Writes that put an item of the audit trail (an event or an exposure marker). */
    auditWrites: () => calls.reduce((n, c) => n + auditItemsIn(c), 0),
    reset: () => void (calls.length = 0),
    stop: () => void db.doc.middlewareStack.remove(name),
  };
}

function auditItemsIn(call: StoreCall): number {
  const isAudit = (item: unknown) => String((item as { pk?: unknown } | undefined)?.pk ?? '').startsWith('AUDIT#');
  if (call.name === 'PutItem') return isAudit(call.input.Item) ? 1 : 0;
  if (call.name === 'BatchWriteItem') {
    const requests = Object.values((call.input.RequestItems ?? {}) as Record<string, { PutRequest?: { Item?: unknown } }[]>).flat();
    return requests.filter((r) => isAudit(r.PutRequest?.Item)).length;
  }
  if (call.name === 'TransactWriteItems') {
    return ((call.input.TransactItems ?? []) as { Put?: { Item?: unknown } }[]).filter((t) => isAudit(t.Put?.Item)).length;
  }
  return 0;
}
