import { describe, expect, it } from 'vitest';
import {
  agentDeadLettersCommand,
  agentQueueCommand,
  agentRedriveCommand,
  bodyText,
  deadLettersReport,
  peekLimit,
  queueReport,
} from '../../functions/cli/agent-commands.ts';
import type { Schemas } from '../../functions/cli/client.ts';
import { UsageError } from '../../functions/cli/usage-error.ts';
import { capture, plain } from '../support/cli-io.ts';
import { scriptedApi } from '../support/scripted-api.ts';

/**
 * `mobius agent queue` and `mobius agent dead-letters` without a running API: how they print an
 * agent's queue and its dead letters, what they check before any request, and what they do with
 * the API's refusals. fetch is replaced: each test says what the API answers and checks what was
 * api.asked. The same commands run against the embedded runtime's real routes in
 * test/integration/cli-operator-queues.test.ts.
 */
const BASE = 'http://127.0.0.1:4000';
const NOW = new Date('2026-12-01T12:00:00.000Z');

/**
 * What a terminal would act on: C0 controls but tab, DEL, C1 controls. (Colour is off in tests:
 * stdout is no TTY, so even the CLI's own colour codes do not show.)
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: what it looks for
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;

const api = scriptedApi();

describe('mobius agent queue and dead-letters', () => {
  const queue: Schemas['QueueState'] = {
    agentId: 'summarizer',
    queueUrl: 'http://127.0.0.1:4001/000000000000/mobius-summarizer',
    fifo: false,
    depth: 4,
    inFlight: 1,
    delayed: 0,
    oldestMessageAgeSeconds: 184,
    deadLetter: { queueUrl: 'http://127.0.0.1:4001/000000000000/mobius-summarizer-dlq', depth: 2 },
    readAt: '2026-12-01T11:59:58.000Z',
  };

  it('shows the queue, and how to look at and move its dead letters when there are some', () => {
    expect(queueReport(queue, NOW).map(plain)).toEqual([
      'queue         http://127.0.0.1:4001/000000000000/mobius-summarizer (standard)',
      'waiting       4',
      'in flight     1',
      'delayed       0',
      'oldest        3 min 4 s',
      'dead letters  2 (http://127.0.0.1:4001/000000000000/mobius-summarizer-dlq)',
      'read 2 s ago (2026-12-01T11:59:58.000Z)',
      'mobius agent dead-letters summarizer shows them; mobius agent redrive summarizer moves them back to the queue',
    ]);
    const empty = queueReport(
      { ...queue, fifo: true, depth: 0, oldestMessageAgeSeconds: null, deadLetter: null },
      NOW,
    ).map(plain);
    expect(empty).toContain('oldest        —');
    expect(empty).toContain('dead letters  no dead-letter queue');
    expect(empty[0]).toContain('(FIFO)');
    expect(empty.join('\n')).not.toContain('redrive');
  });

  it('prints the API’s message for an agent without a queue (409), exit 1', async () => {
    api.answers = [
      {
        status: 409,
        body: {
          error: {
            code: 'CONFLICT',
            message: 'Agent local-fn has no queue: its endpoint has no queueUrl.',
            details: {},
          },
        },
      },
    ];
    const { io, err } = capture();
    expect(await agentQueueCommand('local-fn', { api: BASE }, io)).toBe(1);
    expect(api.asked).toEqual([{ method: 'GET', url: `${BASE}/agents/local-fn/queue` }]);
    expect(err).toEqual(['✘ Agent local-fn has no queue: its endpoint has no queueUrl.']);
  });

  it('shows dead letters as a table, their bodies on one line and cut to fit', () => {
    const letters: Schemas['DeadLetters'] = {
      agentId: 'summarizer',
      deadLetterQueueUrl: 'http://q/dlq',
      depth: 3,
      messages: [
        {
          messageId: 'm-1',
          sentAt: '2026-12-01T11:55:00.000Z',
          receiveCount: 3,
          body: { text: 'x'.repeat(100) },
          attributes: {},
        },
        { messageId: 'm-2', sentAt: null, receiveCount: 1, body: 'not\nJSON', attributes: {} },
      ],
    };
    const lines = deadLettersReport(letters, NOW).flatMap((l) => plain(l).split('\n'));
    expect(lines[0]).toBe(
      '3 dead letters for summarizer (http://q/dlq; showing 2, left where they are)',
    );
    expect(lines[1]).toMatch(/^message {2}sent {7}receives {2}body$/);
    expect(lines[2]).toBe(`m-1      5 min ago  3         {"text":"${'x'.repeat(70)}…`);
    expect(lines[3]).toBe('m-2      —          1         not JSON');
    expect(lines[4]).toContain('mobius agent redrive summarizer moves them back');
    expect(deadLettersReport({ ...letters, depth: 0, messages: [] }, NOW).map(plain)).toEqual([
      'No dead letters for summarizer (http://q/dlq, depth 0).',
    ]);
    expect(bodyText(null)).toBe('null');
    expect(bodyText('short')).toBe('short');
  });

  it('shows a Mobius message as its type, sender and payload, and why its agent parked it', () => {
    const envelope = {
      messageId: '202089a2-5ef6-47b0-8406-93c83d528912',
      from: 'api',
      sender: 'local',
      to: 'picky',
      type: 'request',
      payload: { order: 42 },
      conversationId: 'c0ffee00-5ef6-47b0-8406-93c83d528912',
    };
    expect(bodyText(envelope)).toBe('request from api: {"order":42}');
    expect(bodyText({ ...envelope, type: 'event', eventType: 'order.placed' })).toBe(
      'event order.placed from api: {"order":42}',
    );
    const lines = deadLettersReport(
      {
        agentId: 'picky',
        deadLetterQueueUrl: 'http://q/dlq',
        depth: 2,
        messages: [
          {
            messageId: 'm-1',
            sentAt: null,
            receiveCount: 1,
            body: envelope,
            attributes: { 'mobius-error': 'picky is broken today', 'mobius-agent': 'picky' },
          },
          // Moved by SQS after too many receives: no reason of the agent's.
          { messageId: 'm-2', sentAt: null, receiveCount: 5, body: 'x', attributes: {} },
        ],
      },
      NOW,
    ).flatMap((l) => plain(l).split('\n'));
    expect(lines.slice(1, 4)).toEqual([
      'message  sent  receives  reason                 body',
      'm-1      —     1         picky is broken today  request from api: {"order":42}',
      'm-2      —     5         —                      x',
    ]);
  });

  it('shows what a sender wrote without letting it act on the terminal', async () => {
    // Carriage return, erase line, window title, clipboard (OSC 52), conceal, a one-byte CSI, a
    // right-to-left override: whoever parked the message chose every byte of it.
    const hostile = 'ok\r\u001b[2K\u001b]0;pwned\u0007all clear\u009b8m\u202e';
    expect(bodyText(hostile)).toBe('ok\\x0d\\x1b[2K\\x1b]0;pwned\\x07all clear\\x9b8m\\u202e');
    const envelope = {
      type: 'request\u001b[8m',
      from: 'api\r',
      payload: { note: 'multi\nline' },
    };
    expect(bodyText(envelope)).toBe('request\\x1b[8m from api\\x0d: {"note":"multi\\nline"}');
    const letters: Schemas['DeadLetters'] = {
      agentId: 'picky\u001b]0;x\u0007',
      deadLetterQueueUrl: 'http://q/dlq\u001b[1A',
      depth: 2,
      messages: [
        {
          messageId: 'm-1\u001b[2K',
          sentAt: 'not a date\u0007',
          receiveCount: 1,
          body: hostile,
          attributes: { 'mobius-error': 'bad\u001b]52;c;aGk=\u0007 and\nmore' },
        },
        { messageId: 'm-2', sentAt: null, receiveCount: 5, body: envelope, attributes: {} },
      ],
    };
    const report = deadLettersReport(letters, NOW).join('\n');
    // Each of the report's lines is one line on the screen: no control character but the line ends.
    for (const line of report.split('\n')) expect(line).not.toMatch(CONTROL);
    expect(report).toContain('bad\\x1b]52;c;aGk=\\x07 and more');
    expect(report).toContain('m-1\\x1b[2K');
    for (const line of queueReport(
      { ...queue, agentId: 'x\u001b[2J', queueUrl: 'http://q/\u001b]0;t\u0007', readAt: '\r' },
      NOW,
    ))
      expect(line).not.toMatch(CONTROL);
    // A command's whole output, as the terminal gets it (not through plain(), which would hide
    // an SGR sequence).
    const out: string[] = [];
    api.answers.push({ status: 200, body: letters });
    await agentDeadLettersCommand(
      'picky',
      { api: BASE },
      { out: (t) => out.push(t), err: () => undefined },
    );
    for (const line of out.join('\n').split('\n')) expect(line).not.toMatch(CONTROL);
    api.answers.push({
      status: 202,
      body: {
        agentId: 'picky',
        taskHandle: 'h\u001b[2K',
        source: 'arn:dlq\r',
        destination: 'arn:q\u0007',
        approximateMessagesToMove: 2,
      },
    });
    out.length = 0;
    await agentRedriveCommand(
      'picky',
      { api: BASE },
      { out: (t) => out.push(t), err: () => undefined },
    );
    for (const line of out.join('\n').split('\n')) expect(line).not.toMatch(CONTROL);
  });

  it('takes --limit 1 to 10 only, checked before any request', async () => {
    expect(peekLimit(undefined)).toBeUndefined();
    expect(peekLimit('10')).toBe(10);
    for (const bad of ['0', '11', 'all', '1.5']) {
      const error = await agentDeadLettersCommand('a', { api: BASE, limit: bad }, capture().io)
        .then(() => undefined)
        .catch((e: unknown) => e);
      expect(error, bad).toBeInstanceOf(UsageError);
      expect((error as Error).message).toContain('--limit takes a whole number from 1 to 10');
    }
    expect(api.asked).toEqual([]);
  });

  it('names the fix for an unknown agent (404)', async () => {
    api.answers = [
      { status: 404, body: { error: { code: 'NOT_FOUND', message: 'No agent', details: {} } } },
    ];
    const error = await agentDeadLettersCommand('ghost', { api: BASE, limit: 3 }, capture().io)
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(api.asked).toEqual([
      { method: 'GET', url: `${BASE}/agents/ghost/dead-letters?limit=3` },
    ]);
    expect((error as Error).message).toBe(
      `No agent ghost at ${BASE}. \`mobius agents --api ${BASE}\` lists the agents it knows.`,
    );
  });
  it('says what a redrive moves, and when there was nothing to move', async () => {
    const started = {
      agentId: 'picky',
      taskHandle: 'h-1',
      source: 'arn:aws:sqs:eu-west-1:123456789012:mobius-picky-dlq',
      destination: 'arn:aws:sqs:eu-west-1:123456789012:mobius-picky',
    };
    api.answers = [
      { status: 202, body: { ...started, approximateMessagesToMove: 3 } },
      { status: 202, body: { ...started, approximateMessagesToMove: 0, taskHandle: null } },
      { status: 202, body: { ...started, approximateMessagesToMove: 1 } },
    ];
    const moving = capture();
    expect(await agentRedriveCommand('picky', { api: BASE }, moving.io)).toBe(0);
    expect(moving.out).toEqual([
      '✔ moving 3 dead letters of picky back to its queue',
      `from ${started.source}`,
      `to   ${started.destination}`,
      'task h-1',
    ]);
    const empty = capture();
    expect(await agentRedriveCommand('picky', { api: BASE }, empty.io)).toBe(0);
    expect(empty.out[0]).toBe('✔ nothing to move: the dead-letter queue of picky is empty');
    expect(empty.out).not.toContain('task h-1');
    const json = capture();
    expect(await agentRedriveCommand('picky', { api: BASE, json: true }, json.io)).toBe(0);
    expect(JSON.parse(json.out.join('\n'))).toEqual({ ...started, approximateMessagesToMove: 1 });
    expect(api.asked.map((a) => `${a.method} ${a.url}`)).toEqual(
      Array(3).fill(`POST ${BASE}/agents/picky/dead-letters/redrive`),
    );
  });
});
