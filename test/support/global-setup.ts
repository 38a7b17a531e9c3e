import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { RECORDINGS_DIR } from './aws-commands-dir.js';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local.js';

let ddb: DynamoDbLocal | undefined;

/** One DynamoDB Local per test run (in memory); each test file makes its own table in it. */
export async function setup(project: TestProject): Promise<void> {
  // this run's recordings of the AWS actions each function sends start empty (test/permissions reads them)
  rmSync(RECORDINGS_DIR, { recursive: true, force: true });
  ddb = await startDynamoDbLocal();
  project.provide('dynamoEndpoint', ddb.endpoint);
}

export async function teardown(): Promise<void> {
  await ddb?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string;
  }
}
