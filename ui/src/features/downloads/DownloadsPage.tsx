import { useEffect } from 'preact/hooks';
import type { Download } from '../../api/types';
import { EmptyState, PageHeader } from '../../components/common';
import { DownloadControls, DownloadStats, OpenFolderButton, ProgressBar, toneOf } from './components';
import { DownloadIcon } from '../../components/icons';
import { useAction } from '../../util/useAction';
import { useDownloadsView } from '../../context';
import { href, resourceHref } from '../../router';
import { activeCount, sortedDownloads } from '../catalog/catalog';
import { percent } from '../../util/format';

export function DownloadsPage() {
  const downloads = useDownloadsView();
  const list = sortedDownloads(downloads.state);
  const active = activeCount(downloads.state);

  // The list is kept live from events; fetch it afresh when the page opens all the same.
  useEffect(() => {
    void downloads.refresh();
  }, []);

  const subtitle =
    list.length === 0
      ? 'Transfers from your peers'
      : `${active} active · ${list.length} ${list.length === 1 ? 'download' : 'downloads'}`;

  return (
    <section class="page" data-testid="page-downloads">
      <PageHeader title="Downloads" subtitle={subtitle} />
      {!downloads.loaded && downloads.error && (
        <p class="form-msg err" role="alert">
          Could not load your downloads: {downloads.error}
        </p>
      )}
      {!downloads.loaded && !downloads.error && <p class="muted">Loading…</p>}
      {downloads.loaded && list.length === 0 && (
        <EmptyState icon={<DownloadIcon size={30} />} title="No downloads" testId="downloads-empty">
          <p>
            What you download from your peers shows here while it transfers, with its progress,
            speed and the peers it comes from. Your node then keeps sharing it.
          </p>
          <p>
            <a href={href('explore')}>Find something in Explore</a>
          </p>
        </EmptyState>
      )}
      {list.length > 0 && (
        <ul class="list-col download-list" data-testid="download-list">
          {list.map((d) => (
            <DownloadRow key={d.content_id} download={d} />
          ))}
        </ul>
      )}
    </section>
  );
}

function DownloadRow({ download: d }: { download: Download }) {
  const action = useAction();

  return (
    <li class={`download-row card state-${d.state}`} data-testid="download-row" data-content-id={d.content_id} data-state={d.state}>
      <div class="download-head">
        <a class="download-title" href={resourceHref(d.content_id)} title={d.title} data-testid="download-title">
          {d.title || d.content_id}
        </a>
        {d.mirror && (
          <span class="chip chip-mirror" title="Fetched by itself: you mirror its publisher" data-testid="download-mirror">
            mirror
          </span>
        )}
        <div class="download-actions">
          <DownloadControls download={d} action={action} compact />
        </div>
      </div>
      <ProgressBar value={percent(d.progress)} label={`Download of ${d.title}`} tone={toneOf(d)} testId="download-progress" />
      <div class="download-foot">
        <DownloadStats download={d} />
        <OpenFolderButton contentId={d.content_id} quiet />
      </div>
      {d.error && (
        <p class="form-msg err" data-testid="download-failure">
          {d.error}
        </p>
      )}
      {action.error && (
        <p class="form-msg err" role="alert">
          {action.error}
        </p>
      )}
    </li>
  );
}
