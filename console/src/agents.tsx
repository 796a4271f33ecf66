/**
 * The agents page: every registered agent with its status, circuit, load, error rate, latency and
 * queue figures, polled, with the operator's actions — reset the breaker, drain, resume, redrive
 * the dead-letter queue. Each action shows the API's answer, or its error message.
 */
import { useState } from 'preact/hooks';
import { durationText } from '../../functions/core/time-text.ts';
import { ApiFailure, call, messageOf, segment } from './api.ts';
import { count, json, percent } from './format.ts';
import { usePoll } from './hooks.ts';
import type { Notify } from './notify.ts';
import type {
  AgentDrained,
  AgentList,
  AgentRecord,
  AgentResumed,
  CircuitReset,
  DeadLetters,
  QueueState,
  RedriveStarted,
} from './types.ts';

const POLL_MS = 3000;

export function AgentsPage({ notify }: { notify: Notify }) {
  const agents = usePoll(
    (signal) => call<AgentList>('GET', '/agents?limit=200', undefined, signal),
    POLL_MS,
  );
  const [open, setOpen] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState<string | undefined>(undefined);

  /** Runs one operator action, says how it went, and reads the agents again. */
  const act = async (key: string, run: () => Promise<string>) => {
    setBusy(key);
    try {
      notify('ok', await run());
    } catch (error) {
      notify('error', messageOf(error));
    } finally {
      setBusy(undefined);
      agents.refresh();
    }
  };

  const list = agents.data?.agents ?? [];
  return (
    <section>
      <h2>Agents</h2>
      {agents.error && (
        <p class="problem" data-testid="agents-error">
          {agents.error.message}
        </p>
      )}
      {agents.data === undefined && agents.error === undefined && <p class="quiet">Loading…</p>}
      {agents.data?.nextToken !== undefined && (
        <p class="quiet">Showing the first {list.length} agents.</p>
      )}
      {agents.data !== undefined && list.length === 0 && (
        <p class="quiet">No agents are registered.</p>
      )}
      {list.length > 0 && (
        <table data-testid="agents-table" class="grid">
          <thead>
            <tr>
              <th>agent</th>
              <th>status</th>
              <th>circuit</th>
              <th title="work in flight / maximum concurrency">load</th>
              <th title="recent errors / recent requests">errors</th>
              <th title="handling time, p50 / p99">latency</th>
              <th title="messages waiting in the agent's queue">queue</th>
              <th title="messages in its dead-letter queue">DLQ</th>
              <th>actions</th>
            </tr>
          </thead>
          <tbody>
            {list.map((agent) => (
              <AgentRow
                key={agent.card.agentId}
                agent={agent}
                open={open === agent.card.agentId}
                busy={busy}
                onToggle={() =>
                  setOpen(open === agent.card.agentId ? undefined : agent.card.agentId)
                }
                act={act}
                notify={notify}
              />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function AgentRow(props: {
  agent: AgentRecord;
  open: boolean;
  busy: string | undefined;
  onToggle: () => void;
  act: (key: string, run: () => Promise<string>) => Promise<void>;
  notify: Notify;
}) {
  const { agent, open, busy, act } = props;
  const id = agent.card.agentId;
  const base = `/agents/${segment(id)}`;
  const u = agent.metrics.utilisation;
  const status: string = agent.status;
  const drained = status === 'drained';
  const hasQueue = agent.card.endpoint.queueUrl !== undefined;
  const circuit = agent.circuit;
  // Percentiles come with utilisation reports; before any, the average of what was handled.
  const p50 =
    u.durationP50Ms ??
    (agent.metrics.requestsProcessed > 0 ? agent.metrics.averageResponseTimeMs : null);
  return (
    <>
      <tr data-testid={`agent-row-${id}`} data-status={status} class={open ? 'open' : ''}>
        <td>
          <button
            type="button"
            class="link"
            data-testid="agent-details-toggle"
            aria-expanded={open}
            onClick={props.onToggle}
          >
            {open ? '▾' : '▸'} <strong>{id}</strong>
          </button>
          <div class="quiet small">{agent.card.agentType}</div>
        </td>
        <td>
          <span class={`badge status-${status}`} data-testid="agent-status">
            {status}
          </span>
        </td>
        <td>
          <span class={`badge circuit-${circuit.state}`} data-testid="agent-circuit">
            {circuit.state.replace('_', '-')}
          </span>
          {circuit.consecutiveFailures > 0 && (
            <span class="quiet small" title="consecutive failures">
              {' '}
              ×{circuit.consecutiveFailures}
            </span>
          )}
        </td>
        <td data-testid="agent-load">
          {u.inFlight}/{u.maxConcurrency ?? '∞'}
        </td>
        <td
          data-testid="agent-error-rate"
          title={`${agent.metrics.recentErrors} of ${agent.metrics.recentRequests} recent requests`}
        >
          {percent(agent.metrics.errorRate)}
        </td>
        <td data-testid="agent-latency">
          {durationText(p50)} / {durationText(u.durationP99Ms)}
        </td>
        <td data-testid="agent-queue">{count(u.queueDepth)}</td>
        <td data-testid="agent-dlq" class={(u.deadLetterDepth ?? 0) > 0 ? 'warn' : ''}>
          {count(u.deadLetterDepth)}
        </td>
        <td class="actions">
          <button
            type="button"
            data-testid="agent-reset"
            disabled={busy !== undefined}
            title="Close the circuit breaker and clear its failure count"
            onClick={() =>
              act(`${id}:reset`, async () => {
                const answer = await call<CircuitReset>('POST', `${base}/circuit/reset`);
                return `${answer.agentId}: circuit ${answer.circuit.state}.`;
              })
            }
          >
            Reset breaker
          </button>
          {drained ? (
            <button
              type="button"
              data-testid="agent-resume"
              disabled={busy !== undefined}
              title="Give the agent new work again"
              onClick={() =>
                act(`${id}:resume`, async () => {
                  const answer = await call<AgentResumed>('POST', `${base}/resume`);
                  return `${answer.agentId} resumed: ${answer.status}.`;
                })
              }
            >
              Resume
            </button>
          ) : (
            <button
              type="button"
              data-testid="agent-drain"
              disabled={busy !== undefined}
              title="No new work for this agent; work in flight finishes"
              onClick={() =>
                act(`${id}:drain`, async () => {
                  const answer = await call<AgentDrained>('POST', `${base}/drain`);
                  return `${answer.agentId} drained by ${answer.drainedBy} (${new Date(answer.drainedAt).toLocaleTimeString()}).`;
                })
              }
            >
              Drain
            </button>
          )}
          <button
            type="button"
            data-testid="agent-redrive"
            disabled={busy !== undefined || !hasQueue}
            title={
              hasQueue
                ? 'Move the dead letters back to the agent’s queue'
                : 'This agent has no queue'
            }
            onClick={() =>
              act(`${id}:redrive`, async () => {
                const answer = await call<RedriveStarted>('POST', `${base}/dead-letters/redrive`);
                const moving =
                  answer.approximateMessagesToMove === null
                    ? 'its dead letters'
                    : `${answer.approximateMessagesToMove} dead ${answer.approximateMessagesToMove === 1 ? 'letter' : 'letters'}`;
                return `${answer.agentId}: redrive of ${moving} started.`;
              })
            }
          >
            Redrive
          </button>
        </td>
      </tr>
      {open && (
        <tr class="details" data-testid={`agent-details-${id}`}>
          <td colSpan={9}>
            <AgentDetails agent={agent} hasQueue={hasQueue} />
          </td>
        </tr>
      )}
    </>
  );
}

/** The agent's card, its queue as SQS reports it now, and a peek at its dead letters. */
function AgentDetails({ agent, hasQueue }: { agent: AgentRecord; hasQueue: boolean }) {
  const base = `/agents/${segment(agent.card.agentId)}`;
  const queue = usePoll(
    (signal) =>
      hasQueue
        ? call<QueueState>('GET', `${base}/queue`, undefined, signal)
        : Promise.reject(
            new ApiFailure(
              'This agent has no queue (its endpoint is a Lambda function only).',
              409,
              'CONFLICT',
              false,
            ),
          ),
    5000,
    agent.card.agentId,
  );
  const letters = usePoll(
    (signal) =>
      hasQueue
        ? call<DeadLetters>('GET', `${base}/dead-letters?limit=10`, undefined, signal)
        : Promise.resolve(undefined),
    // Less often than the queue: each look long-polls SQS for a second (so that a small queue's
    // letters are not missed) and counts as a receive of every letter it shows.
    15000,
    agent.card.agentId,
  );
  const q = queue.data;
  return (
    <div class="agent-details">
      <div>
        <h4>Card</h4>
        <p>{agent.card.description}</p>
        <p class="small">
          {agent.card.capabilities.map((c) => (
            <span class="chip" key={c.name}>
              {c.name}@{c.version}
            </span>
          ))}
        </p>
        <p class="quiet small">
          last heartbeat {agent.metrics.lastHeartbeat ?? '—'} · {agent.metrics.requestsProcessed}{' '}
          requests · registered {agent.registeredAt}
        </p>
      </div>
      <div data-testid="queue-state">
        <h4>Queue</h4>
        {queue.error && <p class="problem">{queue.error.message}</p>}
        {q && (
          <dl class="figures">
            <dt>waiting</dt>
            <dd data-testid="queue-depth">{q.depth}</dd>
            <dt>in flight</dt>
            <dd>{q.inFlight}</dd>
            <dt>delayed</dt>
            <dd>{q.delayed}</dd>
            <dt>oldest</dt>
            <dd>
              {q.oldestMessageAgeSeconds === null ? 'unknown' : `${q.oldestMessageAgeSeconds} s`}
            </dd>
            <dt>dead letters</dt>
            <dd data-testid="dlq-depth">{q.deadLetter === null ? 'no DLQ' : q.deadLetter.depth}</dd>
            <dt>type</dt>
            <dd>{q.fifo ? 'FIFO' : 'standard'}</dd>
          </dl>
        )}
      </div>
      <div data-testid="dead-letters">
        <h4>Dead letters {letters.data ? `(${letters.data.depth})` : ''}</h4>
        {letters.error && <p class="problem">{letters.error.message}</p>}
        {letters.data?.messages.length === 0 && <p class="quiet">None.</p>}
        {letters.data?.messages.map((m) => (
          <details key={m.messageId} data-testid="dead-letter">
            <summary>
              {m.messageId} · received {m.receiveCount}× · sent {m.sentAt ?? '—'}
            </summary>
            <pre>{json(m.body)}</pre>
          </details>
        ))}
      </div>
    </div>
  );
}
