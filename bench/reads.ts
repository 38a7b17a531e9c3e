import type { Db } from '../lib/store/table.js';

interface ReadOutput {
  Item?: unknown;
  Items?: unknown[];
  ScannedCount?: number;
  ConsumedCapacity?: { CapacityUnits?: number };
}

/** Counts what a DynamoDB client reads: items returned by GetItem/Query/Scan, and read capacity. */
export function countReads(db: Db) {
  const counts = { requests: 0, itemsRead: 0, rcu: 0 };
  db.doc.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (/^(GetItem|Query|Scan|BatchGetItem)Command$/.test(context.commandName ?? '')) {
        const output = result.output as ReadOutput | undefined;
        counts.requests += 1;
        counts.itemsRead += output?.ScannedCount ?? (output?.Item ? 1 : output?.Items?.length ?? 0);
        counts.rcu += output?.ConsumedCapacity?.CapacityUnits ?? 0;
      }
      return result;
    },
    { step: 'initialize', name: 'benchReadCounter' },
  );
  return counts;
}
