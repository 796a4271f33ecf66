import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../functions/core/errors.ts';
import { parseWith } from '../../functions/core/validation.ts';
import { coordinationRequestSchema } from '../../statemachines/request.ts';

const parse = (input: unknown) =>
  parseWith(coordinationRequestSchema, input, 'coordination request');
const problems = (input: unknown) => {
  try {
    parse(input);
    return [];
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return error.issues.map((i) => `${i.path}: ${i.message}`);
  }
};

describe('coordination request', () => {
  it('accepts the original spec’s request verbatim, with documented defaults', () => {
    const request = parse({
      pattern: 'sequential',
      agents: ['planner', 'writer'],
      payload: { topic: 'TTL' },
      timeout: 30,
      failure_mode: 'best_effort',
    });
    expect(request).toMatchObject({
      pattern: 'sequential',
      agents: ['planner', 'writer'],
      mode: 'express',
      stepTimeout: 60,
      maxRounds: 3,
    });
    expect(parse({ pattern: 'parallel', agents: ['a'] }).failure_mode).toBe('fail_fast');
  });

  it('takes a stepTimeout up to the coordination timeout, and keeps the default under a shorter one', () => {
    expect(
      parse({ pattern: 'parallel', agents: ['a'], timeout: 10, stepTimeout: 10 }).stepTimeout,
    ).toBe(10);
    expect(
      parse({ pattern: 'parallel', agents: ['a'], mode: 'standard', stepTimeout: 3600 })
        .stepTimeout,
    ).toBe(3600);
    // The spec's own request sets only `timeout` (30 s): the 60 s default per step is not an error.
    expect(parse({ pattern: 'parallel', agents: ['a'], timeout: 5 }).stepTimeout).toBe(60);
  });

  it('accepts the richer fields', () => {
    const request = parse({
      pattern: 'scatter_gather',
      steps: [
        {
          capability: 'summarize',
          version: '^1',
          match: 'fuzzy',
          timeout: 10,
          fallbacks: ['backup', { capability: 'summary' }],
        },
      ],
      gather: { strategy: 'quorum', quorum: 2 },
      retry: { attempts: 2, intervalSeconds: 2, backoffRate: 1.5, jitter: 'none' },
      mode: 'standard',
      timeout: 900,
    });
    expect(request.steps?.[0]?.fallbacks).toEqual([
      'backup',
      { capability: 'summary', match: 'exact', minScore: 0.7 },
    ]);
  });

  it.each<[string, unknown, string]>([
    [
      'unknown pattern',
      { pattern: 'swarm', agents: ['a'] },
      'pattern: pattern must be one of sequential, pipeline, parallel, scatter_gather, hierarchical',
    ],
    [
      'no agents',
      { pattern: 'pipeline' },
      'agents: give either "agents" (ids) or "steps", not both or neither',
    ],
    [
      'bad agent id',
      { pattern: 'pipeline', agents: ['no spaces'] },
      'agents.0: invalid identifier',
    ],
    [
      'unknown failure mode',
      { pattern: 'pipeline', agents: ['a'], failure_mode: 'yolo' },
      'failure_mode: failure_mode must be one of',
    ],
    [
      'express too long',
      { pattern: 'pipeline', agents: ['a'], timeout: 600 },
      'timeout: express coordinations run at most 300 s; use "mode": "standard"',
    ],
    [
      'step without agent',
      { pattern: 'pipeline', steps: [{ timeout: 3 }] },
      'steps.0.agent: give either "agent"',
    ],
    [
      'reserved step id',
      { pattern: 'pipeline', steps: [{ id: 'Done', agent: 'a' }] },
      'steps.0.id: that step id is reserved',
    ],
    [
      'duplicate step ids',
      {
        pattern: 'pipeline',
        steps: [
          { id: 'x', agent: 'a' },
          { id: 'x', agent: 'b' },
        ],
      },
      'steps.1.id: step id "x" is used twice',
    ],
    [
      'pipeline input after the first',
      { pattern: 'pipeline', steps: [{ agent: 'a' }, { agent: 'b', input: {} }] },
      'steps.1.input: in a pipeline',
    ],
    [
      'gather outside scatter',
      { pattern: 'parallel', agents: ['a'], gather: { strategy: 'merge' } },
      'gather: "gather" only applies',
    ],
    [
      'quorum without number',
      { pattern: 'scatter_gather', agents: ['a'], gather: { strategy: 'quorum' } },
      'gather.quorum: the quorum strategy needs',
    ],
    [
      'unreachable quorum',
      { pattern: 'scatter_gather', agents: ['a', 'b'], gather: { strategy: 'quorum', quorum: 3 } },
      'gather.quorum: quorum 3 cannot be met by 2 agents',
    ],
    [
      'hierarchical without workers',
      { pattern: 'hierarchical', supervisor: 'boss' },
      'workers: hierarchical coordinations need both',
    ],
    [
      'hierarchical with one agent',
      { pattern: 'hierarchical', agents: ['boss'] },
      'agents: list the supervisor first, then at least one worker',
    ],
    [
      'workers outside hierarchical',
      { pattern: 'pipeline', agents: ['a'], workers: ['b'] },
      'workers: "workers" only applies to the hierarchical pattern',
    ],
    [
      'step longer than the whole',
      { pattern: 'pipeline', timeout: 10, steps: [{ agent: 'a', timeout: 20 }] },
      'steps.0.timeout: a step cannot take longer',
    ],
    [
      'step longer than the default express coordination',
      { pattern: 'pipeline', steps: [{ agent: 'a', timeout: 600 }] },
      'steps.0.timeout: a step cannot take longer than the whole coordination (300 s by default in express mode)',
    ],
    [
      'stepTimeout longer than the whole (issue 15, item 11)',
      { pattern: 'parallel', agents: ['summarizer'], timeout: 5, stepTimeout: 10 },
      'stepTimeout: a step cannot take longer than the whole coordination ("timeout": 5 s)',
    ],
    [
      'stepTimeout longer than the default express coordination',
      { pattern: 'parallel', agents: ['a'], stepTimeout: 301 },
      'stepTimeout: a step cannot take longer than the whole coordination (300 s by default in express mode)',
    ],
    [
      'unknown field',
      { pattern: 'pipeline', agents: ['a'], retries: 3 },
      ': Unrecognized key: "retries"',
    ],
    [
      'bad retry',
      { pattern: 'pipeline', agents: ['a'], retry: { attempts: 50 } },
      'retry.attempts: Too big',
    ],
  ])('rejects %s, naming the field', (_, input, expected) => {
    expect(problems(input).join('\n')).toContain(expected);
  });
});
