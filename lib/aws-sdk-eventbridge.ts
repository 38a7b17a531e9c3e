/**
 * The EventBridge classes the broker uses (see lib/aws-sdk-classes.ts), in a module of their own:
 * a function publishes events only now and then, after its answers, so it loads them on first use.
 * The layer's second entry (`<package>/eventbridge`), built like the first.
 */
export { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
