import { BlockList, isIP } from 'node:net';

/**
 * Where Mobius may make HTTP calls of its own to agents outside AWS (imported A2A agents): only to
 * hosts an operator allowed. A card naming any URL would otherwise let whoever imports it point the
 * coordinator — its API function, its A2A proxy, inside the stack's network — at a listener of
 * theirs or at an internal address (SSRF), which is why the list is a deployment setting and not
 * part of the card.
 *
 * Entries, one per host:
 * - `agents.example.com` — that host, on any port; `agents.example.com:8443` — on that port only;
 * - `*.example.com` — any subdomain of example.com (not example.com itself);
 * - `203.0.113.7`, `[2001:db8::7]:8443` — that address (a port after a bracketed IPv6 address);
 * - `10.20.0.0/16`, `fd00::/8` — any address in that range.
 *
 * A host name matched by an entry must still resolve to public addresses: a name that resolves to a
 * private, loopback, link-local (the instance metadata service among them) or otherwise reserved
 * address is refused at connect time, unless an address or range entry allows that address. An
 * address entry allows itself even when it is private: `127.0.0.1` lets the embedded runtime and
 * the tests import agents on the machine.
 */
export interface RemoteHostPolicy {
  /** The entries, as configured (see above). */
  readonly allowedHosts: readonly string[];
  /**
   * Whether `http:` URLs are allowed besides `https:`. Only where nothing leaves the machine or a
   * test network: the embedded runtime and LocalStack. On AWS, https only.
   */
  readonly allowHttp: boolean;
  /** How a user changes the list, for messages: "the stack's a2aAllowedHosts (…)". */
  readonly setting: string;
}

type Rule =
  | { readonly kind: 'name'; readonly host: string; readonly port?: string }
  | { readonly kind: 'suffix'; readonly suffix: string; readonly port?: string }
  | { readonly kind: 'address'; readonly addresses: BlockList; readonly port?: string };

/** Why an allow-list entry cannot be read, or undefined when it can. */
export function hostEntryIssue(entry: string): string | undefined {
  const rule = parseEntry(entry);
  return typeof rule === 'string' ? rule : undefined;
}

function parseEntry(raw: string): Rule | string {
  const entry = raw.trim().toLowerCase();
  if (entry === '') return 'an empty entry';
  if (entry.includes('://'))
    return `"${raw}" is a URL; give the host only (such as agents.example.com, or agents.example.com:8443)`;
  const slash = entry.indexOf('/');
  if (slash >= 0) {
    const address = entry.slice(0, slash);
    const prefix = Number(entry.slice(slash + 1));
    const family = isIP(address);
    if (
      family === 0 ||
      !Number.isInteger(prefix) ||
      prefix < 0 ||
      prefix > (family === 4 ? 32 : 128)
    )
      return `"${raw}" is not an address range (such as 10.0.0.0/8 or fd00::/8)`;
    const addresses = new BlockList();
    addresses.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
    return { kind: 'address', addresses };
  }
  if (isIP(entry) !== 0) return { kind: 'address', addresses: single(entry) };
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(entry);
  if (bracketed !== null) {
    const [, address = '', port] = bracketed;
    if (isIP(address) !== 6) return `"${raw}" is not an IPv6 address`;
    return { kind: 'address', addresses: single(address), ...(port ? { port } : {}) };
  }
  const hostPort =
    /^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)(?::(\d{1,5}))?$/.exec(
      entry,
    );
  if (hostPort === null)
    return `"${raw}" is neither a host name (optionally *. and :port), an address nor a range`;
  const [, wildcard, host = '', , , , port] = hostPort;
  if (isIP(host) !== 0)
    return { kind: 'address', addresses: single(host), ...(port ? { port } : {}) };
  return wildcard
    ? { kind: 'suffix', suffix: `.${host}`, ...(port ? { port } : {}) }
    : { kind: 'name', host, ...(port ? { port } : {}) };
}

function single(address: string): BlockList {
  const list = new BlockList();
  list.addAddress(address, isIP(address) === 4 ? 'ipv4' : 'ipv6');
  return list;
}

const rulesCache = new WeakMap<readonly string[], Rule[]>();

function rulesOf(policy: RemoteHostPolicy): Rule[] {
  let rules = rulesCache.get(policy.allowedHosts);
  if (rules === undefined) {
    rules = policy.allowedHosts.flatMap((entry) => {
      const rule = parseEntry(entry);
      return typeof rule === 'string' ? [] : [rule];
    });
    rulesCache.set(policy.allowedHosts, rules);
  }
  return rules;
}

/**
 * Addresses no call leaves for unless an entry names them: private (RFC 1918, unique-local),
 * loopback, link-local (169.254.169.254, the metadata service, among them), shared (CGNAT),
 * unspecified, documentation, benchmarking, multicast and reserved ranges — and the IPv6 ranges
 * that carry an IPv4 address inside them (IPv4-compatible ::/96, SIIT, NAT64 64:ff9b::/96 and
 * 64:ff9b:1::/48, 6to4 2002::/16, Teredo in 2001::/23), through which a relay or a NAT64 gateway
 * would reach an internal IPv4 address.
 */
