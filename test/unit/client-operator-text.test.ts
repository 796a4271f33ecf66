import { describe, expect, it } from 'vitest';
import { printable, table, visibleLength } from '../../functions/cli/format.ts';
import { parseSince } from '../../functions/cli/time-text.ts';
import { UsageError } from '../../functions/cli/usage-error.ts';
import { agoText, durationText } from '../../functions/core/time-text.ts';

/**
 * How the operator commands read times (`--since`) and print them (durations, "3 min ago": the
 * same words as the web console's, functions/core/time-text.ts), and how their tables stay aligned
 * when cells are coloured.
 */
const NOW = new Date('2026-12-01T12:00:00.000Z');

describe('parseSince', () => {
  it('takes a span back from now in seconds, minutes, hours or days', () => {
    expect(parseSince('45s', NOW)).toBe('2026-12-01T11:59:15.000Z');
    expect(parseSince('30m', NOW)).toBe('2026-12-01T11:30:00.000Z');
    expect(parseSince('2h', NOW)).toBe('2026-12-01T10:00:00.000Z');
    expect(parseSince('1d', NOW)).toBe('2026-11-30T12:00:00.000Z');
    expect(parseSince(' 7d ', NOW)).toBe('2026-11-24T12:00:00.000Z');
  });

  it('takes an ISO date-time (any offset, given back in UTC) or a date (midnight UTC)', () => {
    expect(parseSince('2026-11-30T08:15:00Z', NOW)).toBe('2026-11-30T08:15:00.000Z');
    expect(parseSince('2026-11-30T08:15:00.250+02:00', NOW)).toBe('2026-11-30T06:15:00.250Z');
    expect(parseSince('2026-11-30', NOW)).toBe('2026-11-30T00:00:00.000Z');
  });

  it('refuses anything else with a UsageError that shows the forms it takes', () => {
    for (const bad of ['2 hours', '2w', 'yesterday', '1', '-2h', '2026-13-45', '', 'h2']) {
      const attempt = () => parseSince(bad, NOW);
      expect(attempt, bad).toThrow(UsageError);
      expect(attempt, bad).toThrow(
        `--since takes an ISO date-time (2026-05-01T12:00:00Z), a date (2026-05-01) or a time back from now (45s, 30m, 2h, 1d); got ${JSON.stringify(bad)}.`,
      );
    }
  });
});

describe('durationText', () => {
  it('says a span at the precision a person reads', () => {
    expect(durationText(0)).toBe('0 ms');
    expect(durationText(12.6)).toBe('13 ms');
    expect(durationText(999)).toBe('999 ms');
    expect(durationText(1000)).toBe('1.0 s');
    expect(durationText(4240)).toBe('4.2 s');
    expect(durationText(60_000)).toBe('1 min');
    expect(durationText(184_000)).toBe('3 min 4 s');
    expect(durationText(3_600_000)).toBe('1 h');
    expect(durationText(7_500_000)).toBe('2 h 5 min');
    expect(durationText(100_800_000)).toBe('1 d 4 h');
  });

  it('keeps two decimals under a millisecond, and says — for no span (the console’s empty cells)', () => {
    expect(durationText(0.42)).toBe('0.42 ms');
    expect(durationText(null)).toBe('—');
    expect(durationText(undefined)).toBe('—');
    expect(durationText(Number.NaN)).toBe('—');
  });
});

describe('agoText', () => {
  it('says how long ago an instant was, from seconds to days', () => {
    expect(agoText('2026-12-01T11:59:48.000Z', NOW)).toBe('12 s ago');
    expect(agoText('2026-12-01T11:57:00.000Z', NOW)).toBe('3 min ago');
    expect(agoText('2026-12-01T09:00:00.000Z', NOW)).toBe('3 h ago');
    expect(agoText('2026-11-28T12:00:00.000Z', NOW)).toBe('3 d ago');
  });

  it('says "just now" for an instant a little ahead (the API’s clock), and keeps text that is no date', () => {
    expect(agoText('2026-12-01T12:00:00.000Z', NOW)).toBe('just now');
    expect(agoText('2026-12-01T12:00:02.000Z', NOW)).toBe('just now');
    expect(agoText('soon', NOW)).toBe('soon');
  });

  it('takes now as a Date (the CLI) or milliseconds (the console), and says — for no instant', () => {
    expect(agoText('2026-12-01T11:59:48.000Z', NOW.getTime())).toBe('12 s ago');
    expect(agoText(null, NOW)).toBe('—');
    expect(agoText(undefined, NOW)).toBe('—');
  });
});

describe('table', () => {
  const red = (text: string) => `\u001b[31m${text}\u001b[0m`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the colour codes the CLI writes
  const plain = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '');

  it('measures coloured text by what shows', () => {
    expect(visibleLength(red('failed'))).toBe(6);
    expect(visibleLength('\u001b[1m\u001b[2mab\u001b[0m')).toBe(2);
  });

  it('aligns columns whose cells are coloured as if they were not', () => {
    const text = table(
      ['id', 'status', 'steps'],
      [
        ['c-1', red('failed'), '3'],
        ['c-22', 'succeeded', '12'],
      ],
    );
    expect(plain(text).split('\n')).toEqual([
      'id    status     steps',
      'c-1   failed     3',
      'c-22  succeeded  12',
    ]);
    // The colour is kept around the cell, its padding outside it.
    expect(text).toContain(`${red('failed')}     3`);
  });
});

describe('printable', () => {
  it('shows each control character as its escape: C0 but tab, DEL, C1, bidirectional overrides', () => {
    expect(printable('a\u0000b\u0007c\u001b[2Kd\re\nf\u007fg\u0085h\u009bi')).toBe(
      'a\\x00b\\x07c\\x1b[2Kd\\x0de\\x0af\\x7fg\\x85h\\x9bi',
    );
    expect(printable('abc\u202edcba\u2066x\u2069')).toBe('abc\\u202edcba\\u2066x\\u2069');
  });

  it('leaves text alone otherwise: tabs, accents, symbols, emoji', () => {
    const text = 'tab\there · café ✔ 日本語 🚀 \\x1b as typed';
    expect(printable(text)).toBe(text);
  });
});
