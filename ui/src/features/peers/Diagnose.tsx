import { useState } from 'preact/hooks';
import type { Diagnosis, PeerInfo } from '../../api/types';
import { describeError } from '../../backend';
import { useBackend } from '../../context';

/** Whether the peer is reached over a connection of its own (not through a relay). */
function directlyConnected(peer: PeerInfo): boolean {
  return peer.connected && peer.connection !== null && peer.connection !== 'relayed';
}

/**
 * The plain-words diagnosis of one peer (`doctor`, as `hearth doctor PEER` prints it): how
 * it is connected, or why it cannot be, and what would fix it. Asked for on demand.
 */
export function Diagnose({ peer }: { peer: PeerInfo }) {
  const backend = useBackend();
  const [open, setOpen] = useState(false);
  const [diagnosis, setDiagnosis] = useState<Diagnosis | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const ask = async () => {
    setBusy(true);
    setError(null);
    try {
      setDiagnosis(await backend.call('doctor', { peer_id: peer.peer_id }));
      setOpen(true);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const direct = directlyConnected(peer);
  return (
    <div class="peer-diagnose" data-testid="peer-diagnose">
      {!direct && peer.last_dial_error && (
        <p class="peer-dial-error" data-testid="peer-dial-error" title={peer.last_dial_error}>
          Last attempt to connect failed: {peer.last_dial_error}
        </p>
      )}
      <button
        type="button"
        class="link-btn"
        onClick={() => (open ? setOpen(false) : void ask())}
        disabled={busy}
        aria-expanded={open}
        data-testid="peer-diagnose-toggle"
      >
        {busy ? 'Checking…' : open ? 'Hide details' : direct ? 'Connection details' : 'Why not directly connected?'}
      </button>
      {open && diagnosis && (
        <div class="diagnosis" data-testid="peer-diagnosis">
          <p class="diagnosis-summary">
            <strong data-testid="peer-diagnosis-summary">{diagnosis.summary}</strong>
            {diagnosis.relay && <span class="muted"> · through the relay {diagnosis.relay}</span>}
            <span class="muted"> · your NAT: {diagnosis.nat}</span>
          </p>
          {diagnosis.findings.length > 0 && (
            <ul class="diagnosis-findings">
              {diagnosis.findings.map((f) => (
                <li key={f}>{f}</li>
              ))}
            </ul>
          )}
          {diagnosis.fixes.length > 0 && (
            <>
              <p class="diagnosis-label">What would help</p>
              <ul class="diagnosis-fixes" data-testid="peer-diagnosis-fixes">
                {diagnosis.fixes.map((f) => (
                  <li key={f}>{f}</li>
                ))}
              </ul>
            </>
          )}
        </div>
      )}
      {error && (
        <p class="form-msg err" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
