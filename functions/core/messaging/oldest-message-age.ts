import { type CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { sharedCloudWatchClient } from '../aws/cloudwatch.ts';
import type { OldestMessageAge } from './queue-inspector.ts';

/** How far back a datapoint may be and still count as the queue's age now. */
const WINDOW_MS = 5 * 60_000;

/**
 * The age of a queue's oldest message from CloudWatch: SQS publishes ApproximateAgeOfOldestMessage
 * (AWS/SQS, per QueueName) once a minute, for queues that were active in the last six hours. The
 * reading is the newest minute's Maximum within the last five minutes — the newest, not the
 * largest over the window, since a message handled two minutes ago no longer waits. No datapoint
 * in that window (an idle queue, a metric not published yet, an emulator) is null: unknown.
 */
export class CloudWatchOldestMessageAge implements OldestMessageAge {
  readonly #client: () => CloudWatchClient;
  readonly #now: () => number;

  constructor(options: { client?: CloudWatchClient; now?: () => number } = {}) {
    const { client } = options;
    this.#client = client === undefined ? sharedCloudWatchClient : () => client;
    this.#now = options.now ?? Date.now;
  }

  async seconds(queue: { readonly queueArn: string }): Promise<number | null> {
    const end = this.#now();
    const { MetricDataResults = [] } = await this.#client().send(
      new GetMetricDataCommand({
        StartTime: new Date(end - WINDOW_MS),
        EndTime: new Date(end),
        ScanBy: 'TimestampDescending',
        MetricDataQueries: [
          {
            Id: 'oldest',
            ReturnData: true,
            MetricStat: {
              Metric: {
                Namespace: 'AWS/SQS',
                MetricName: 'ApproximateAgeOfOldestMessage',
                // The metric's dimension is the queue's name: the last part of its ARN.
                Dimensions: [{ Name: 'QueueName', Value: queue.queueArn.split(':').at(-1) ?? '' }],
              },
              Period: 60,
              Stat: 'Maximum',
            },
          },
        ],
      }),
    );
    const [newest] = MetricDataResults[0]?.Values ?? [];
    return newest === undefined || !Number.isFinite(newest) ? null : Math.max(0, newest);
  }
}
