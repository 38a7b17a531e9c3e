import { callbackRoutes } from '../lib/http/routes/callback.js';
import { brokerLambda } from '../lib/runtime/broker-lambda.js';

/** `GET /oauth/callback`: the provider's redirect back; exchanges the code and stores the tokens. */
export const handler = brokerLambda(callbackRoutes);
