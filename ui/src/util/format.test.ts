import { describe, expect, it } from 'vitest';
import {
  baseName,
  bytesToGb,
  formatBytes,
  formatDuration,
  formatEta,
  formatSpeed,
  parseTags,
  gbToBytes,
  percent,
  safeThumbnailHash,
} from './format';

describe('formatBytes', () => {
  it('uses decimal units with one decimal below ten', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1)).toBe('1 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1000)).toBe('1 kB');
    expect(formatBytes(1536)).toBe('1.5 kB');
    expect(formatBytes(3_000_000)).toBe('3 MB');
    expect(formatBytes(3_145_728)).toBe('3.1 MB');
    expect(formatBytes(84_201_993)).toBe('84 MB');
    expect(formatBytes(1_730_112_004)).toBe('1.7 GB');
    expect(formatBytes(2.5e12)).toBe('2.5 TB');
  });

  it('never shows "1000" of a unit', () => {
    expect(formatBytes(999_600)).toBe('1 MB');
    expect(formatBytes(999_499)).toBe('999 kB');
  });

  it('treats nonsense as nothing', () => {
    expect(formatBytes(-5)).toBe('0 B');
    expect(formatBytes(Number.NaN)).toBe('0 B');
    expect(formatBytes(Number.POSITIVE_INFINITY)).toBe('0 B');
  });
});

describe('formatSpeed', () => {
  it('is a size per second', () => {
    expect(formatSpeed(0)).toBe('0 B/s');
    expect(formatSpeed(820_000)).toBe('820 kB/s');
    expect(formatSpeed(1_234_567)).toBe('1.2 MB/s');
  });
});

describe('formatEta', () => {
  it('is unknown without a finite, non-negative estimate', () => {
    expect(formatEta(null)).toBeNull();
    expect(formatEta(undefined)).toBeNull();
    expect(formatEta(-1)).toBeNull();
    expect(formatEta(Number.POSITIVE_INFINITY)).toBeNull();
  });

  it('rounds up, in the largest units that help', () => {
    expect(formatEta(0)).toBe('0 s');
    expect(formatEta(4.2)).toBe('5 s');
    expect(formatEta(59)).toBe('59 s');
    expect(formatEta(60)).toBe('1 min');
    expect(formatEta(61)).toBe('2 min');
    expect(formatEta(3599)).toBe('1 h');
    expect(formatEta(3600)).toBe('1 h');
    expect(formatEta(3600 + 5 * 60)).toBe('1 h 5 min');
    expect(formatEta(2 * 86_400 + 4 * 3600 + 10)).toBe('2 d 4 h');
    expect(formatEta(86_400)).toBe('1 d');
  });
});

describe('percent', () => {
  it('is a whole number that reaches 100 only when complete', () => {
    expect(percent(0)).toBe(0);
    expect(percent(0.004)).toBe(0);
    expect(percent(0.5)).toBe(50);
    expect(percent(0.999)).toBe(99);
    expect(percent(1)).toBe(100);
    expect(percent(1.2)).toBe(100);
    expect(percent(-1)).toBe(0);
    expect(percent(Number.NaN)).toBe(0);
  });
});

describe('parseTags', () => {
  it('trims, drops empties and case-insensitive duplicates', () => {
    expect(parseTags('Physics, data ,, physics,  lecture   notes ')).toEqual(['Physics', 'data', 'lecture notes']);
    expect(parseTags('')).toEqual([]);
    expect(parseTags(' , ,')).toEqual([]);
  });

  it('keeps at most the given number', () => {
    expect(parseTags('a,b,c,d', 2)).toEqual(['a', 'b']);
  });
});

describe('baseName', () => {
  it('takes the last part of either kind of path', () => {
    expect(baseName('/home/ada/notes.pdf')).toBe('notes.pdf');
    expect(baseName('C:\\Users\\ada\\thesis.tex')).toBe('thesis.tex');
    expect(baseName('/data/set/')).toBe('set');
    expect(baseName('plain')).toBe('plain');
  });
});

describe('safeThumbnailHash', () => {
  const hash = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';
  it('accepts hex hashes', () => {
    expect(safeThumbnailHash(hash)).toBe(hash);
    expect(safeThumbnailHash(hash.toUpperCase())).toBe(hash);
  });

  it('drops anything else a peer might send', () => {
    expect(safeThumbnailHash(null)).toBeNull();
    expect(safeThumbnailHash(undefined)).toBeNull();
    expect(safeThumbnailHash('')).toBeNull();
    expect(safeThumbnailHash('../../api/status')).toBeNull();
    expect(safeThumbnailHash(`${hash}?x=1`)).toBeNull();
    expect(safeThumbnailHash('abc')).toBeNull();
    expect(safeThumbnailHash('a'.repeat(129))).toBeNull();
  });
});

describe('formatDuration', () => {
  it('is m:ss below an hour and h:mm:ss from then on', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(7_000)).toBe('0:07');
    expect(formatDuration(59_400)).toBe('0:59');
    expect(formatDuration(59_600)).toBe('1:00');
    expect(formatDuration(245_000)).toBe('4:05');
    expect(formatDuration(3_599_000)).toBe('59:59');
    expect(formatDuration(3_600_000)).toBe('1:00:00');
    expect(formatDuration(3_723_000)).toBe('1:02:03');
    expect(formatDuration(36_000_000 + 5_000)).toBe('10:00:05');
  });

  it('is nothing without a sensible length', () => {
    expect(formatDuration(null)).toBeNull();
    expect(formatDuration(undefined)).toBeNull();
    expect(formatDuration(-1)).toBeNull();
    expect(formatDuration(Number.NaN)).toBeNull();
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBeNull();
  });
});

describe('gigabytes in forms', () => {
  it('shows bytes as decimal gigabytes with at most two decimals', () => {
    expect(bytesToGb(20_000_000_000)).toBe('20');
    expect(bytesToGb(1_500_000_000)).toBe('1.5');
    expect(bytesToGb(21_474_836_480)).toBe('21.47');
    expect(bytesToGb(0)).toBe('0');
    expect(bytesToGb(-3)).toBe('0');
  });

  it('reads what a person types', () => {
    expect(gbToBytes('20')).toBe(20_000_000_000);
    expect(gbToBytes(' 1.5 ')).toBe(1_500_000_000);
    expect(gbToBytes('2,5')).toBe(2_500_000_000);
    expect(gbToBytes('.25')).toBe(250_000_000);
    expect(gbToBytes('3.')).toBe(3_000_000_000);
    expect(gbToBytes('0')).toBe(0);
    expect(gbToBytes('')).toBeNull();
    expect(gbToBytes('-1')).toBeNull();
    expect(gbToBytes('1e3')).toBeNull();
    expect(gbToBytes('ten')).toBeNull();
    expect(gbToBytes('1'.repeat(30))).toBeNull();
  });
});
