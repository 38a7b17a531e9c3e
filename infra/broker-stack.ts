import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { TokenBroker, type TokenBrokerProps } from './token-broker.js';

export interface BrokerStackProps extends StackProps, Omit<TokenBrokerProps, 'alarmTopic'> {
  /** An existing SNS topic the alarms notify (its policy must let CloudWatch publish). */
  alarmTopicArn?: string;
}

/** The deployable unit: one TokenBroker and the outputs an operator needs. */
export class BrokerStack extends Stack {
  readonly broker: TokenBroker;

  constructor(scope: Construct, id: string, props: BrokerStackProps = {}) {
    super(scope, id, {
      description: 'LongPort token broker: OAuth 2.0 account linking and always-valid access tokens for LongPort OpenAPI',
      ...props,
    });
    const { alarmTopicArn, ...brokerProps } = props;
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
    new CfnOutput(this, 'TableName', { value: this.broker.table.tableName });
    new CfnOutput(this, 'KeyArn', { value: this.broker.key.keyArn });
    new CfnOutput(this, 'EventBusName', { value: this.broker.events.eventBusName });
    new CfnOutput(this, 'ReauthRequiredQueueUrl', { value: this.broker.events.reauthMailbox.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.broker.deadLetterQueue.queue.queueUrl });
    if (api.domain) {
      new CfnOutput(this, 'CustomDomainTarget', {
        value: api.domain.regionalDomainName,
        description: 'Point a CNAME (or alias A record) for the custom domain here',
      });
    }
  }
}
