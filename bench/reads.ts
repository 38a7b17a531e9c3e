import type { Db } from '../lib/store/table.js';

/** Counts what a DynamoDB client reads: items returned by GetItem/Query/Scan, and read capacity. */
export function countReads(db: Db) {
  const counts = { requests: 0, itemsRead: 0, rcu: 0 };
  db.doc.middlewareStack.add(
    (next, context) => async (args) => {
      const out = (await next(args)) as { output?: { Item?: unknown; Items?: unknown[]; ScannedCount?: number; ConsumedCapacity?: { CapacityUnits?: number } } };
      const command = context.commandName ?? '';
      if (/^(GetItem|Query|Scan|BatchGetItem)Command$/.test(command)) {
        counts.requests += 1;
        counts.itemsRead += out.output?.ScannedCount ?? (out.output?.Item ? 1 : out.output?.Items?.length ?? 0);
        counts.rcu += out.output?.ConsumedCapacity?.CapacityUnits ?? 0;
      }
      return out;
    },
    { step: 'initialize', name: 'benchReadCounter' },
  );
  return counts;
}
