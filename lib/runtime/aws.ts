import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { eventBridgeSdk, kmsSdk } from '../aws-sdk.js';
import type { BrokerDeps } from '../broker/deps.js';
import { loadConfig } from '../config.js';
import { AWS_SERVICE_DEADLINE, sdkClientSettings } from '../deadlines.js';
import { kmsDataKeys } from '../crypto/kms-keys.js';
import { eventBridgePublisher, localPublisher } from '../events.js';
import type { FunctionName } from '../http/route-table.js';
import { createLogger } from '../log.js';
import { createDb } from '../store/table.js';
import { assembleDeps } from './assemble.js';

/** The AWS SDK clients a function's dependencies talk through (one set per function). */
export interface AwsClients {
  /** The document client; it shares the DynamoDB client's middleware stack. */
  dynamodb: DynamoDBDocumentClient;
  kms: KMSClient;
  /** Present when the function has a bus; made on first use (see below). */
  eventBridge?: Promise<EventBridgeClient>;
}

const cached = new Map<FunctionName, { deps: BrokerDeps; clients: AwsClients }>();

/**
 * A Lambda function's dependencies, made once per cold start. Configuration is read here, so a
 * missing variable fails the cold start with its name. Each function has its own set, as it does
 * when deployed (one function per process).
 */
export function lambdaDeps(fn: FunctionName): BrokerDeps {
  const hit = cached.get(fn);
  if (hit) return hit.deps;
  const config = loadConfig();
  const log = createLogger({ base: { service: 'longport-token-broker', function: fn } });
  const db = createDb({ table: config.tableName, endpoint: config.dynamodbEndpoint });
  // every KMS and EventBridge call has a connection and a request deadline (lib/deadlines.ts)
  const kms = new kmsSdk.KMSClient(sdkClientSettings(AWS_SERVICE_DEADLINE));
  // EventBridge is loaded and its client made by the first event this process publishes (after an
  // answer, through the outbox): most cold starts never publish one, so they never pay for it
  let eventBridge: Promise<EventBridgeClient> | undefined;
  const eventBridgeClient = () => (eventBridge ??= eventBridgeSdk().then(({ EventBridgeClient }) => new EventBridgeClient(sdkClientSettings(AWS_SERVICE_DEADLINE))));
  const busName = config.eventBusName;
  const deps = assembleDeps({
    config,
    db,
    keys: kmsDataKeys(kms, config.kmsKeyId!),
    events: busName ? eventBridgePublisher(eventBridgeClient, busName, log) : localPublisher(log),
    log,
  });
  const clients: AwsClients = {
    dynamodb: db.doc,
    kms,
    get eventBridge() {
      return busName ? eventBridgeClient() : undefined;
    },
  };
  cached.set(fn, { deps, clients });
  return deps;
}

/** The SDK clients behind {@link lambdaDeps} of `fn` (made by its cold start). */
export function awsClientsOf(fn: FunctionName): AwsClients | undefined {
  return cached.get(fn)?.clients;
}

/** Tests only: forget every cold start. */
export function resetLambdaDeps(): void {
  cached.clear();
}
