/**
 * Records, across the whole test suite, the AWS actions each Lambda function's code sends — so a
 * test can hold them against the IAM actions the stack grants each function
 * (test/permissions/iam-follows-code.test.ts, which runs after every other test file).
 *
 * - DynamoDB and EventBridge calls through real SDK clients are seen by a middleware on the
 *   function's own clients (`awsClientsOf(fn)`, one set per function as in AWS).
 * - Calls to clients mocked with aws-sdk-client-mock (KMS, EventBridge) never reach the
 *   middleware stack; the mock reports them here with the client that was called.
 * Each test file writes what it saw to test/.tmp/aws-commands/ when it ends.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import { FUNCTION_NAMES, type FunctionName } from '../../lib/http/route-table.js';
import { awsClientsOf } from '../../lib/runtime/aws.js';

import { RECORDINGS_DIR } from './aws-commands-dir.js';

export { RECORDINGS_DIR };

const seen = new Map<FunctionName, Set<string>>();
const instrumented = new WeakSet<object>();

function note(fn: FunctionName, actions: string[]): void {
  let set = seen.get(fn);
  if (!set) seen.set(fn, (set = new Set()));
  for (const a of actions) set.add(a);
}

/** The IAM actions one SDK command needs: a transaction needs the action of each of its items. */
export function iamActionsOf(service: 'dynamodb' | 'kms' | 'events', commandName: string, input: unknown): string[] {
  const name = commandName.replace(/Command$/, '');
  if (service === 'dynamodb' && name === 'TransactWriteItems') {
    const items = ((input as { TransactItems?: Record<string, unknown>[] }).TransactItems ?? []).flatMap((item) => Object.keys(item));
    const actionOf: Record<string, string> = { Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem', ConditionCheck: 'ConditionCheckItem' };
    return [...new Set(items.map((k) => `dynamodb:${actionOf[k] ?? k}`))];
  }
  if (service === 'dynamodb' && name === 'TransactGetItems') return ['dynamodb:GetItem'];
  return [`${service}:${name}`];
}

/** Starts recording what function `fn`'s real SDK clients send (call once its cold start made them). */
export async function recordCommandsOf(fn: FunctionName): Promise<void> {
  const clients = awsClientsOf(fn);
  if (!clients) return;
  const targets: [object & { middlewareStack: { add: Function } }, 'dynamodb' | 'events'][] = [[clients.dynamodb, 'dynamodb']];
  if (clients.eventBridge) targets.push([await clients.eventBridge, 'events']);
  for (const [client, service] of targets) {
    if (instrumented.has(client)) continue;
    instrumented.add(client);
    client.middlewareStack.add(
      (next: (args: { input: unknown }) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: unknown }) => {
        note(fn, iamActionsOf(service, context.commandName ?? 'Unknown', args.input));
        return next(args);
      },
      { step: 'initialize', name: 'recordIamActions' },
    );
  }
}

/**
 * A call to a client mocked with aws-sdk-client-mock: attributed to the function that owns the
 * client. A KMS call is noted at once (nothing is awaited); the EventBridge client is made on first
 * use, so its owner is found once each function's client is there.
 */
export async function recordMockedCall(client: unknown, service: 'kms' | 'events', commandName: string): Promise<void> {
  for (const fn of FUNCTION_NAMES) {
    const clients = awsClientsOf(fn);
    if (!clients) continue;
    if (service === 'kms' ? clients.kms === client : (await clients.eventBridge) === client) {
      note(fn, iamActionsOf(service, commandName, undefined));
      return;
    }
  }
}

// a test file that imports this module writes what its functions sent when it ends
afterAll(() => {
  if (seen.size === 0) return;
  mkdirSync(RECORDINGS_DIR, { recursive: true });
  const record = Object.fromEntries([...seen].map(([fn, actions]) => [fn, [...actions].sort()]));
  writeFileSync(new URL(`${process.pid}-${randomBytes(4).toString('hex')}.json`, RECORDINGS_DIR), JSON.stringify(record));
});
