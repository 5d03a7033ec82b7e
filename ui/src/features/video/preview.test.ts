import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeBackend, resource, status } from '../../test/fake';
import {
  PREVIEW_QUALITY,
  PREVIEW_TIMEOUT_MS,
  PREVIEW_TYPE,
  addVideoPreview,
  blobToBase64,
  bytesToBase64,
  capturePreview,
  needsPreview,
  previewSeekTime,
  previewSize,
  type CanvasLike,
  type PreviewEnv,
  type VideoLike,
} from './preview';

describe('previewSize', () => {
  it('scales wide frames down to 320 pixels, keeping their shape', () => {
    expect(previewSize(1920, 1080)).toEqual({ width: 320, height: 180 });
    expect(previewSize(640, 480)).toEqual({ width: 320, height: 240 });
    expect(previewSize(1080, 1920)).toEqual({ width: 320, height: 569 });
    expect(previewSize(3840, 10)).toEqual({ width: 320, height: 1 });
  });

  it('never scales up', () => {
    expect(previewSize(320, 240)).toEqual({ width: 320, height: 240 });
    expect(previewSize(160, 90)).toEqual({ width: 160, height: 90 });
  });

  it('has no size without a picture', () => {
    expect(previewSize(0, 0)).toBeNull();
    expect(previewSize(640, 0)).toBeNull();
    expect(previewSize(Number.NaN, 480)).toBeNull();
  });
});

describe('previewSeekTime', () => {
  it('is 10% in, at most 10 s', () => {
    expect(previewSeekTime(30)).toBe(3);
    expect(previewSeekTime(4.5)).toBeCloseTo(0.45);
    expect(previewSeekTime(100)).toBe(10);
    expect(previewSeekTime(7200)).toBe(10);
  });

  it('is the start when the length is unknown', () => {
    expect(previewSeekTime(Number.NaN)).toBe(0);
    expect(previewSeekTime(Number.POSITIVE_INFINITY)).toBe(0);
    expect(previewSeekTime(0)).toBe(0);
  });
});

describe('base64', () => {
  it('encodes bytes as standard base64', async () => {
    expect(bytesToBase64(new Uint8Array([]))).toBe('');
    expect(bytesToBase64(new Uint8Array([0xff, 0xd8, 0xff]))).toBe('/9j/');
    expect(bytesToBase64(new TextEncoder().encode('Hearth'))).toBe('SGVhcnRo');
    expect(await blobToBase64(new Blob([new Uint8Array([0xff, 0xd8, 0xff, 0xe0])]))).toBe('/9j/4A==');
  });

  it('encodes large images without overflowing the stack', () => {
    const bytes = new Uint8Array(300_000).map((_, i) => i % 251);
    expect(bytesToBase64(bytes)).toBe(Buffer.from(bytes).toString('base64'));
  });
});

describe('needsPreview', () => {
  it('is for my new videos without a preview, on nodes that cannot make one', () => {
    const video = resource({ kind: 'video', thumbnail_hash: null });
    expect(needsPreview(status({ video_previews: false }), video)).toBe(true);
    expect(needsPreview(status({ video_previews: true }), video)).toBe(false);
    expect(needsPreview(null, video)).toBe(false);
    expect(needsPreview(status({ video_previews: false }), { ...video, thumbnail_hash: 'ab'.repeat(32) })).toBe(false);
    expect(needsPreview(status({ video_previews: false }), { ...video, kind: 'paper' })).toBe(false);
  });
});

/** A `<video>` stand-in: the test fires its events. */
class FakeVideo extends EventTarget implements VideoLike {
  muted = false;
  preload = '';
  crossOrigin: string | null = null;
  src = '';
  duration = Number.NaN;
  videoWidth = 0;
  videoHeight = 0;
  seeks: number[] = [];
  removed = false;
  loads = 0;
  private time = 0;
  get currentTime() {
    return this.time;
  }
  set currentTime(t: number) {
    this.time = t;
    this.seeks.push(t);
  }
  removeAttribute(name: string) {
    if (name === 'src') this.src = '';
  }
  load() {
    this.loads++;
  }
  remove() {
    this.removed = true;
  }
  fire(type: string) {
    this.dispatchEvent(new Event(type));
  }
  override addEventListener(type: string, listener: () => void) {
    super.addEventListener(type, listener);
  }
  override removeEventListener(type: string, listener: () => void) {
    super.removeEventListener(type, listener);
  }
}

