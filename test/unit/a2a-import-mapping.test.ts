import { describe, expect, it } from 'vitest';
import { agentErrorOf } from '../../functions/a2a/proxy.ts';
import {
  agentIdOf,
  capabilityNameOf,
  cardUrlOf,
  mobiusCardOf,
  readRemoteCard,
} from '../../functions/a2a/remote-card.ts';
import { RemoteProtocolError, RemoteRpcError } from '../../functions/a2a/remote-client.ts';
import { RemoteCallError } from '../../functions/a2a/remote-http.ts';
import { outputOfAnswer, outputOfParts, partsOfInput } from '../../functions/a2a/remote-output.ts';
import { ValidationError } from '../../functions/core/errors.ts';
import {
  agentCardSchemaUnder,
  endpointPolicyIssues,
} from '../../functions/core/model/agent-card.ts';
import {
  addressAllowed,
  hostEntryIssue,
  type RemoteHostPolicy,
  remoteUrlIssue,
} from '../../functions/core/model/remote-hosts.ts';

/**
 * Importing remote A2A agents, piece by piece: the host allow-list (no SSRF), reading a card, the
 * Mobius card made of it, the mapping of inputs and answers, and the error names failures carry.
 */
const policy = (allowedHosts: string[], allowHttp = false): RemoteHostPolicy => ({
  allowedHosts,
  allowHttp,
  setting: 'the test setting',
});

