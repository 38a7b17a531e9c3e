/**
 * Which errors came from the table's client (`createDb` in ./table.ts marks each one it throws), so
 * the HTTP edge can count the requests a store outage answered 503 (`StoreUnavailable`) without
 * loading the AWS SDK: the `meta` function's app shares the edge and loads nothing of the store.
 */
const storeFailures = new WeakSet<object>();

export function markStoreFailure(err: unknown): void {
  if (typeof err === 'object' && err !== null) storeFailures.add(err);
}

/** True when `err`, or an error down its `cause` chain, was thrown by the table's client. */
export function isStoreFailure(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (storeFailures.has(e)) return true;
  }
  return false;
}
