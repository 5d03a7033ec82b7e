// A video's preview image taken in the page, for nodes that cannot make one themselves (no
// ffmpeg): a frame a little way in, scaled down, as a JPEG.
import type { Resource, Status } from '../../api/types';
import type { Backend } from '../../backend';
import { playableFile } from '../catalog/catalog';

/** Widest preview image made, in pixels. */
export const PREVIEW_MAX_WIDTH = 320;
/** The frame is taken at 10% of the video, but never later than this (seconds). */
export const PREVIEW_MAX_SEEK_SECS = 10;
export const PREVIEW_TYPE = 'image/jpeg';
export const PREVIEW_QUALITY = 0.7;
/** Give up after this long (the video may never load, e.g. a format the page cannot read). */
export const PREVIEW_TIMEOUT_MS = 60_000;

/** The preview's size for a video frame: scaled down (never up) to `maxWidth`, same shape. */
export function previewSize(
  videoWidth: number,
  videoHeight: number,
  maxWidth = PREVIEW_MAX_WIDTH,
): { width: number; height: number } | null {
  if (!Number.isFinite(videoWidth) || !Number.isFinite(videoHeight) || videoWidth <= 0 || videoHeight <= 0) {
    return null;
  }
  const scale = Math.min(1, maxWidth / videoWidth);
  return {
    width: Math.max(1, Math.round(videoWidth * scale)),
    height: Math.max(1, Math.round(videoHeight * scale)),
  };
}

/** Where to take the frame (seconds): 10% in, at most 10 s; the start when the length is unknown. */
export function previewSeekTime(durationSecs: number): number {
  if (!Number.isFinite(durationSecs) || durationSecs <= 0) return 0;
  return Math.min(durationSecs * 0.1, PREVIEW_MAX_SEEK_SECS);
}

/** Bytes as standard base64 (what the node reads). */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  // In slices: spreading a large array into one call overflows the stack.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export async function blobToBase64(blob: Blob): Promise<string> {
  return bytesToBase64(new Uint8Array(await blob.arrayBuffer()));
}

/** The parts of a `<video>` element the capture uses (so tests can supply a fake). */
export interface VideoLike {
  muted: boolean;
  preload: string;
  crossOrigin: string | null;
  src: string;
  currentTime: number;
  readonly duration: number;
  readonly videoWidth: number;
  readonly videoHeight: number;
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
  removeAttribute(name: string): void;
  load(): void;
  remove(): void;
}

/** The parts of a `<canvas>` element the capture uses. */
export interface CanvasLike {
  width: number;
  height: number;
  getContext(id: '2d'): { drawImage(image: never, dx: number, dy: number, dw: number, dh: number): void } | null;
  toBlob(callback: (blob: Blob | null) => void, type?: string, quality?: number): void;
}

export interface PreviewEnv {
  createVideo: () => VideoLike;
  createCanvas: () => CanvasLike;
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (handle: unknown) => void;
}

/** A hidden, muted video element on the page, and a canvas. */
export function browserPreviewEnv(): PreviewEnv {
  return {
    createVideo: () => {
      const v = document.createElement('video');
      v.setAttribute('aria-hidden', 'true');
      v.style.cssText = 'position:fixed;left:-9999px;top:0;width:4px;height:4px;opacity:0;pointer-events:none';
      document.body.appendChild(v);
      return v;
    },
    createCanvas: () => document.createElement('canvas') as unknown as CanvasLike,
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
  };
}

export interface Preview {
  /** The JPEG, base64. */
  thumbnail: string;
  /** The video's length, when the page could tell. */
  durationMs: number | null;
}

/**
 * Loads the video at `src` in a hidden, muted element, seeks to `previewSeekTime` and draws
 * that frame, at most `PREVIEW_MAX_WIDTH` wide, into a JPEG.
 */
export function capturePreview(src: string, env: PreviewEnv = browserPreviewEnv()): Promise<Preview> {
  return new Promise<Preview>((resolve, reject) => {
    const video = env.createVideo();
    let settled = false;
    let durationMs: number | null = null;

    const finish = (error: Error | null, preview?: Preview) => {
      if (settled) return;
      settled = true;
      env.clearTimeout(timer);
      video.removeEventListener('loadeddata', onLoaded);
      video.removeEventListener('seeked', onSeeked);
      video.removeEventListener('error', onError);
      // Stop loading: the element may hold a connection to the node open otherwise.
      try {
        video.removeAttribute('src');
        video.load();
      } catch {
        // ignore
      }
      video.remove();
      if (error) reject(error);
      else resolve(preview!);
    };

    let drawn = false;
    const draw = () => {
      if (drawn || settled) return;
      drawn = true;
      const size = previewSize(video.videoWidth, video.videoHeight);
      if (!size) {
        finish(new Error('the video has no picture'));
        return;
      }
      const canvas = env.createCanvas();
      canvas.width = size.width;
      canvas.height = size.height;
      const ctx = canvas.getContext('2d');
      if (!ctx) {
        finish(new Error('no canvas to draw on'));
        return;
      }
      try {
        ctx.drawImage(video as never, 0, 0, size.width, size.height);
        canvas.toBlob(
          (blob) => {
            if (!blob) {
              finish(new Error('the frame could not be encoded'));
              return;
            }
            blobToBase64(blob).then(
              (thumbnail) => finish(null, { thumbnail, durationMs }),
              (e: unknown) => finish(e instanceof Error ? e : new Error(String(e))),
            );
          },
          PREVIEW_TYPE,
          PREVIEW_QUALITY,
        );
      } catch (e) {
        // e.g. a canvas the page may not read (media from another origin)
        finish(e instanceof Error ? e : new Error(String(e)));
      }
    };

    const onLoaded = () => {
      const d = video.duration;
      durationMs = Number.isFinite(d) && d > 0 ? Math.round(d * 1000) : null;
      const at = previewSeekTime(d);
      if (at > 0) video.currentTime = at;
      else draw(); // the first frame is there already
    };
    const onSeeked = () => draw();
    const onError = () => finish(new Error('the video could not be loaded'));

    const timer = env.setTimeout(() => finish(new Error('the video took too long to load')), PREVIEW_TIMEOUT_MS);
    video.addEventListener('loadeddata', onLoaded);
    video.addEventListener('seeked', onSeeked);
    video.addEventListener('error', onError);
    video.muted = true;
    video.preload = 'auto';
    // Same origin over HTTP; the desktop app's media scheme is another origin, whose frames
    // the canvas may only read when the scheme allows it.
    video.crossOrigin = 'anonymous';
    video.src = src;
  });
}

/** The node cannot make video previews, and this just-published video has none. */
export function needsPreview(status: Status | null, r: Resource): boolean {
  return status !== null && status.video_previews === false && r.kind === 'video' && !r.thumbnail_hash;
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Takes a preview of one of my videos and gives it to the node. Previews are taken one at a
 * time (each loads a video). Resolves with the updated resource.
 */
export function addVideoPreview(
  backend: Pick<Backend, 'mediaUrl' | 'call'>,
  r: Resource,
  env?: PreviewEnv,
): Promise<Resource> {
  const run = async () => {
    const p = await capturePreview(await backend.mediaUrl(r.content_id, playableFile(r)), env);
    return backend.call('set_preview', { content_id: r.content_id, thumbnail: p.thumbnail, duration_ms: p.durationMs });
  };
  const next = queue.then(run, run);
  queue = next.catch(() => undefined);
  return next;
}
