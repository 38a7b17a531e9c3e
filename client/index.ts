/** The broker's client for services: `import { createBrokerClient } from 'longport-token-broker/client'`. */
export {
  BrokerClientError,
  createBrokerClient,
  type AwsCredentials,
  type BearerAuth,
  type BrokerClient,
  type BrokerClientOptions,
  type BrokerToken,
  type GetTokenOptions,
  type SigV4Auth,
} from './broker-client.js';
