/**
 * Every class and function the broker takes from the AWS SDK for JavaScript v3, by name: the
 * broker's code reaches them through lib/aws-sdk.ts, never from the packages (types aside).
 *
 * This module is also the main entry of the broker's AWS SDK layer (infra/aws-sdk-layer.ts):
 * esbuild builds it, with exactly these names and what they need (tree-shaken, minified), into the
 * one file every deployed function loads at its cold start. A name missing here is a type error
 * where it is used, not a failure in AWS. EventBridge has a module of its own
 * (lib/aws-sdk-eventbridge.ts), loaded on first use.
 */
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  TransactionCanceledException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

export const dynamodb = { ConditionalCheckFailedException, CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceInUseException, TransactionCanceledException, UpdateTimeToLiveCommand };
export const document = { BatchGetCommand, BatchWriteCommand, DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand };
export const util = { unmarshall };
export const kms = { DecryptCommand, GenerateDataKeyCommand, KMSClient };