describe('the host allow-list', () => {
  it('allows a listed host on https, a port only when named, subdomains with *.', () => {
    const hosts = policy(['agents.example.com', 'api.example.org:8443', '*.partner.example']);
    expect(remoteUrlIssue('https://agents.example.com/a2a', hosts)).toBeUndefined();
    expect(remoteUrlIssue('https://agents.example.com:9000/a2a', hosts)).toBeUndefined();
    expect(remoteUrlIssue('https://api.example.org:8443/', hosts)).toBeUndefined();
    expect(remoteUrlIssue('https://api.example.org/', hosts)).toMatch(
      /host api\.example\.org is not allowed/,
    );
    expect(remoteUrlIssue('https://eu.partner.example/', hosts)).toBeUndefined();
    expect(remoteUrlIssue('https://partner.example/', hosts)).toMatch(/not allowed/);
    expect(remoteUrlIssue('https://agents.example.com.evil.example/', hosts)).toMatch(
      /not allowed/,
    );
    expect(remoteUrlIssue('https://other.example/', hosts)).toBe(
      'host other.example is not allowed; hosts allowed: agents.example.com, api.example.org:8443, *.partner.example (the test setting)',
    );
  });

  it('refuses http unless allowed, other schemes always, and credentials in the URL', () => {
    const hosts = policy(['agents.example.com']);
    expect(remoteUrlIssue('http://agents.example.com/', hosts)).toMatch(/only https URLs/);
    expect(
      remoteUrlIssue('http://agents.example.com/', policy(['agents.example.com'], true)),
    ).toBeUndefined();
    expect(remoteUrlIssue('file:///etc/passwd', policy(['agents.example.com'], true))).toMatch(
      /file: URLs are not called/,
    );
    expect(remoteUrlIssue('https://user:pw@agents.example.com/', hosts)).toMatch(/credentials/);
    expect(remoteUrlIssue('agents.example.com/a2a', hosts)).toBe('not an absolute URL');
  });

  it('lets a literal address through only when an address or range entry names it', () => {
    const hosts = policy(['127.0.0.1', '10.1.0.0/16', '[::1]:8080'], true);
    expect(remoteUrlIssue('http://127.0.0.1:4000/', hosts)).toBeUndefined();
    expect(remoteUrlIssue('http://10.1.2.3/', hosts)).toBeUndefined();
    expect(remoteUrlIssue('http://10.2.0.1/', hosts)).toMatch(/not allowed/);
    expect(remoteUrlIssue('http://[::1]:8080/', hosts)).toBeUndefined();
    expect(remoteUrlIssue('http://[::1]:8081/', hosts)).toMatch(/not allowed/);
    // The metadata service is nobody's host unless named.
    expect(
      remoteUrlIssue(
        'http://169.254.169.254/latest/meta-data',
        policy(['agents.example.com'], true),
      ),
    ).toMatch(/not allowed/);
  });

  it('refuses private, loopback, link-local and reserved addresses a name resolves to, unless an entry names them', () => {
    const hosts = policy(['agents.example.com']);
    for (const address of [
      '127.0.0.1',
      '10.0.0.5',
      '172.16.3.4',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      'fe80::1',
      'fd12::1',
      '::ffff:10.0.0.1',
      '::ffff:7f00:1',
      '224.0.0.1',
      '192.88.99.1',
      // IPv6 ranges that carry an IPv4 address, through which a relay or NAT64 reaches it.
      '::7f00:1',
      '::127.0.0.1',
      '::ffff:0:a9fe:a9fe',
      '64:ff9b::a9fe:a9fe',
      '64:ff9b:1::a9fe:a9fe',
      '2002:a9fe:a9fe::1',
      '2001:0:4136:e378:8000:63bf:3fff:fdd2',
      // Deprecated site-local, documentation, and anything outside global unicast (2000::/3).
      'fec0::1',
      '3fff::1',
      '4000::1',
      'not an address',
    ])
      expect(addressAllowed(address, hosts, '443'), address).toBe(false);
    for (const address of [
      '93.184.216.34',
      '2606:2800:220:1::1',
      '2001:4860:4860::8888',
      '::ffff:93.184.216.34',
      '::ffff:5db8:d822',
    ])
      expect(addressAllowed(address, hosts, '443'), address).toBe(true);
    // An entry still names an address in these ranges, in either of its forms.
    expect(addressAllowed('2002:a9fe:a9fe::1', policy(['2002::/16']), '443')).toBe(true);
    expect(addressAllowed('::ffff:7f00:1', policy(['127.0.0.1']), '443')).toBe(true);
    expect(addressAllowed('10.0.0.5', policy(['10.0.0.0/8']), '443')).toBe(true);
    expect(addressAllowed('127.0.0.1', policy(['127.0.0.1']), '80')).toBe(true);
  });

  it('lets an address entry with a port allow that address on that port only, whatever name reached it', () => {
    // A name under the wildcard that resolves to 127.0.0.1 must not reach its other ports.
    const hosts = policy(['127.0.0.1:9000', '*.example.com', '[::1]:9000']);
    expect(addressAllowed('127.0.0.1', hosts, '6379')).toBe(false);
    expect(addressAllowed('127.0.0.1', hosts, '9000')).toBe(true);
    expect(addressAllowed('::1', hosts, '22')).toBe(false);
    expect(addressAllowed('::1', hosts, '9000')).toBe(true);
    expect(addressAllowed('::ffff:127.0.0.1', hosts, '6379')).toBe(false);
    // Public addresses need no entry, on any port.
    expect(addressAllowed('93.184.216.34', hosts, '6379')).toBe(true);
  });

  it('names what is wrong with an entry', () => {
    expect(hostEntryIssue('agents.example.com:8443')).toBeUndefined();
    expect(hostEntryIssue('*.example.com')).toBeUndefined();
    expect(hostEntryIssue('fd00::/8')).toBeUndefined();
    expect(hostEntryIssue('https://agents.example.com')).toMatch(/is a URL; give the host only/);
    expect(hostEntryIssue('10.0.0.0/33')).toMatch(/not an address range/);
    expect(hostEntryIssue('agents example')).toMatch(/neither a host name/);
  });
});

