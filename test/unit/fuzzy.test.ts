import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MIN_FUZZY_SCORE,
  fuzzyScore,
  stem,
  tokenize,
} from '../../functions/core/registry/fuzzy.ts';

describe('fuzzy capability matching', () => {
  it('splits names into tokens at case changes and separators', () => {
    expect(tokenize('textSummarize')).toEqual(['text', 'summarize']);
    expect(tokenize('Text-Summarize')).toEqual(['text', 'summarize']);
    expect(tokenize('text_summarize')).toEqual(['text', 'summarize']);
    expect(tokenize('HTTPRequest.v2')).toEqual(['http', 'request', 'v2']);
  });

  it('scores case- and separator-insensitive equality as 1', () => {
    expect(fuzzyScore('Text_Summarize', 'text-summarize')).toBe(1);
    expect(fuzzyScore('textSummarize', 'TEXT SUMMARIZE')).toBe(1);
  });

  it.each([
    ['summarise', 'summarize'],
    ['sumarize', 'summarize'],
    ['summarise', 'text-summarization'],
    ['keyword-extract', 'keyword-extraction'],
    ['sentiment', 'sentiment-analysis'],
  ])('matches %s to %s above the default threshold, below 1', (query, candidate) => {
    const score = fuzzyScore(query, candidate);
    expect(score).toBeGreaterThanOrEqual(DEFAULT_MIN_FUZZY_SCORE);
    expect(score).toBeLessThan(1);
  });

  it.each([
    ['summarize', 'translate'],
    ['sentiment', 'segmentation'],
    ['translate-to-klingon-now', 'translate'],
    ['fact-lookup', 'keyword-extraction'],
    ['shard-7', 'shard-17'],
    ['Capability_7', 'capability-17'],
  ])('does not match %s to %s', (query, candidate) => {
    expect(fuzzyScore(query, candidate)).toBeLessThan(DEFAULT_MIN_FUZZY_SCORE);
  });

  it('prefers closer names', () => {
    expect(fuzzyScore('summarize', 'summarise')).toBeGreaterThan(
      fuzzyScore('summarize', 'text-summarization'),
    );
  });

  it('stems one common suffix, keeping four characters', () => {
    expect(stem('summarization')).toBe('summar');
    expect(stem('summarise')).toBe('summar');
    expect(stem('uses')).toBe('uses');
  });
});
