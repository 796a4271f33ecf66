import { crasher } from './crasher.ts';

/** Agents the LocalStack suite deploys beside the example team (bin/app.ts `mobius:agents`). */
export const agents = [{ definition: crasher, entry: 'test/localstack/agents/crasher.ts' }];
