/** "just now", "5 min ago", "3 h ago", "yesterday", "4 days ago", or a date. */
export function relativeTime(thenMs: number, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - thenMs) / 1000));
  if (s < 45) return 'just now';
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min ago`;
  const h = Math.round(min / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  if (d === 1) return 'yesterday';
  if (d < 30) return `${d} days ago`;
  return new Date(thenMs).toLocaleDateString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
  });
}

/** Round-trip time for display: "<1 ms", "12 ms", "1.2 s". */
export function formatRtt(ms: number): string {
  if (ms < 1) return '<1 ms';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** "42 s", "5 min", "3 h 12 min", "2 d 4 h". */
export function formatUptime(secs: number): string {
  if (secs < 60) return `${Math.floor(secs)} s`;
  const min = Math.floor(secs / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 24) return `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Cuts text to about `max` characters at a word boundary, adding an ellipsis. */
export function snippet(text: string, max: number): string {
  const t = text.replace(/\s+/g, ' ').trim();
  if (t.length <= max) return t;
  const cut = t.slice(0, max);
  const space = cut.lastIndexOf(' ');
  return (space >= max * 0.5 ? cut.slice(0, space) : cut).trimEnd() + '…';
}

/** Up to two initials for an avatar. */
export function initials(name: string): string {
  const words = name
    .replace(/[^\p{L}\p{N}\s]/gu, ' ')
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  if (words.length === 0) return '?';
  const first = Array.from(words[0]!)[0] ?? '';
  const second = words.length > 1 ? (Array.from(words[words.length - 1]!)[0] ?? '') : '';
  return (first + second).toUpperCase();
}

/** A stable hue (0–359) for a peer id, so each peer keeps its avatar colour. */
export function hueFor(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % 360;
}

const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/** A size for people, in decimal units as file managers show them: "512 B", "3.2 MB", "41 GB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) return '0 B';
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  let unit = 0;
  let value = bytes;
  while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  // 999.96 kB would round to "1000 kB": show it as the next unit instead.
  if (value >= 999.5 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const text = value < 10 ? value.toFixed(1).replace(/\.0$/, '') : String(Math.round(value));
  return `${text} ${BYTE_UNITS[unit]}`;
}

/** A transfer rate: "0 B/s", "820 kB/s", "1.2 MB/s". */
export function formatSpeed(bytesPerSec: number): string {
  return `${formatBytes(bytesPerSec)}/s`;
}

/** Time left: "12 s", "5 min", "1 h 5 min", "2 d 4 h"; `null` when it is not known. */
export function formatEta(secs: number | null | undefined): string | null {
  if (secs === null || secs === undefined || !Number.isFinite(secs) || secs < 0) return null;
  const s = Math.ceil(secs);
  if (s < 60) return `${s} s`;
  const totalMin = Math.ceil(s / 60);
  if (totalMin < 60) return `${totalMin} min`;
  const h = Math.floor(totalMin / 60);
  const min = totalMin % 60;
  if (h < 24) return min > 0 ? `${h} h ${min} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 > 0 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** Progress (0.0–1.0) as a whole percentage; 100 only when it is really complete. */
export function percent(progress: number): number {
  if (!Number.isFinite(progress) || progress <= 0) return 0;
  if (progress >= 1) return 100;
  return Math.min(99, Math.floor(progress * 100));
}

/** "1,234": a count with the reader's digit grouping. */
export function formatCount(n: number): string {
  return n.toLocaleString(undefined);
}

/** A calendar date, e.g. "24 Nov 2026". */
export function formatDate(ms: number): string {
  return new Date(ms).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

/**
 * Tags typed by a person ("Physics, data ,, physics") as a clean list: trimmed, inner spaces
 * collapsed, no commas (they separate tags on the wire), no empties or case-insensitive
 * duplicates, at most `max`.
 */
export function parseTags(text: string, max = 20): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const raw of text.split(',')) {
    const tag = raw.replace(/\s+/g, ' ').trim();
    if (!tag) continue;
    const key = tag.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(tag);
    if (out.length >= max) break;
  }
  return out;
}

/** The last part of a path, for either separator ("C:\\a\\b.pdf" or "/a/b.pdf" → "b.pdf"). */
export function baseName(path: string): string {
  const trimmed = path.replace(/[\\/]+$/, '');
  const i = Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\'));
  return i >= 0 ? trimmed.slice(i + 1) : trimmed;
}

/**
 * A thumbnail hash that is safe to put in a thumbnail address: hex digits only (the node names
 * thumbnails by their blake3 hash). Anything else is dropped.
 */
export function safeThumbnailHash(hash: string | null | undefined): string | null {
  if (!hash) return null;
  return /^[0-9a-f]{16,128}$/i.test(hash) ? hash.toLowerCase() : null;
}

/**
 * A play length as a player shows it: "0:07", "4:05", "1:02:03"; `null` when there is
 * none (or it makes no sense).
 */
export function formatDuration(ms: number | null | undefined): string | null {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return null;
  const total = Math.round(ms / 1000);
  const s = total % 60;
  const min = Math.floor(total / 60) % 60;
  const h = Math.floor(total / 3600);
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(min).padStart(2, '0')}:${ss}` : `${min}:${ss}`;
}

/** A size in decimal gigabytes for a form field: "20", "1.5", "0.25" (at most two decimals). */
export function bytesToGb(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) return '0';
  return String(Math.round(bytes / 1e7) / 100);
}

/** Gigabytes typed by a person ("1.5", "2,5", " 20 ") in bytes; `null` unless a number ≥ 0. */
export function gbToBytes(text: string): number | null {
  const t = text.trim().replace(',', '.');
  if (!/^\d*\.?\d+$|^\d+\.$/.test(t)) return null;
  const bytes = Math.round(Number(t) * 1e9);
  return Number.isSafeInteger(bytes) ? bytes : null;
}