function harness(jpeg: number[] | null = [0xff, 0xd8, 0xff, 0xe0]) {
  const video = new FakeVideo();
  const drawn: unknown[][] = [];
  const encoded: [string | undefined, number | undefined][] = [];
  const canvas: CanvasLike = {
    width: 0,
    height: 0,
    getContext: () => ({
      drawImage: (...args: unknown[]) => {
        drawn.push(args);
      },
    }),
    toBlob: (cb, type, quality) => {
      encoded.push([type, quality]);
      queueMicrotask(() => cb(jpeg ? new Blob([new Uint8Array(jpeg)]) : null));
    },
  };
  const timers: (() => void)[] = [];
  const env: PreviewEnv = {
    createVideo: () => video,
    createCanvas: () => canvas,
    setTimeout: (fn) => {
      timers.push(fn);
      return timers.length;
    },
    clearTimeout: vi.fn(),
  };
  return { video, canvas, drawn, encoded, env, timers };
}

describe('capturePreview', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('loads the video muted, seeks 10% in and draws that frame at most 320 wide as a JPEG', async () => {
    const h = harness();
    const done = capturePreview('/media/abc?token=t', h.env);
    expect(h.video.src).toBe('/media/abc?token=t');
    expect(h.video.muted).toBe(true);
    expect(h.video.preload).toBe('auto');
    h.video.duration = 42.5;
    h.video.videoWidth = 1280;
    h.video.videoHeight = 720;
    h.video.fire('loadeddata');
    expect(h.video.seeks).toEqual([4.25]);
    expect(h.drawn).toHaveLength(0);
    h.video.fire('seeked');
    await expect(done).resolves.toEqual({ thumbnail: '/9j/4A==', durationMs: 42_500 });
    expect(h.canvas.width).toBe(320);
    expect(h.canvas.height).toBe(180);
    expect(h.drawn).toEqual([[h.video, 0, 0, 320, 180]]);
    expect(h.encoded).toEqual([[PREVIEW_TYPE, PREVIEW_QUALITY]]);
    expect(PREVIEW_TYPE).toBe('image/jpeg');
    expect(PREVIEW_QUALITY).toBe(0.7);
    // the element lets go of the video
    expect(h.video.src).toBe('');
    expect(h.video.loads).toBe(1);
    expect(h.video.removed).toBe(true);
  });

  it('takes the first frame of a video whose length is unknown', async () => {
    const h = harness();
    const done = capturePreview('/media/x', h.env);
    h.video.videoWidth = 200;
    h.video.videoHeight = 100;
    h.video.fire('loadeddata');
    await expect(done).resolves.toEqual({ thumbnail: '/9j/4A==', durationMs: null });
    expect(h.video.seeks).toEqual([]);
    expect(h.canvas.width).toBe(200);
  });

  it('fails, and cleans up, when the video cannot be loaded', async () => {
    const h = harness();
    const done = capturePreview('/media/x', h.env);
    h.video.fire('error');
    await expect(done).rejects.toThrow(/could not be loaded/);
    expect(h.video.removed).toBe(true);
  });

  it('fails when the frame cannot be encoded', async () => {
    const h = harness(null);
    const done = capturePreview('/media/x', h.env);
    h.video.duration = 20;
    h.video.videoWidth = 640;
    h.video.videoHeight = 360;
    h.video.fire('loadeddata');
    h.video.fire('seeked');
    await expect(done).rejects.toThrow(/could not be encoded/);
  });

  it('gives up after a while', async () => {
    const h = harness();
    const spy = vi.spyOn(h.env, 'setTimeout');
    const done = capturePreview('/media/x', h.env);
    expect(spy.mock.calls[0]![1]).toBe(PREVIEW_TIMEOUT_MS);
    h.timers[0]!();
    await expect(done).rejects.toThrow(/too long/);
    expect(h.video.removed).toBe(true);
  });
});

describe('addVideoPreview', () => {
  it('captures the video from the node and gives the node the picture and length', async () => {
    const b = new FakeBackend();
    const r = resource({ kind: 'video', files: [{ path: 'a.srt', size: 1 }, { path: 'a.mp4', size: 9 }] });
    b.addResource(r);
    const h = harness();
    const done = addVideoPreview(b, r, h.env);
    await vi.waitFor(() => expect(h.video.src).not.toBe(''));
    expect(b.mediaUrl).toHaveBeenCalledWith(r.content_id, 1);
    h.video.duration = 600;
    h.video.videoWidth = 320;
    h.video.videoHeight = 240;
    h.video.fire('loadeddata');
    expect(h.video.seeks).toEqual([10]);
    h.video.fire('seeked');
    const updated = await done;
    expect(b.on.set_preview).toHaveBeenCalledWith({ content_id: r.content_id, thumbnail: '/9j/4A==', duration_ms: 600_000 });
    expect(updated.thumbnail_hash).not.toBeNull();
  });

  it('does not ask the node when the capture fails', async () => {
    const b = new FakeBackend();
    const h = harness();
    const done = addVideoPreview(b, resource({ kind: 'video' }), h.env);
    await vi.waitFor(() => expect(h.video.src).not.toBe(''));
    h.video.fire('error');
    await expect(done).rejects.toThrow();
    expect(b.on.set_preview).not.toHaveBeenCalled();
  });
});
