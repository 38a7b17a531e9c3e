/**
 * The credentials of the broker's AWS SDK layer, in place of the SDK's default chain
 * (`@aws-sdk/credential-provider-node`, see infra/bundling.ts): Lambda gives a function its role's
 * credentials in its environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
 * `AWS_SESSION_TOKEN`), and the layer runs only in Lambda, so its clients read them there and
 * nowhere else. The default chain, with its profiles, SSO, web identity and instance metadata
 * clients, would be a third of what a cold start compiles. Local mode and the tools keep the full
 * chain: they take the SDK from node_modules.
 */
export { fromEnv as defaultProvider } from '@aws-sdk/credential-provider-env';
