import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { CloudWatchOldestMessageAge } from '../../functions/core/messaging/oldest-message-age.ts';

const cloudWatch = mockClient(CloudWatchClient);
const NOW = Date.parse('2026-12-01T10:00:00Z');
const queue = {
  queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/mobius-orders',
  queueArn: 'arn:aws:sqs:eu-west-1:123456789012:mobius-orders',
};
const reader = () =>
  new CloudWatchOldestMessageAge({ client: new CloudWatchClient({}), now: () => NOW });

describe('the age of the oldest message, from CloudWatch', () => {
  beforeEach(() => {
    cloudWatch.reset();
  });

  it("asks for the queue's ApproximateAgeOfOldestMessage, minute maxima of the last 5 minutes, newest first", async () => {
    cloudWatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [{ Id: 'oldest', Values: [37, 120, 300], StatusCode: 'Complete' }],
    });
    expect(await reader().seconds(queue)).toBe(37);
    const [call] = cloudWatch.commandCalls(GetMetricDataCommand);
    expect(call?.args[0].input).toEqual({
      StartTime: new Date(NOW - 5 * 60_000),
      EndTime: new Date(NOW),
      ScanBy: 'TimestampDescending',
      MetricDataQueries: [
        {
          Id: 'oldest',
          ReturnData: true,
          MetricStat: {
            Metric: {
              Namespace: 'AWS/SQS',
              MetricName: 'ApproximateAgeOfOldestMessage',
              Dimensions: [{ Name: 'QueueName', Value: 'mobius-orders' }],
            },
            Period: 60,
            Stat: 'Maximum',
          },
        },
      ],
    });
  });

  it('is null when the window holds no datapoint (an idle queue, a metric not published yet)', async () => {
    cloudWatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [{ Id: 'oldest', Values: [], StatusCode: 'Complete' }],
    });
    expect(await reader().seconds(queue)).toBeNull();
    cloudWatch.on(GetMetricDataCommand).resolves({});
    expect(await reader().seconds(queue)).toBeNull();
  });

  it('lets a failed read fail (the inspector answers null and logs it)', async () => {
    cloudWatch.on(GetMetricDataCommand).rejects(new Error('AccessDenied'));
    await expect(reader().seconds(queue)).rejects.toThrow('AccessDenied');
  });
});
