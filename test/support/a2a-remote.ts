import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  A2A_VERSION_HEADER,
  AGENT_CARD_PATH,
  AgentCard,
  formatSSEEvent,
  type Part,
  Role,
  SSE_HEADERS,
  TaskState,
} from '@a2a-js/sdk';
import {
  AgentEvent,
  type AgentExecutor,
  DefaultRequestHandler,
  defaultServerCallContextBuilder,
  type ExecutionEventBus,
  InMemoryTaskStore,
  JsonRpcTransportHandler,
  type RequestContext,
  UnauthenticatedUser,
  validateVersion,
} from '@a2a-js/sdk/server';

/**
 * A remote A2A 1.0 agent for the import tests: the A2A JS SDK's own server (`@a2a-js/sdk` 1.3,
 * DefaultRequestHandler and JsonRpcTransportHandler on node:http, as its documentation's plain-Node
 * pattern does), on 127.0.0.1 — an implementation independent of Mobius's client.
 *
 * What it does with a message is the test's `answer`: it gets the message's input (its text parts
 * joined, else its one data part's value) and returns what to answer, in one of the shapes below;
 * what it throws the SDK turns into a FAILED task.
 */
export type RemoteBehaviour =
  /** A message (no task), with one text or data part. */
  | { readonly message: unknown }
  /** A completed task whose artifact `output` holds the value; streamed in `chunks` when given. */
  | { readonly artifact: unknown; readonly chunks?: readonly string[] }
  /** A task that ends FAILED, its status message saying `reason`. */
  | { readonly fail: string }
  /** Never answers (until the server stops). */
  | { readonly hang: true };

export interface RemoteAgentOptions {
  readonly name: string;
  readonly description?: string;
  readonly skills: readonly { id: string; name?: string; description?: string; tags?: string[] }[];
  readonly streaming?: boolean;
  readonly answer: (input: unknown) => RemoteBehaviour | Promise<RemoteBehaviour>;
  /** Replaces the card the server serves (bad cards): given the card the server would serve. */
  readonly card?: (card: Record<string, unknown>) => unknown;
}

export interface RemoteAgent {
  /** The server's base URL (`http://127.0.0.1:<port>`), its card under /.well-known/agent-card.json. */
  readonly url: string;
  /** Messages received, in order. */
  readonly received: unknown[];
  /** Whether GET of the card answers (a "down" agent answers 503). */
  down: boolean;
  stop(): Promise<void>;
}

const textPart = (text: string): Part => ({
  content: { $case: 'text', value: text },
  metadata: undefined,
  filename: '',
  mediaType: 'text/plain',
});

const partOf = (value: unknown): Part =>
  typeof value === 'string'
    ? textPart(value)
    : {
        content: { $case: 'data', value: value as never },
        metadata: undefined,
        filename: '',
        mediaType: 'application/json',
      };

function inputOf(context: RequestContext): unknown {
  const parts = context.userMessage.parts;
  const texts = parts.flatMap((p) => (p.content?.$case === 'text' ? [p.content.value] : []));
  if (texts.length === parts.length) return texts.join('\n');
  const [first] = parts;
  return first?.content?.$case === 'data' ? first.content.value : null;
}

class Executor implements AgentExecutor {
  readonly #options: RemoteAgentOptions;
  readonly #received: unknown[];
  readonly #hanging: Set<() => void>;

  constructor(options: RemoteAgentOptions, received: unknown[], hanging: Set<() => void>) {
    this.#options = options;
    this.#received = received;
    this.#hanging = hanging;
  }

