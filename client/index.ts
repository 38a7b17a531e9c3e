/** The broker's clients: `import { createBrokerClient, createAdminClient } from 'longport-token-broker/client'`. */
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
export { createAdminClient, type AdminClientOptions } from './admin-client.js';
export {
  DEFAULT_REFRESH_HORIZON_S,
  FINGERPRINT_PATTERN,
  renewsAround,
  tokenFingerprint,
  type Account,
  type AccountStatus,
  type AdminApi,
  type AuditEvent,
  type AuditQuery,
  type Link,
  type PutTenantInput,
  type RefresherHealth,
  type Region,
  type Tenant,
  type TenantState,
  type TenantSummary,
  type TokenAnswer,
} from './admin-api.js';
export { isMissingRoute, type RetryPolicy } from './http.js';
export { regionOfApiUrl } from './auth.js';
