import { useEffect, useRef, useState } from 'preact/hooks';
import type { Resource } from '../../api/types';
import { describeError } from '../../backend';
import { useBackend } from '../../context';
import { playableFile } from '../catalog/catalog';
import { formatDuration } from '../../util/format';
import { KindIcon, useThumbnailUrl } from '../catalog/components';
import { CopyButton } from '../../components/common';
import { AlertIcon, PlayIcon, RefreshIcon } from '../../components/icons';
import './video.css';

/** `MediaError.MEDIA_ERR_NETWORK`: the bytes stopped coming, the file itself may be fine. */
const MEDIA_ERR_NETWORK = 2;

type Phase = 'idle' | 'started' | 'error';

/**
 * Plays a video or audio resource from the node, whether or not it is on its disk yet (the
 * node fetches what is played first). Nothing is requested until the person presses play.
 */
export function MediaPlayer({ resource: r, onStarted }: { resource: Resource; onStarted?: () => void }) {
  const backend = useBackend();
  const poster = useThumbnailUrl(r);
  const media = useRef<HTMLMediaElement | null>(null);
  const [phase, setPhase] = useState<Phase>('idle');
  const [buffering, setBuffering] = useState(false);
  const [errorCode, setErrorCode] = useState<number | null>(null);
  const told = useRef(false);
  const latestOnStarted = useRef(onStarted);
  latestOnStarted.current = onStarted;
  // The last element stays at hand after it leaves the page, so it can be stopped then.
  const keep = (el: HTMLMediaElement | null) => {
    if (el) media.current = el;
  };
  const audio = r.kind === 'audio';
  const length = formatDuration(r.duration_ms);

  // The element's events, attached while it is on the page.
  useEffect(() => {
    const el = media.current;
    if (!el || phase === 'error') return;
    const onPlaying = () => {
      setBuffering(false);
      if (!told.current) {
        told.current = true;
        latestOnStarted.current?.();
      }
    };
    const onWaiting = () => setBuffering(true);
    const onCanPlay = () => setBuffering(false);
    const onError = () => {
      if (!el.getAttribute('src')) return; // emptied on purpose
      setErrorCode(el.error?.code ?? null);
      setBuffering(false);
      setPhase('error');
      stopLoading(el);
    };
    el.addEventListener('playing', onPlaying);
    el.addEventListener('waiting', onWaiting);
    el.addEventListener('canplay', onCanPlay);
    el.addEventListener('pause', onCanPlay);
    el.addEventListener('error', onError);
    return () => {
      el.removeEventListener('playing', onPlaying);
      el.removeEventListener('waiting', onWaiting);
      el.removeEventListener('canplay', onCanPlay);
      el.removeEventListener('pause', onCanPlay);
      el.removeEventListener('error', onError);
    };
  }, [phase === 'error']);

  // A media element taken off the page keeps playing (and loading) until it is collected.
  useEffect(
    () => () => {
      if (media.current) stopLoading(media.current);
    },
    [],
  );

  const play = async () => {
    const el = media.current;
    if (!el) return;
    setPhase('started');
    setBuffering(true);
    try {
      el.src = await backend.mediaUrl(r.content_id, playableFile(r));
    } catch (e) {
      console.warn('no address to play from', e);
      setBuffering(false);
      setErrorCode(MEDIA_ERR_NETWORK);
      setPhase('error');
      return;
    }
    let started: Promise<void> | undefined;
    try {
      started = el.play();
    } catch (e) {
      console.warn('cannot start the player', e);
    }
    started?.catch((e: unknown) => {
      // Not allowed to start by itself, or interrupted: its own controls can start it. A
      // format it cannot play is reported by the `error` event.
      if (!el.error) setBuffering(false);
      if (!(e instanceof DOMException && e.name === 'AbortError')) console.warn('the player did not start', e);
    });
  };

  if (phase === 'error') {
    return (
      <PlayerError
        contentId={r.content_id}
        what={audio ? 'audio' : 'video'}
        network={errorCode === MEDIA_ERR_NETWORK}
        onRetry={() => {
          setErrorCode(null);
          setPhase('idle');
        }}
      />
    );
  }

  const started = phase === 'started';
  const unavailable = r.local === 'none' && !r.available;
  const startButton = !started && (
    <button
      type="button"
      class={audio ? 'player-start player-start-audio' : 'player-start'}
      onClick={play}
      aria-label={`Play ${r.title}`}
      data-testid="play"
    >
      <span class="player-play-icon">
        <PlayIcon size={audio ? 22 : 30} />
      </span>
      {audio && <span class="player-start-label">Play{length ? ` · ${length}` : ''}</span>}
      {!audio && length && <span class="player-length">{length}</span>}
    </button>
  );
  const bufferingNote = started && buffering && (
    <div class="player-buffering" role="status" data-testid="player-buffering">
      <RefreshIcon size={15} class="spin" /> Buffering…
    </div>
  );

  return (
    <div class={audio ? 'player player-audio' : 'player player-video'} data-testid="player-box">
      {audio ? (
        <div class="player-audio-row">
          {poster ? (
            <img class="player-cover" src={poster} alt="" loading="lazy" decoding="async" />
          ) : (
            <span class="player-cover thumb-kind kind-audio">
              <KindIcon kind="audio" size={30} />
            </span>
          )}
          <div class="player-audio-main">
            {startButton}
            <audio
              ref={keep}
              class="player-media"
              controls
              preload="auto"
              hidden={!started}
              data-testid="player"
            />
            {bufferingNote}
          </div>
        </div>
      ) : (
        <div class="player-stage">
          <video
            ref={keep}
            class="player-media"
            controls
            preload="auto"
            playsInline
            poster={poster ?? undefined}
            data-testid="player"
          />
          {!started && !poster && (
            <span class="player-placeholder" aria-hidden="true">
              <KindIcon kind="video" size={44} />
            </span>
          )}
          {startButton}
          {bufferingNote}
        </div>
      )}
      {!started && unavailable && (
        <p class="player-note muted" data-testid="player-unavailable">
          No holder is online right now: it plays once one comes back.
        </p>
      )}
    </div>
  );
}