  async execute(context: RequestContext, bus: ExecutionEventBus): Promise<void> {
    const input = inputOf(context);
    this.#received.push(input);
    const behaviour = await this.#options.answer(input);
    const { taskId, contextId } = context;
    const now = () => new Date().toISOString();
    if ('message' in behaviour) {
      bus.publish(
        AgentEvent.message({
          messageId: randomUUID(),
          role: Role.ROLE_AGENT,
          parts: [partOf(behaviour.message)],
          contextId,
          taskId: '',
          metadata: undefined,
          extensions: [],
          referenceTaskIds: [],
        }),
      );
      bus.finished();
      return;
    }
    bus.publish(
      AgentEvent.task({
        id: taskId,
        contextId,
        artifacts: [],
        history: [context.userMessage],
        metadata: undefined,
        status: { state: TaskState.TASK_STATE_WORKING, timestamp: now(), message: undefined },
      }),
    );
    if ('hang' in behaviour) {
      await new Promise<void>((resolve) => this.#hanging.add(resolve));
      bus.finished();
      return;
    }
    if ('fail' in behaviour) {
      bus.publish(
        AgentEvent.statusUpdate({
          taskId,
          contextId,
          metadata: undefined,
          status: {
            state: TaskState.TASK_STATE_FAILED,
            timestamp: now(),
            message: {
              messageId: randomUUID(),
              role: Role.ROLE_AGENT,
              parts: [textPart(behaviour.fail)],
              contextId,
              taskId,
              metadata: undefined,
              extensions: [],
              referenceTaskIds: [],
            },
          },
        }),
      );
      bus.finished();
      return;
    }
    const chunks = behaviour.chunks ?? [];
    chunks.forEach((chunk, i) => {
      bus.publish(
        AgentEvent.artifactUpdate({
          taskId,
          contextId,
          append: i > 0,
          lastChunk: false,
          metadata: undefined,
          artifact: {
            artifactId: 'stream',
            name: 'stream',
            description: '',
            parts: [textPart(chunk)],
            metadata: undefined,
            extensions: [],
          },
        }),
      );
    });
    bus.publish(
      AgentEvent.artifactUpdate({
        taskId,
        contextId,
        append: false,
        lastChunk: true,
        metadata: undefined,
        artifact: {
          artifactId: 'output',
          name: 'output',
          description: '',
          parts: [partOf(behaviour.artifact)],
          metadata: undefined,
          extensions: [],
        },
      }),
    );
    bus.publish(
      AgentEvent.statusUpdate({
        taskId,
        contextId,
        metadata: undefined,
        status: { state: TaskState.TASK_STATE_COMPLETED, timestamp: now(), message: undefined },
      }),
    );
    bus.finished();
  }

  async cancelTask(): Promise<void> {}
}

/** Starts a remote agent on 127.0.0.1 (a free port); stop() closes it and releases hanging tasks. */
export async function startRemoteAgent(options: RemoteAgentOptions): Promise<RemoteAgent> {
  const received: unknown[] = [];
  const hanging = new Set<() => void>();
  let card: AgentCard;
  let rawCard: unknown;
  let rpc: JsonRpcTransportHandler;
  const state = { down: false };
  const server: Server = createServer(async (request, response) => {
    try {
      if (request.method === 'GET' && request.url === `/${AGENT_CARD_PATH}`) {
        if (state.down) {
          response.writeHead(503).end();
          return;
        }
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(rawCard));
        return;
      }
      if (request.method === 'POST' && request.url === '/a2a/jsonrpc') {
        const chunks: Buffer[] = [];
        for await (const chunk of request) chunks.push(chunk as Buffer);
        const context = defaultServerCallContextBuilder({
          extensions: undefined,
          user: new UnauthenticatedUser(),
          headers: request.headers,
          requestedVersion: request.headers[A2A_VERSION_HEADER.toLowerCase()] as string | undefined,
        });
        let out: unknown;
        try {
          validateVersion(context.requestedVersion, card, 'JSONRPC');
          out = await rpc.handle(Buffer.concat(chunks).toString('utf8'), context);
        } catch (error) {
          out = {
            jsonrpc: '2.0',
            id: null,
            error: JsonRpcTransportHandler.mapToJSONRPCError(error),
          };
        }
        if (out !== null && typeof out === 'object' && Symbol.asyncIterator in out) {
          response.writeHead(200, SSE_HEADERS);
          for await (const event of out as AsyncIterable<unknown>)
            response.write(formatSSEEvent(event));
          response.end();
          return;
        }
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(out));
        return;
      }
      response.writeHead(404).end();
    } catch (error) {
      if (!response.headersSent) response.writeHead(500);
      response.end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const json = {
    name: options.name,
    description: options.description ?? `${options.name}, a remote A2A agent for the tests`,
    version: '2.1.0',
    supportedInterfaces: [
      { url: `${url}/a2a/jsonrpc`, protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
    ],
    capabilities: { streaming: options.streaming ?? false, pushNotifications: false },
    defaultInputModes: ['text/plain', 'application/json'],
    defaultOutputModes: ['text/plain', 'application/json'],
    skills: options.skills.map((skill) => ({
      name: skill.id,
      description: `${skill.id} skill`,
      tags: [],
      ...skill,
    })),
  };
  card = AgentCard.fromJSON(json);
  rawCard = options.card === undefined ? json : options.card(json);
  rpc = new JsonRpcTransportHandler(
    new DefaultRequestHandler(
      card,
      new InMemoryTaskStore(),
      new Executor(options, received, hanging),
    ),
  );
  return {
    url,
    received,
    get down() {
      return state.down;
    },
    set down(value: boolean) {
      state.down = value;
    },
    stop: async () => {
      for (const release of hanging) release();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
