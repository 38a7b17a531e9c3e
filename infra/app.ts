import { App } from 'aws-cdk-lib';
import { BrokerStack } from './broker-stack.js';
import { brokerContext } from './context.js';
import { addSecurityChecks } from './security-checks.js';

/**
 * `npm run synth` / `npx cdk deploy`. The stack is environment-agnostic (no account or region
 * lookups), so it synthesizes offline without credentials; a deploy targets the caller's account
 * and region. cdk-nag's AwsSolutions pack runs on every synth.
 */
const app = new App();
const { stackName, props } = brokerContext(app.node);
new BrokerStack(app, stackName, props);
addSecurityChecks(app);
app.synth();
