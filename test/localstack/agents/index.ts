import { crasher } from './crasher.ts';
import { sleeper } from './sleeper.ts';
import { streamer } from './streamer.ts';

/** Agents the LocalStack suite deploys beside the example team (bin/app.ts `mobius:agents`). */
export const agents = [
  { definition: crasher, entry: 'test/localstack/agents/crasher.ts' },
  // Streams its chunks: deployed with a response-streaming function (AgentProps.streaming).
  { definition: streamer, entry: 'test/localstack/agents/streamer.ts', streaming: true },
  // Answers late on purpose: a standard run waiting on it can be cancelled (5-operations).
  { definition: sleeper, entry: 'test/localstack/agents/sleeper.ts' },
];