/** Stops an element's playback and download. */
function stopLoading(el: HTMLMediaElement) {
  try {
    el.pause();
    el.removeAttribute('src');
    el.load();
  } catch {
    // already gone
  }
}

/** What the player says when it cannot play the file, with the system's player as a way out. */
function PlayerError({
  contentId,
  what,
  network,
  onRetry,
}: {
  contentId: string;
  what: 'video' | 'audio';
  network: boolean;
  onRetry: () => void;
}) {
  const backend = useBackend();
  const [busy, setBusy] = useState(false);
  const [path, setPath] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const open = async () => {
    setBusy(true);
    setError(null);
    try {
      setPath(await backend.call('open_file', { content_id: contentId }));
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="player player-failed" role="alert" data-testid="player-error">
      <div class="player-error-text">
        <AlertIcon size={18} />
        <p>
          {network
            ? `The ${what} stopped loading: the connection to your node was interrupted.`
            : `This ${what} can't be played in Hearth's player (its format or codec isn't supported here).`}
        </p>
      </div>
      <div class="player-error-actions">
        <button type="button" class="btn" onClick={open} disabled={busy} data-testid="open-system-player">
          <PlayIcon size={15} /> Open in system player
        </button>
        {network && (
          <button type="button" class="btn btn-quiet" onClick={onRetry} data-testid="player-retry">
            <RefreshIcon size={15} /> Try again
          </button>
        )}
      </div>
      {path && (
        <p class="form-msg ok player-opened" role="status" data-testid="player-opened">
          <span>Opened</span>
          <code class="mono wrap" title={backend.kind === 'http' ? "On the node's computer" : undefined}>
            {path}
          </code>
          <CopyButton text={path} label="Copy file path" />
          {backend.kind === 'http' && <span class="muted">on the node's computer</span>}
        </p>
      )}
      {error && (
        <p class="form-msg err" data-testid="player-open-error">
          {error}
        </p>
      )}
    </div>
  );
}
