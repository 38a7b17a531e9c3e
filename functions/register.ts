import { tenantRoutes } from '../lib/http/routes/tenants.js';
import { brokerLambda } from '../lib/runtime/broker-lambda.js';

/** `PUT|GET|DELETE /v1/tenants/{tenant}`: tenant registration and settings. */
export const handler = brokerLambda(tenantRoutes);