const CARD = {
  name: 'Research Assistant (EU)',
  description: 'Finds and summarises papers',
  version: '1.4',
  supportedInterfaces: [
    { url: 'https://agents.example.com/grpc', protocolBinding: 'GRPC', protocolVersion: '1.0' },
    {
      url: 'https://agents.example.com/a2a',
      protocolBinding: 'jsonrpc',
      protocolVersion: '1.0',
      tenant: 'eu',
    },
  ],
  capabilities: { streaming: true },
  skills: [
    {
      id: 'paper search',
      name: 'Paper search',
      description: 'Searches papers',
      tags: ['research'],
      examples: ['find RAG papers'],
    },
    { id: '2-summarise', name: 'Summarise' },
  ],
};
const HOSTS = policy(['agents.example.com']);

describe('reading a remote card', () => {
  it("finds the card under a base URL, or takes a URL of a JSON document as the card's", () => {
    expect(cardUrlOf('https://agents.example.com')).toBe(
      'https://agents.example.com/.well-known/agent-card.json',
    );
    expect(cardUrlOf('https://agents.example.com/research')).toBe(
      'https://agents.example.com/research/.well-known/agent-card.json',
    );
    expect(cardUrlOf('https://agents.example.com/cards/research.json')).toBe(
      'https://agents.example.com/cards/research.json',
    );
    // URLs that parse but have no path a card could be under: a 400 on url, not a TypeError.
    for (const url of ['mailto:x', 'data:,x', 'urn:isbn:1', 'not a url'])
      expect(() => cardUrlOf(url), url).toThrow(
        expect.objectContaining({
          name: 'ValidationError',
          issues: [expect.objectContaining({ path: 'url' })],
        }),
      );
  });

  it('picks the first JSON-RPC interface for A2A 1.0 (any case), with its tenant, and whether the agent streams', () => {
    const imported = readRemoteCard(CARD, HOSTS);
    expect(imported).toMatchObject({
      url: 'https://agents.example.com/a2a',
      tenant: 'eu',
      streaming: true,
    });
  });

  it('makes a Mobius card: id from the name, skills as capabilities at the card version, the proxy as lambdaArn', () => {
    const imported = readRemoteCard(CARD, HOSTS);
    const card = mobiusCardOf(imported, {
      agentId: agentIdOf(CARD.name),
      cardUrl: 'https://agents.example.com/.well-known/agent-card.json',
      proxyArn: 'arn:aws:lambda:eu-west-1:123456789012:function:proxy',
      proxyStreamArn: 'arn:aws:lambda:eu-west-1:123456789012:function:proxy-stream',
    });
    expect(card).toEqual({
      agentId: 'research-assistant-eu',
      agentType: 'a2a',
      description: 'Finds and summarises papers',
      capabilities: [
        {
          name: 'paper-search',
          version: '1.4.0',
          metadata: {
            skill: 'paper search',
            name: 'Paper search',
            description: 'Searches papers',
            tags: ['research'],
            examples: ['find RAG papers'],
          },
        },
        {
          name: 'skill-2-summarise',
          version: '1.4.0',
          metadata: {
            skill: '2-summarise',
            name: 'Summarise',
            description: 'Summarise',
            tags: [],
            examples: [],
          },
        },
      ],
      protocols: [
        { name: 'mobius', versions: ['1.0'] },
        { name: 'a2a', versions: ['1.0'] },
      ],
      endpoint: {
        lambdaArn: 'arn:aws:lambda:eu-west-1:123456789012:function:proxy',
        streamArn: 'arn:aws:lambda:eu-west-1:123456789012:function:proxy-stream',
        a2a: {
          url: 'https://agents.example.com/a2a',
          cardUrl: 'https://agents.example.com/.well-known/agent-card.json',
          tenant: 'eu',
          streaming: true,
        },
      },
    });
    // And it passes the registry's rules under the deployment's policy.
    const parsed = agentCardSchemaUnder({
      region: 'eu-west-1',
      accounts: ['123456789012'],
      a2a: {
        hosts: HOSTS,
        proxyArn: 'arn:aws:lambda:eu-west-1:123456789012:function:proxy',
        proxyStreamArn: 'arn:aws:lambda:eu-west-1:123456789012:function:proxy-stream',
      },
    }).safeParse(card);
    expect(parsed.success).toBe(true);
  });

  it('names each problem of a bad card by its path', () => {
    const issuesOf = (raw: unknown) => {
      try {
        readRemoteCard(raw, HOSTS);
      } catch (error) {
        if (error instanceof ValidationError) return error.issues;
        throw error;
      }
      return [];
    };
    expect(issuesOf({ ...CARD, name: '', skills: [] })).toEqual([
      { path: 'name', message: 'the card needs its name' },
      {
        path: 'skills',
        message: 'an imported agent needs at least one skill: its skills are its capabilities',
      },
    ]);
    expect(
      issuesOf({
        ...CARD,
        supportedInterfaces: [{ url: 'https://elsewhere.example/a2a', protocolBinding: 'JSONRPC' }],
      }),
    ).toEqual([
      {
        path: 'supportedInterfaces.0.url',
        message:
          'host elsewhere.example is not allowed; hosts allowed: agents.example.com (the test setting)',
      },
    ]);
    expect(
      issuesOf({ ...CARD, securityRequirements: [{ schemes: { oauth: { list: [] } } }] }),
    ).toEqual([expect.objectContaining({ path: 'securityRequirements' })]);
    expect(issuesOf({ ...CARD, skills: [{ id: 'a b' }, { id: 'a-b' }] })).toEqual([
      {
        path: 'skills.1.id',
        message: 'becomes capability "a-b", as skill 0 does; give the skills distinct ids',
      },
    ]);
    expect(issuesOf({ name: 'old', url: 'https://agents.example.com/', skills: [] })).toEqual([
      expect.objectContaining({
        path: 'supportedInterfaces',
        message: expect.stringContaining('A2A 0.3 card'),
      }),
    ]);
  });

  it('slugs names and skill ids into ids and capability names Mobius takes', () => {
    expect(agentIdOf('  --Weird Name!!')).toBe('weird-name');
    expect(agentIdOf('???')).toBe('a2a-agent');
    expect(capabilityNameOf('search/papers:v2')).toBe('search/papers:v2');
    expect(capabilityNameOf('_x')).toBe('skill-_x');
  });
});

