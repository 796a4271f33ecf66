import type { FailState } from '../asl.ts';

export const DONE = 'Done';

/** Fails the run with the error and cause a handler put at `$.failure`. */
export const failState: FailState = {
  Type: 'Fail',
  Comment: 'The coordination failed; the cause names the agent and the step.',
  ErrorPath: '$.failure.error',
  CausePath: '$.failure.cause',
};

/** Error names the compiled machines raise themselves (agents raise their own). */
export const COORDINATION_ERRORS = {
  quorumNotMet: 'Mobius.QuorumNotMet',
  roundsExhausted: 'Mobius.RoundsExhausted',
} as const;
