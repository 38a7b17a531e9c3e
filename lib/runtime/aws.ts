import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import type { BrokerDeps } from '../broker/deps.js';
import { loadConfig } from '../config.js';
import { kmsDataKeys } from '../crypto/kms-keys.js';
import { eventBridgePublisher, localPublisher } from '../events.js';
import { createLogger } from '../log.js';
import { createDb } from '../store/table.js';
import { assembleDeps } from './assemble.js';

let cached: BrokerDeps | undefined;

/**
 * The Lambda functions' dependencies, made once per cold start. Configuration is read here, so a
 * missing variable fails the cold start with its name.
 */
export function lambdaDeps(): BrokerDeps {
  if (cached) return cached;
  const config = loadConfig();
  const log = createLogger({ base: { service: 'longport-token-broker' } });
  cached = assembleDeps({
    config,
    db: createDb({ table: config.tableName, endpoint: config.dynamodbEndpoint }),
    keys: kmsDataKeys(new KMSClient({}), config.kmsKeyId!),
    events: config.eventBusName ? eventBridgePublisher(new EventBridgeClient({}), config.eventBusName, log) : localPublisher(log),
    log,
  });
  return cached;
}

/** Tests only: forget the cold-start dependencies. */
export function resetLambdaDeps(): void {
  cached = undefined;
}