describe('the endpoint policy for a2a endpoints', () => {
  const endpoint = {
    lambdaArn: 'arn:aws:lambda:eu-west-1:123456789012:function:other',
    a2a: {
      url: 'https://agents.example.com/a2a',
      cardUrl: 'https://agents.example.com/card.json',
      streaming: false,
    },
  };
  it('refuses them where import is off, naming the settings', () => {
    expect(
      endpointPolicyIssues(endpoint, { region: 'eu-west-1', accounts: ['123456789012'] }),
    ).toEqual([
      {
        path: 'endpoint.a2a',
        message: expect.stringContaining('a2aAllowedHosts (MOBIUS_A2A_ALLOWED_HOSTS'),
      },
    ]);
  });
  it('wants the proxy as their lambdaArn', () => {
    expect(
      endpointPolicyIssues(endpoint, {
        region: 'eu-west-1',
        accounts: ['123456789012'],
        a2a: { hosts: HOSTS, proxyArn: 'arn:aws:lambda:eu-west-1:123456789012:function:proxy' },
      }),
    ).toEqual([
      {
        path: 'endpoint.lambdaArn',
        message:
          "an A2A agent is reached through this deployment's A2A proxy, arn:aws:lambda:eu-west-1:123456789012:function:proxy",
      },
    ]);
  });
});

