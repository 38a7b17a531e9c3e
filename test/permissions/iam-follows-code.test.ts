/**
 * Least privilege that follows the code: each function is granted exactly the AWS actions its
 * code sends. What the code sends is recorded across the whole test suite (test/support/
 * aws-commands.ts: a middleware on each function's SDK clients, and the KMS and EventBridge mocks),
 * which runs before this file (vitest project `permissions`, a later group); what it is granted is
 * read from the synthesized stack (identity policies and the key policy of each function's role).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FUNCTION_NAMES, type FunctionName } from '../../lib/http/route-table.js';
import { RECORDINGS_DIR } from '../support/aws-commands.js';
import { grantedActions } from '../infra/support.js';

function sentAcrossTheSuite(): Record<FunctionName, string[]> {
  let files: string[] = [];
  try {
    files = readdirSync(RECORDINGS_DIR).filter((f) => f.endsWith('.json'));
  } catch {
    // no directory: nothing was recorded
  }
  if (files.length === 0) throw new Error('no AWS commands were recorded: this check runs after the whole suite (npm test), not on its own');
  const sent = Object.fromEntries(FUNCTION_NAMES.map((fn) => [fn, new Set<string>()])) as Record<FunctionName, Set<string>>;
  for (const file of files) {
    const record = JSON.parse(readFileSync(new URL(file, RECORDINGS_DIR), 'utf8')) as Partial<Record<FunctionName, string[]>>;
    for (const [fn, actions] of Object.entries(record) as [FunctionName, string[]][]) for (const a of actions) sent[fn].add(a);
  }
  return Object.fromEntries(FUNCTION_NAMES.map((fn) => [fn, [...sent[fn]].sort()])) as Record<FunctionName, string[]>;
}

const sent = sentAcrossTheSuite();
const granted = grantedActions(undefined, { code: true });

describe('each function is granted exactly the AWS actions its code sends', () => {
  it.each(FUNCTION_NAMES)('functions/%s.ts: nothing granted that its code never sends, nothing sent that it is not granted', (fn) => {
    const notSent = granted[fn].filter((a) => !sent[fn].includes(a));
    const notGranted = sent[fn].filter((a) => !granted[fn].includes(a));

    expect({ grantedButNeverSent: notSent, sentButNotGranted: notGranted }).toEqual({ grantedButNeverSent: [], sentButNotGranted: [] });
  });
});
