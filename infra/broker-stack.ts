import { CfnOutput, Fn, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { TokenBroker, type TokenBrokerProps } from './token-broker.js';

export interface BrokerStackProps extends StackProps, Omit<TokenBrokerProps, 'alarmTopic'> {
  /** An existing SNS topic the alarms notify (its policy must let CloudWatch and EventBridge publish). */
  alarmTopicArn?: string;
  /** A permissions boundary (managed policy ARN) set on every role the stack creates. */
  permissionsBoundaryArn?: string;
}

/** Tags on every resource of the stack (besides the operator's own `tags`). */
export const STACK_TAGS = { application: 'longport-token-broker' } as const;

/** The deployable unit: one TokenBroker and the outputs an operator needs. */
export class BrokerStack extends Stack {
  readonly broker: TokenBroker;

  constructor(scope: Construct, id: string, props: BrokerStackProps = {}) {
    super(scope, id, {
      description: 'LongPort token broker: OAuth 2.0 account linking and always-valid access tokens for LongPort OpenAPI',
      ...props,
    });
    const { alarmTopicArn, permissionsBoundaryArn, ...brokerProps } = props;
    // on each resource, not only the stack (with @aws-cdk/core:explicitStackTags, stack tags stay on the stack)
    // (CloudFormation takes no tags on a dashboard)
    for (const [key, value] of Object.entries({ ...STACK_TAGS, 'broker-stack': this.stackName, ...props.tags })) {
      Tags.of(this).add(key, value, { excludeResourceTypes: ['AWS::CloudWatch::Dashboard'] });
    }
    if (permissionsBoundaryArn) {
      iam.PermissionsBoundary.of(this).apply(iam.ManagedPolicy.fromManagedPolicyArn(this, 'PermissionsBoundary', permissionsBoundaryArn));
    }

    this.broker = new TokenBroker(this, 'Broker', {
      ...brokerProps,
      ...(alarmTopicArn ? { alarmTopic: sns.Topic.fromTopicArn(this, 'AlarmTopic', alarmTopicArn) } : {}),
    });
    const { api } = this.broker;

    new CfnOutput(this, 'ApiUrl', { value: api.url, description: 'Base URL of the broker API' });
    new CfnOutput(this, 'CallbackUrl', {
      value: this.broker.callbackUrl,
      description: 'OAuth redirect URI the broker registers with LongPort',
    });
    new CfnOutput(this, 'ApiId', { value: api.api.apiId, description: 'HTTP API id (execute-api:Invoke resources start with it)' });
    new CfnOutput(this, 'MaxRequestsPerSecond', {
      value: String(api.totalRateLimit),
      description: 'The sum of the per-route request limits: the most the API accepts (the account limit applies on top)',
    });
    new CfnOutput(this, 'TableName', { value: this.broker.table.tableName });
    new CfnOutput(this, 'KeyArn', { value: this.broker.key.keyArn });
    new CfnOutput(this, 'EventBusName', { value: this.broker.events.eventBusName });
    new CfnOutput(this, 'ReauthRequiredQueueUrl', { value: this.broker.events.reauthMailbox.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.broker.deadLetterQueue.queue.queueUrl });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.broker.alarms.topic.topicArn, description: 'Every alarm notifies this topic' });
    new CfnOutput(this, 'DashboardName', { value: this.broker.dashboard.dashboard.dashboardName });
    new CfnOutput(this, 'FunctionRoleArns', {
      value: Fn.join(',', Object.values(this.broker.functions).map((f) => f.role.roleArn)),
      description: 'The roles of the broker functions: the only principals the key policy lets use the key',
    });
    if (this.broker.key.breakGlassRole) {
      new CfnOutput(this, 'KeyBreakGlassRoleArn', { value: this.broker.key.breakGlassRole.roleArn, description: 'Key administrator for emergencies (docs/deploy.md)' });
    }
    if (api.domain) {
      new CfnOutput(this, 'CustomDomainTarget', {
        value: api.domain.regionalDomainName,
        description: 'Point a CNAME (or alias A record) for the custom domain here',
      });
    }
  }
}
