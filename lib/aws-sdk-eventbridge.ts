/**
 * The EventBridge classes the broker uses (see lib/aws-sdk-classes.ts), in a module of their own:
 * loaded on first use, and in the layer only these two and what they need.
 */
export { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
