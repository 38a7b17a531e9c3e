import { accountRoutes } from '../lib/http/routes/accounts.js';
import { brokerLambda } from '../lib/runtime/broker-lambda.js';

/** `GET …/accounts`, `GET|DELETE …/accounts/{account}`, `GET …/audit`: account administration and the audit trail. */
export const handler = brokerLambda(accountRoutes);
