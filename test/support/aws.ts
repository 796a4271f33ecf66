import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { inject } from 'vitest';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../functions/embedded/dynamodb-engine.ts';

/**
 * SDK clients pointed at the emulators the test run started: EventBridge and Step Functions on
 * moto; SQS on moto, or on local-aws-sqs (the embedded runtime's SQS) when `sqs` says so.
 */
export function emulatorClients(sqs: 'moto' | 'local' = 'moto') {
  const config = {
    endpoint: inject('motoEndpoint'),
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  };
  const sqsEndpoint = sqs === 'moto' ? inject('motoEndpoint') : inject('localSqsEndpoint');
  return {
    sqs: new SQSClient({ ...config, endpoint: sqsEndpoint }),
    eventBridge: new EventBridgeClient(config),
    sfn: new SFNClient(config),
  };
}
