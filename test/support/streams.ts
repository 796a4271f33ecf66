import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamsRecord,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBStreamEvent, StreamRecord } from 'aws-lambda';
import { type DynamoEngineName, dynamoConfig } from './dynamo.ts';

export interface TableStream {
  readonly streamArn: string;
  readonly records: readonly StreamsRecord[];
}

/** Every record of the table's stream so far, read as a consumer does: shard by shard from the start. */
export async function readStream(
  engine: DynamoEngineName,
  tableName: string,
): Promise<TableStream> {
  const config = dynamoConfig(engine);
  const dynamo = new DynamoDBClient(config);
  const streams = new DynamoDBStreamsClient(config);
  try {
    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: tableName }));
    const streamArn = Table?.LatestStreamArn;
    if (streamArn === undefined) throw new Error(`table ${tableName} on ${engine} has no stream`);
    const { StreamDescription } = await streams.send(
      new DescribeStreamCommand({ StreamArn: streamArn }),
    );
    const records: StreamsRecord[] = [];
    for (const { ShardId } of StreamDescription?.Shards ?? []) {
      let { ShardIterator: iterator } = await streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      while (iterator !== undefined) {
        const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
        // An open shard always hands out a next iterator: an empty page is its end for now.
        if (!page.Records?.length) break;
        records.push(...page.Records);
        iterator = page.NextShardIterator;
      }
    }
    return { streamArn, records };
  } finally {
    dynamo.destroy();
    streams.destroy();
  }
}

/**
 * The records as Lambda's event source mapping hands them to a function: the same records, with
 * the stream's ARN on each and the creation time in epoch seconds. (Binary attributes would be
 * base64 in Lambda and bytes here; registry rows have none, hence the cast of the images.)
 */
export function lambdaEvent(stream: TableStream, records = stream.records): DynamoDBStreamEvent {
  return {
    Records: records.map(({ dynamodb, ...record }) => ({
      ...record,
      eventSourceARN: stream.streamArn,
      dynamodb: {
        ...dynamodb,
        ApproximateCreationDateTime:
          dynamodb?.ApproximateCreationDateTime === undefined
            ? undefined
            : Math.floor(dynamodb.ApproximateCreationDateTime.getTime() / 1000),
      } as StreamRecord,
    })),
  };
}
