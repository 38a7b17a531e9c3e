import { refreshRoutes } from '../lib/http/routes/tokens.js';
import { brokerLambda } from '../lib/runtime/broker-lambda.js';

/** `POST …/accounts/{account}/refresh`: forces a refresh now. */
export const handler = brokerLambda(refreshRoutes);