const RESERVED = (() => {
  const list = new BlockList();
  for (const [address, prefix] of [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.0.2.0', 24],
    ['192.88.99.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['198.51.100.0', 24],
    ['203.0.113.0', 24],
    ['224.0.0.0', 4],
    ['240.0.0.0', 4],
  ] as const)
    list.addSubnet(address, prefix, 'ipv4');
  for (const [address, prefix] of [
    ['::', 96],
    ['::ffff:0:0:0', 96],
    ['64:ff9b::', 96],
    ['64:ff9b:1::', 48],
    ['100::', 64],
    ['2001::', 23],
    ['2001:db8::', 32],
    ['2002::', 16],
    ['3fff::', 20],
    ['fc00::', 7],
    ['fe80::', 10],
    ['fec0::', 10],
    ['ff00::', 8],
  ] as const)
    list.addSubnet(address, prefix, 'ipv6');
  return list;
})();

/**
 * IPv6's global unicast space: an IPv6 address outside it is never public, whatever range it is
 * in, so one the list above does not name yet is refused all the same (fails closed).
 */
const GLOBAL_UNICAST = (() => {
  const list = new BlockList();
  list.addSubnet('2000::', 3, 'ipv6');
  return list;
})();

function reserved(ip: { address: string; family: 'ipv4' | 'ipv6' }): boolean {
  if (RESERVED.check(ip.address, ip.family)) return true;
  return ip.family === 'ipv6' && !GLOBAL_UNICAST.check(ip.address, 'ipv6');
}

/**
 * An address in one form for every check: an IPv6 address in its canonical text (the URL
 * parser's), and an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, `::ffff:a00:1`) as its IPv4
 * address. Undefined for anything that is not an IP address.
 */
function normalised(address: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  const bare = address.replace(/^\[|\]$/g, '').toLowerCase();
  const family = isIP(bare);
  if (family === 4) return { address: bare, family: 'ipv4' };
  if (family !== 6 || !URL.canParse(`http://[${bare}]/`)) return undefined;
  const canonical = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped === null) return { address: canonical, family: 'ipv6' };
  const [high, low] = [
    Number.parseInt(mapped[1] ?? '0', 16),
    Number.parseInt(mapped[2] ?? '0', 16),
  ];
  return {
    address: [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.'),
    family: 'ipv4',
  };
}

/**
 * Whether a connection to `port` may go to `address` (an IP the host name resolved to, or the
 * URL's own literal address): any public address, or one an address or range entry names — on
 * that entry's port when it names one. A name's entry says nothing of the addresses it resolves
 * to: with `10.0.0.5:8443` and `*.example.com` allowed, a name under example.com that resolves to
 * 10.0.0.5 reaches it on 8443 only, as the entry says, and not its other ports.
 */
export function addressAllowed(address: string, policy: RemoteHostPolicy, port: string): boolean {
  const ip = normalised(address);
  if (ip === undefined) return false;
  const named = rulesOf(policy).some(
    (rule) =>
      rule.kind === 'address' &&
      (rule.port === undefined || rule.port === port) &&
      rule.addresses.check(ip.address, ip.family),
  );
  return named || !reserved(ip);
}

/** The port a URL connects to: its own, or its scheme's (443 for https, 80 for http). */
export function portOf(url: URL): string {
  if (url.port !== '') return url.port;
  return url.protocol === 'https:' ? '443' : '80';
}

/**
 * Why `text` may not be called under `policy` (a sentence naming the setting), or undefined when it
 * may: it must be an absolute http(s) URL without credentials, https unless the policy allows http,
 * its host matched by an entry (and its port, when the entry names one), and a literal address in
 * it allowed (addressAllowed). Resolved addresses are checked when the call connects
 * (remote-http.ts), where a name's answer cannot change between the check and the use.
 */
export function remoteUrlIssue(text: string, policy: RemoteHostPolicy): string | undefined {
  if (!URL.canParse(text)) return 'not an absolute URL';
  const url = new URL(text);
  const schemes = policy.allowHttp ? ['https:', 'http:'] : ['https:'];
  if (!schemes.includes(url.protocol))
    return policy.allowHttp
      ? `${url.protocol} URLs are not called; use https or http`
      : `only https URLs are called here (${url.protocol} is not)`;
  if (url.username !== '' || url.password !== '')
    return 'a URL with credentials in it is not called; remove the user and password';
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = portOf(url);
  const portMatches = (rule: Rule) => rule.port === undefined || rule.port === port;
  const literal = normalised(host);
  const listed = rulesOf(policy).some((rule) => {
    if (!portMatches(rule)) return false;
    if (literal !== undefined)
      return rule.kind === 'address' && rule.addresses.check(literal.address, literal.family);
    if (rule.kind === 'name') return rule.host === host;
    if (rule.kind === 'suffix') return host.endsWith(rule.suffix);
    return false;
  });
  if (!listed) {
    const allowed = policy.allowedHosts.length === 0 ? 'none' : policy.allowedHosts.join(', ');
    return `host ${url.host} is not allowed; hosts allowed: ${allowed} (${policy.setting})`;
  }
  return undefined;
}