describe('inputs and answers', () => {
  it('sends a string or { text } as a text part, any other JSON as one data part', () => {
    expect(partsOfInput('hello')).toEqual([{ text: 'hello', mediaType: 'text/plain' }]);
    expect(partsOfInput({ text: 'hello' })).toEqual([{ text: 'hello', mediaType: 'text/plain' }]);
    expect(partsOfInput({ text: 'hello', sentences: 1 })).toEqual([
      { data: { text: 'hello', sentences: 1 }, mediaType: 'application/json' },
    ]);
    expect(partsOfInput(null)).toEqual([{ data: null, mediaType: 'application/json' }]);
  });

  it('gives one data part as its value, text parts joined, anything else as its parts', () => {
    expect(outputOfParts([{ data: { n: 1 } }])).toEqual({ n: 1 });
    expect(outputOfParts([{ text: 'a ' }, { text: 'b' }])).toBe('a b');
    expect(outputOfParts([])).toBeNull();
    expect(
      outputOfParts([
        { text: 'see' },
        { url: 'https://x.example/f.pdf', mediaType: 'application/pdf' },
      ]),
    ).toEqual({
      parts: [{ text: 'see' }, { url: 'https://x.example/f.pdf', mediaType: 'application/pdf' }],
    });
  });

  it("takes a completed task's artifacts (several by name), its status message when it has none", () => {
    const task = (state: string, artifacts: object[] = [], message?: object) => ({
      task: { id: 't', status: { state, ...(message ? { message } : {}) }, artifacts } as never,
    });
    expect(
      outputOfAnswer(
        'a',
        task('TASK_STATE_COMPLETED', [{ artifactId: 'x', parts: [{ data: 1 }] }]),
      ),
    ).toBe(1);
    expect(
      outputOfAnswer(
        'a',
        task('TASK_STATE_COMPLETED', [
          { artifactId: 'x', name: 'summary', parts: [{ text: 's' }] },
          { artifactId: 'y', parts: [{ data: [1] }] },
        ]),
      ),
    ).toEqual({ summary: 's', y: [1] });
    expect(
      outputOfAnswer('a', task('TASK_STATE_COMPLETED', [], { parts: [{ text: 'done' }] })),
    ).toBe('done');
    expect(outputOfAnswer('a', { message: { parts: [{ text: 'hi' }] } as never })).toBe('hi');
  });

  it('fails a task that did not complete: FAILED and CANCELED as errors, REJECTED and interrupted ones as fatal', () => {
    const ended = (state: string) => {
      try {
        outputOfAnswer('remote', {
          task: {
            id: 't',
            status: { state, message: { parts: [{ text: 'why' }] } },
            artifacts: [],
          } as never,
        });
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
      return 'no error';
    };
    expect(ended('TASK_STATE_FAILED')).toBe('Error: A2A agent remote failed task t: why');
    expect(ended('TASK_STATE_CANCELED')).toMatch(/^Error: /);
    expect(ended('TASK_STATE_REJECTED')).toBe(
      'FatalAgentError: A2A agent remote rejected task t: why',
    );
    expect(ended('TASK_STATE_INPUT_REQUIRED')).toMatch(/^FatalAgentError: .*cannot answer it/);
  });
});

describe('failures in the agent SDK error names', () => {
  it("retryable for what may pass, fatal for what will not, a plain Error for the remote's own failure", () => {
    expect(
      agentErrorOf('r', new RemoteCallError('503', { retryable: true, status: 503 })).name,
    ).toBe('RetryableAgentError');
    expect(
      agentErrorOf('r', new RemoteCallError('404', { retryable: false, status: 404 })).name,
    ).toBe('FatalAgentError');
    expect(agentErrorOf('r', new RemoteRpcError('u', -32602, 'bad params')).name).toBe(
      'FatalAgentError',
    );
    expect(agentErrorOf('r', new RemoteRpcError('u', -32601, 'no method')).name).toBe(
      'FatalAgentError',
    );
    // Every code A2A 1.0 defines for a refusal, those Mobius never answers with included.
    for (const code of [-32700, -32600, -32001, -32004, -32005, -32006, -32007, -32008, -32009])
      expect(agentErrorOf('r', new RemoteRpcError('u', code, 'refused')).name, String(code)).toBe(
        'FatalAgentError',
      );
    expect(agentErrorOf('r', new RemoteRpcError('u', -32603, 'boom')).name).toBe('Error');
    expect(agentErrorOf('r', new RemoteRpcError('u', -32050, 'custom')).name).toBe('Error');
    expect(agentErrorOf('r', new RemoteProtocolError('not JSON')).name).toBe('FatalAgentError');
  });
});
