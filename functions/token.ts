import { tokenRoutes } from '../lib/http/routes/tokens.js';
import { brokerLambda } from '../lib/runtime/broker-lambda.js';

/** `GET …/accounts/{account}/token`: a valid access token, refreshed first when needed. */
export const handler = brokerLambda(tokenRoutes);
