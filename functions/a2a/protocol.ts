import type { JsonValue } from '../core/sdk/json-output.ts';

/**
 * The A2A protocol as Mobius serves it: version 1.0 (the version `@a2a-js/sdk` 1.3 implements),
 * JSON-RPC binding, wire shapes in ProtoJSON — camelCase fields, enums as their names
 * (`TASK_STATE_COMPLETED`, `ROLE_AGENT`), a part's kind told by which key it has (`text`, `data`,
 * `url`, `raw`), and empty values left out. Only what Mobius sends is declared here; what it
 * receives is parsed with zod in requests.ts.
 */
export const A2A_PROTOCOL_VERSION = '1.0';

/** The request header a client names its protocol version in (absent: 1.0, see versionOf). */
export const A2A_VERSION_HEADER = 'A2A-Version';

/** Where a client looks for an agent's card, relative to the agent's base URL (with its trailing `/`). */
export const AGENT_CARD_PATH = '.well-known/agent-card.json';

/** The media types of the two kinds of parts Mobius agents take and give. */
export const TEXT_MEDIA_TYPE = 'text/plain';
export const JSON_MEDIA_TYPE = 'application/json';

/** Task states as the wire names them; Mobius tasks use these five. */
export const TASK_STATES = {
  submitted: 'TASK_STATE_SUBMITTED',
  working: 'TASK_STATE_WORKING',
  completed: 'TASK_STATE_COMPLETED',
  failed: 'TASK_STATE_FAILED',
  canceled: 'TASK_STATE_CANCELED',
} as const;
export type TaskStateName = (typeof TASK_STATES)[keyof typeof TASK_STATES];

/** States a task does not leave. */
export function isTerminal(state: TaskStateName): boolean {
  return (
    state === TASK_STATES.completed ||
    state === TASK_STATES.failed ||
    state === TASK_STATES.canceled
  );
}

export type Part =
  | { readonly text: string; readonly mediaType?: string; readonly metadata?: JsonObject }
  | { readonly data: JsonValue; readonly mediaType?: string; readonly metadata?: JsonObject };

export type JsonObject = { readonly [key: string]: JsonValue };

export interface Message {
  readonly messageId: string;
  readonly contextId?: string;
  readonly taskId?: string;
  readonly role: 'ROLE_USER' | 'ROLE_AGENT';
  readonly parts: readonly Part[];
  readonly metadata?: JsonObject;
}

export interface TaskStatus {
  readonly state: TaskStateName;
  /** Why it stands there: for FAILED and CANCELED, an agent message saying what happened. */
  readonly message?: Message;
  readonly timestamp: string;
}

export interface Artifact {
  readonly artifactId: string;
  readonly name?: string;
  readonly description?: string;
  readonly parts: readonly Part[];
}

export interface Task {
  readonly id: string;
  readonly contextId: string;
  readonly status: TaskStatus;
  readonly artifacts?: readonly Artifact[];
  readonly history?: readonly Message[];
}

export interface TaskStatusUpdateEvent {
  readonly taskId: string;
  readonly contextId: string;
  readonly status: TaskStatus;
}

export interface TaskArtifactUpdateEvent {
  readonly taskId: string;
  readonly contextId: string;
  readonly artifact: Artifact;
  /** Adds the parts to the artifact of this id sent before; absent on its first update. */
  readonly append?: true;
  readonly lastChunk?: true;
}

/** One event of a streamed answer (SendStreamingMessage): one of its four fields. */
export type StreamResponse =
  | { readonly task: Task }
  | { readonly message: Message }
  | { readonly statusUpdate: TaskStatusUpdateEvent }
  | { readonly artifactUpdate: TaskArtifactUpdateEvent };

/** SendMessage's result: the task (Mobius always answers with one). */
export interface SendMessageResponse {
  readonly task: Task;
}

export interface AgentSkill {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly examples?: readonly string[];
  readonly inputModes: readonly string[];
  readonly outputModes: readonly string[];
}

export interface AgentInterface {
  readonly url: string;
  readonly protocolBinding: 'JSONRPC';
  readonly protocolVersion: string;
}

/** A security scheme, one of the oneof's fields; Mobius declares HTTP authentication only. */
export interface SecurityScheme {
  readonly httpAuthSecurityScheme: { readonly scheme: string; readonly description: string };
}

export interface AgentCard {
  readonly name: string;
  readonly description: string;
  readonly supportedInterfaces: readonly AgentInterface[];
  readonly provider?: { readonly organization: string; readonly url: string };
  readonly version: string;
  readonly capabilities: {
    readonly streaming: boolean;
    readonly pushNotifications: boolean;
  };
  readonly securitySchemes?: Readonly<Record<string, SecurityScheme>>;
  readonly securityRequirements?: readonly {
    readonly schemes: Readonly<Record<string, { readonly list: readonly string[] }>>;
  }[];
  readonly defaultInputModes: readonly string[];
  readonly defaultOutputModes: readonly string[];
  readonly skills: readonly AgentSkill[];
}
