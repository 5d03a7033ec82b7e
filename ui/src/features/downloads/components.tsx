import { useState } from 'preact/hooks';
import type { Download } from '../../api/types';
import { describeError } from '../../backend';
import { useBackend, useDownloadsView } from '../../context';
import { downloadStateLabel } from '../catalog/catalog';
import { formatBytes, formatEta, formatSpeed, percent } from '../../util/format';
import { CopyButton } from '../../components/common';
import { ConfirmButton } from '../../components/ConfirmButton';
import { CloseIcon, FolderIcon, PauseIcon, PlayIcon } from '../../components/icons';
import type { Action } from '../../util/useAction';
import './downloads.css';

/** A bar from 0 to 100 with its value for assistive technology. */
export function ProgressBar({
  value,
  label,
  tone = 'active',
  testId,
}: {
  value: number;
  label: string;
  tone?: 'active' | 'paused' | 'done' | 'failed';
  testId?: string;
}) {
  const v = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div
      class={`progress progress-${tone}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={v}
      aria-valuetext={`${v}%`}
      data-testid={testId}
    >
      <div class="progress-fill" style={{ width: `${v}%` }} />
    </div>
  );
}

export function toneOf(d: Download): 'active' | 'paused' | 'done' | 'failed' {
  switch (d.state) {
    case 'complete':
      return 'done';
    case 'paused':
      return 'paused';
    case 'failed':
      return 'failed';
    default:
      return 'active';
  }
}

/** "1.2 MB of 3 MB · 820 kB/s · 3 peers · 4 s left", as fits the download's state. */
export function DownloadStats({ download: d }: { download: Download }) {
  const active = d.state === 'downloading' || d.state === 'starting';
  const eta = active ? formatEta(d.eta_secs) : null;
  return (
    <div class="dl-stats" data-testid="download-stats">
      <span class={`dl-state dl-state-${d.state}`} data-testid="download-state">
        {downloadStateLabel(d.state)}
      </span>
      <span data-testid="download-percent">{percent(d.progress)}%</span>
      <span data-testid="download-bytes">
        {d.state === 'complete' ? formatBytes(d.total_bytes) : `${formatBytes(d.have_bytes)} of ${formatBytes(d.total_bytes)}`}
      </span>
      {active && <span title="Download speed">{formatSpeed(d.down_bps)}</span>}
      {(active || d.peers > 0) && d.state !== 'complete' && (
        <span title="Peers sending data">
          {d.peers} {d.peers === 1 ? 'peer' : 'peers'}
        </span>
      )}
      {d.state === 'complete' && d.up_bps > 0 && <span title="Sending to other peers now">↑ {formatSpeed(d.up_bps)}</span>}
      {(d.uploaded_bytes ?? 0) > 0 && <span title="Sent to other peers so far">shared {formatBytes(d.uploaded_bytes)}</span>}
      {active && <span title="Time left">{eta ? `${eta} left` : 'time left unknown'}</span>}
      {active && d.note && (
        <span class="dl-note" title={d.note} data-testid="download-note">
          {d.route === 'relay_only' ? 'relay only' : d.note}
        </span>
      )}
    </div>
  );
}

/** Opens a resource's folder on the node and says where it is (a browser cannot open it itself). */
export function OpenFolderButton({ contentId, quiet = false }: { contentId: string; quiet?: boolean }) {
  const backend = useBackend();
  const [busy, setBusy] = useState(false);
  const [path, setPath] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const onClick = async () => {
    setBusy(true);
    setError(null);
    try {
      setPath(await backend.call('open_folder', { content_id: contentId }));
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="open-folder">
      <button
        type="button"
        class={quiet ? 'btn btn-quiet' : 'btn'}
        onClick={onClick}
        disabled={busy}
        data-testid="open-folder"
      >
        <FolderIcon size={15} /> Open folder
      </button>
      {path && (
        <span class="copy-line folder-path" role="status" data-testid="folder-path">
          <code class="mono wrap" title="The folder on the node's disk">
            {path}
          </code>
          <CopyButton text={path} label="Copy folder path" />
        </span>
      )}
      {error && (
        <span class="form-msg err" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}

/**
 * Pause, resume (retry, after a failure) and cancel, as fits the download's state. `compact`:
 * icon buttons, for a row of the Downloads page; otherwise buttons with their words.
 */
export function DownloadControls({ download: d, action, compact = false }: { download: Download; action: Action; compact?: boolean }) {
  const backend = useBackend();
  const downloads = useDownloadsView();
  const id = { content_id: d.content_id };
  const active = d.state === 'downloading' || d.state === 'starting';
  const button = (label: string, Icon: typeof PauseIcon, onClick: () => void, testId: string) =>
    compact ? (
      <button type="button" class="icon-btn" aria-label={`${label} ${d.title}`} title={label} disabled={action.busy} onClick={onClick} data-testid={testId}>
        <Icon size={16} />
      </button>
    ) : (
      <button type="button" class="btn btn-quiet" disabled={action.busy} onClick={onClick} data-testid={testId}>
        <Icon size={15} /> {label}
      </button>
    );
  return (
    <>
      {active && button('Pause', PauseIcon, () => void action.run(() => backend.call('pause_download', id)), 'download-pause')}
      {(d.state === 'paused' || d.state === 'failed') &&
        button(d.state === 'failed' ? 'Retry' : 'Resume', PlayIcon, () => void action.run(() => backend.call('resume_download', id)), 'download-resume')}
      {d.state !== 'complete' && (
        <ConfirmButton
          label="Cancel"
          confirmLabel="Cancel download"
          question={compact ? 'Stop and delete?' : 'Stop and delete what was downloaded?'}
          icon={<CloseIcon size={15} />}
          disabled={action.busy}
          onConfirm={() =>
            action.run(async () => {
              await backend.call('cancel_download', id);
              downloads.remove(d.content_id);
            })
          }
          testId="download-cancel"
        />
      )}
    </>
  );
}
