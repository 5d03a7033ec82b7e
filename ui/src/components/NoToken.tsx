import { FlameIcon, LockIcon } from './icons';

/** Shown in a browser that has no (or a rejected) API token for the node. */
export function NoToken({ rejected = false }: { rejected?: boolean }) {
  return (
    <main class="gate" data-testid="no-token">
      <div class="gate-card">
        <div class="icon-tile gate-icon">
          {rejected ? <LockIcon size={28} /> : <FlameIcon size={28} />}
        </div>
        <h1>{rejected ? 'This link is no longer valid' : 'Open Hearth from your node'}</h1>
        <p>
          {rejected
            ? 'The node did not accept the access token in this link. It changes when the node restarts.'
            : 'This page needs the access token of your Hearth node, and it was opened without one.'}
        </p>
        <p>
          Open the full address that <code>hearth run</code> printed when it started, the one
          ending in <code>#token=…</code>. If you no longer have it, run <code>hearth status</code>{' '}
          on the same machine to see it again.
        </p>
        <p class="gate-note">
          The token stays in this browser tab only and is removed from the address bar.
        </p>
      </div>
    </main>
  );
}
