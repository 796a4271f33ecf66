/**
 * The API shapes the console reads, named after the OpenAPI document's schemas
 * (functions/cli/api-types.ts, generated from it): one owner for each shape, and a change to the
 * API shows up here as a type error. Type-only: nothing of that module reaches the bundle.
 */
import type { components } from '../../functions/cli/api-types.ts';

type Schemas = components['schemas'];

export type AgentRecord = Schemas['AgentRecord'];
export type AgentList = Schemas['AgentList'];
export type FleetHealth = Schemas['FleetHealth'];
export type CoordinationEvent = Schemas['CoordinationEvent'];
export type CoordinationResult = Schemas['CoordinationResult'];
export type CoordinationRunning = Schemas['CoordinationRunning'];
export type CoordinationSummary = Schemas['CoordinationSummary'];
export type CoordinationList = Schemas['CoordinationList'];
export type CoordinationCancelled = Schemas['CoordinationCancelled'];
export type CircuitReset = Schemas['CircuitReset'];
export type AgentDrained = Schemas['AgentDrained'];
export type AgentResumed = Schemas['AgentResumed'];
export type QueueState = Schemas['QueueState'];
export type DeadLetters = Schemas['DeadLetters'];
export type RedriveStarted = Schemas['RedriveStarted'];

/** GET /coordinations/{id}: the result once finished, else the running marker. */
export type CoordinationStatus = CoordinationResult | CoordinationRunning;

/** A request file the console offers to start (examples/requests/*.json), from /console/examples. */
export interface ExampleRequest {
  readonly name: string;
  readonly request: unknown;
}
