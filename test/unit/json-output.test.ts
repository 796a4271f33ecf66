import { describe, expect, it } from 'vitest';
import { FatalAgentError } from '../../functions/core/messaging/agent-errors.ts';
import { jsonOutput } from '../../functions/core/sdk/json-output.ts';

describe('jsonOutput', () => {
  it('refuses a generator that is not the handler result, saying how to stream instead', () => {
    // The generator a handler returns is streamed; one that reaches jsonOutput came from elsewhere
    // (the value a generator returned, or nested in the output) and JSON would make it {}.
    async function* streaming() {
      yield 'chunk';
      return 'final';
    }
    function* sync() {
      yield 1;
    }
    expect(() => jsonOutput(streaming(), 'writer')).toThrow(FatalAgentError);
    expect(() => jsonOutput(streaming(), 'writer')).toThrow(
      'Agent writer returned an async generator as its output, which would travel as {} and lose ' +
        'what it yields. To stream, `yield` each chunk from an `async function*` handler or call ' +
        '`await context.stream(chunk)`, and return the final value.',
    );
    expect(() => jsonOutput(sync(), 'writer')).toThrow('Agent writer returned a generator');
  });

  it('finds a generator nested in the output, which JSON.stringify would silently write as {}', () => {
    async function* story() {
      yield 'once';
    }
    const nested = () => jsonOutput({ title: 't', parts: [{}, { body: story() }] }, 'writer');
    expect(nested).toThrow(FatalAgentError);
    expect(nested).toThrow(
      'Agent writer returned a generator at output.parts[1].body, which would travel as {} and ' +
        'lose what it yields. To stream,',
    );
    // Through toJSON too, as JSON.stringify sees it.
    expect(() => jsonOutput({ when: { toJSON: () => ({ g: story() }) } }, 'w')).toThrow(
      'a generator at output.when.g',
    );
    // Empty objects (and '{}' in text) are just JSON.
    expect(jsonOutput({ empty: {}, text: '{}' }, 'w')).toEqual({ empty: {}, text: '{}' });
  });

  it('keeps ordinary values as JSON.stringify would', () => {
    expect(jsonOutput({ a: 1, gone: undefined, when: new Date(0) }, 'w')).toEqual({
      a: 1,
      when: '1970-01-01T00:00:00.000Z',
    });
    expect(jsonOutput([1, 'two'], 'w')).toEqual([1, 'two']);
    expect(jsonOutput(undefined, 'w')).toBeNull();
  });
});
