/**
 * The slice of the Amazon States Language (JSONPath flavour) the compiler emits. Typed so a typo in
 * a field name is a compile error rather than a state machine AWS rejects at deploy time.
 */
export type JsonObject = { [key: string]: unknown };

export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: 'FULL' | 'NONE';
}

export interface Catcher {
  ErrorEquals: string[];
  ResultPath?: string;
  Next: string;
}

interface Common {
  Comment?: string;
  Next?: string;
  End?: boolean;
}

export interface TaskState extends Common {
  Type: 'Task';
  Resource: string;
  Parameters?: JsonObject;
  ResultSelector?: JsonObject;
  ResultPath?: string;
  OutputPath?: string;
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
  HeartbeatSeconds?: number;
  Retry?: Retrier[];
  Catch?: Catcher[];
}

export interface PassState extends Common {
  Type: 'Pass';
  Parameters?: JsonObject;
  InputPath?: string;
  ResultPath?: string;
  OutputPath?: string;
}

export interface ChoiceRule {
  Variable?: string;
  IsPresent?: boolean;
  BooleanEquals?: boolean;
  NumericGreaterThan?: number;
  NumericGreaterThanEqualsPath?: string;
  And?: ChoiceRule[];
  Not?: ChoiceRule;
  Next?: string;
}

export interface ChoiceState {
  Type: 'Choice';
  Comment?: string;
  Choices: ChoiceRule[];
  Default?: string;
}

export interface MapState extends Common {
  Type: 'Map';
  ItemsPath: string;
  ItemSelector?: JsonObject;
  ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }; StartAt: string; States: States };
  MaxConcurrency?: number;
  ResultPath?: string;
  OutputPath?: string;
  Retry?: Retrier[];
  Catch?: Catcher[];
}

export interface FailState {
  Type: 'Fail';
  Comment?: string;
  Error?: string;
  Cause?: string;
  ErrorPath?: string;
  CausePath?: string;
}

export interface SucceedState {
  Type: 'Succeed';
  Comment?: string;
  OutputPath?: string;
}

export type State = TaskState | PassState | ChoiceState | MapState | FailState | SucceedState;
export type States = Record<string, State>;

export interface StateMachineDefinition {
  Comment: string;
  StartAt: string;
  TimeoutSeconds?: number;
  States: States;
}

/** Every Task state, including those inside Map processors, by name. */
export function taskStates(states: States): [string, TaskState][] {
  return Object.entries(states).flatMap(([name, state]): [string, TaskState][] => {
    if (state.Type === 'Task') return [[name, state]];
    if (state.Type === 'Map') return taskStates(state.ItemProcessor.States);
    return [];
  });
}
