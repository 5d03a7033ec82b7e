import { describe, expect, it } from 'vitest';
import {
  baseName,
  formatBytes,
  formatEta,
  formatSpeed,
  parseTags,
  percent,
  safeThumbnail,
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

describe('safeThumbnail', () => {
  const png = 'data:image/png;base64,iVBORw0KGgo=';
  it('accepts base64 data URLs of raster images', () => {
    expect(safeThumbnail(png)).toBe(png);
    expect(safeThumbnail('data:image/jpeg;base64,/9j/4AAQ')).toBe('data:image/jpeg;base64,/9j/4AAQ');
    expect(safeThumbnail('data:image/webp;base64,UklGRg==')).not.toBeNull();
  });

  it('drops anything else a peer might send', () => {
    expect(safeThumbnail(null)).toBeNull();
    expect(safeThumbnail('')).toBeNull();
    expect(safeThumbnail('https://tracker.example/pixel.png')).toBeNull();
    expect(safeThumbnail('javascript:alert(1)')).toBeNull();
    expect(safeThumbnail('data:image/svg+xml;base64,PHN2Zz4=')).toBeNull();
    expect(safeThumbnail('data:text/html;base64,PGI+')).toBeNull();
    expect(safeThumbnail('data:image/png;base64,abc" onerror="x')).toBeNull();
    expect(safeThumbnail(png, 10)).toBeNull();
  });
});
