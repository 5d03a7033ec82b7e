import { useEffect, useState } from 'preact/hooks';
import type { NotificationSettings, Settings, SettingsUpdate } from '../../api/types';
import type { NotificationAccess } from '../../backend';
import { describeError } from '../../backend';
import { AlertIcon, CheckIcon, DownloadIcon, FolderIcon, RefreshIcon, RadarIcon } from '../../components/icons';
import { useBackend } from '../../context';

/** Names of settings that wait for a restart, in the words of the Settings page. */
const LATER: Record<string, string> = {
  mdns: 'local network discovery',
  listen: 'listen addresses',
  download_dir: 'download folder',
  relay_service: 'relaying for others',
};

export interface PrefsProps {
  settings: Settings | null;
  onChanged: (s: Settings) => void;
}

/** Saves one change and reports how it went. */
function useSave(onChanged: (s: Settings) => void) {
  const backend = useBackend();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const save = async (update: SettingsUpdate): Promise<boolean> => {
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      onChanged(await backend.call('update_settings', update));
      setSaved(true);
      return true;
    } catch (err) {
      setError(describeError(err));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, saved, save, clear: () => setSaved(false) };
}

function Switch({
  checked,
  disabled,
  onChange,
  label,
  testId,
}: {
  checked: boolean;
  disabled?: boolean;
  onChange: (on: boolean) => void;
  label: string;
  testId: string;
}) {
  return (
    <label class="switch" title={label}>
      <input
        type="checkbox"
        checked={checked}
        disabled={disabled}
        aria-label={label}
        onChange={(e) => onChange(e.currentTarget.checked)}
        data-testid={testId}
      />
      <span class="switch-track" />
    </label>
  );
}

/** "Saved settings wait for a restart": what, and a button that restarts the node. */
export function RestartBanner({ settings }: { settings: Settings | null }) {
  const backend = useBackend();
  const [state, setState] = useState<'idle' | 'restarting' | string>('idle');
  const pending = settings?.pending_restart ?? [];
  useEffect(() => {
    if (pending.length === 0) setState('idle');
  }, [pending.length]);
  if (pending.length === 0) return null;
  const what = pending.map((p) => LATER[p] ?? p).join(', ');
  const restart = async () => {
    setState('restarting');
    try {
      await backend.call('restart');
    } catch (err) {
      setState(describeError(err));
    }
  };
  return (
    <div class="banner banner-warn restart-banner" role="status" data-testid="restart-banner">
      <RefreshIcon size={16} class={state === 'restarting' ? 'spin' : undefined} />
      <span>
        {state === 'restarting' ? 'Restarting Hearth…' : `Saved; takes effect after a restart: ${what}.`}
        {state !== 'idle' && state !== 'restarting' && <span class="form-msg err"> {state}</span>}
      </span>
      <button class="btn" type="button" onClick={restart} disabled={state === 'restarting'} data-testid="restart-now">
        Restart now
      </button>
    </div>
  );
}

/** mDNS, relaying and the listen addresses: how the node meets peers. */
export function ConnectionSettings({ settings, onChanged }: PrefsProps) {
  const { busy, error, saved, save, clear } = useSave(onChanged);
  const [draft, setDraft] = useState<string | null>(null);
  const listen = settings?.listen.join('\n') ?? '';
  const value = draft ?? listen;
  const dirty = draft !== null && draft.trim() !== listen.trim();
  const onSubmit = async (e: Event) => {
    e.preventDefault();
    const list = value
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    if (await save({ listen: list })) setDraft(null);
  };
  return (
    <>
      <div class="setting setting-inline">
        <RadarIcon size={18} />
        <div>
          <div class="setting-label">Local network discovery (mDNS)</div>
          <p class="setting-help">Finds other Hearth nodes on the same network automatically.</p>
        </div>
        <Switch
          checked={settings?.mdns ?? false}
          disabled={!settings || busy}
          onChange={(on) => void save({ mdns: on })}
          label="Local network discovery"
          testId="mdns-switch"
        />
      </div>
      <div class="setting setting-inline">
        <RadarIcon size={18} />
        <div>
          <div class="setting-label">Relay for peers behind routers</div>
          <p class="setting-help">
            When others can reach this node directly, it carries connections for peers behind home routers, within
            fixed limits.
          </p>
        </div>
        <Switch
          checked={settings?.relay_service ?? false}
          disabled={!settings || busy}
          onChange={(on) => void save({ relay_service: on })}
          label="Relay for peers behind routers"
          testId="relay-switch"
        />
      </div>
      <form class="setting" onSubmit={onSubmit}>
        <label class="setting-label" for="listen-addrs">
          Listen addresses
        </label>
        <p class="setting-help">
          One per line, e.g. <code>/ip4/0.0.0.0/tcp/4001</code> and <code>/ip4/0.0.0.0/udp/4001/quic-v1</code>. A
          fixed port is one you can forward on your router.
        </p>
        <textarea
          id="listen-addrs"
          class="input mono textarea"
          rows={Math.max(2, value.split('\n').length)}
          value={value}
          spellcheck={false}
          disabled={!settings || busy}
          onInput={(e) => {
            setDraft(e.currentTarget.value);
            clear();
          }}
          data-testid="listen-edit"
        />
        <div class="form-footer">
          {error && (
            <span class="form-msg err" role="alert" data-testid="connection-error">
              {error}
            </span>
          )}
          <button class="btn" type="submit" disabled={!settings || busy || !dirty} data-testid="listen-save">
            Save addresses
          </button>
          {saved && !dirty && !error && (
            <span class="form-msg ok" role="status">
              <CheckIcon size={15} /> Saved
            </span>
          )}
        </div>
      </form>
    </>
  );
}

/** Bytes per second as megabytes per second for a field ('' when unlimited). */
function toMbs(bps: number | null | undefined): string {
  return bps ? String(Math.round((bps / 1_000_000) * 100) / 100) : '';
}

/** A field's megabytes per second as bytes per second (0: unlimited), or `null` if not a number. */
export function fromMbs(text: string): number | null {
  const t = text.trim();
  if (t === '') return 0;
  const n = Number(t);
  if (!Number.isFinite(n) || n < 0) return null;
  return Math.round(n * 1_000_000);
}

/** Where downloads go and how fast BitTorrent may go. */
export function TransferSettings({ settings, onChanged }: PrefsProps) {
  const backend = useBackend();
  const { busy, error, saved, save, clear } = useSave(onChanged);
  const [dir, setDir] = useState<string | null>(null);
  const [down, setDown] = useState<string | null>(null);
  const [up, setUp] = useState<string | null>(null);
  const [localError, setLocalError] = useState<string | null>(null);
  const dirValue = dir ?? settings?.download_dir ?? '';
  const downValue = down ?? toMbs(settings?.bt_download_limit_bps);
  const upValue = up ?? toMbs(settings?.bt_upload_limit_bps);
  const dirty = dir !== null || down !== null || up !== null;

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    const update: SettingsUpdate = {};
    if (dir !== null && dir.trim() !== settings?.download_dir) update.download_dir = dir.trim();
    for (const [text, key] of [
      [down, 'bt_download_limit_bps'],
      [up, 'bt_upload_limit_bps'],
    ] as const) {
      if (text === null) continue;
      const bps = fromMbs(text);
      if (bps === null) {
        setLocalError('Give speed limits in MB/s, e.g. 2.5, or leave them empty for no limit.');
        return;
      }
      update[key] = bps;
    }
    setLocalError(null);
    if (await save(update)) {
      setDir(null);
      setDown(null);
      setUp(null);
    }
  };

  const choose = backend.pickFolder
    ? async () => {
        const picked = await backend.pickFolder!('Download folder');
        if (picked) {
          setDir(picked);
          clear();
        }
      }
    : null;

  return (
    <form class="card settings-card" onSubmit={onSubmit} data-testid="transfer-card">
      <div class="card-head">
        <DownloadIcon size={18} />
        <h2>Transfers</h2>
        <span class="card-head-note">Where downloads go, and how fast</span>
      </div>
      <div class="setting">
        <label class="setting-label" for="download-dir">
          Download folder
        </label>
        <div class="input-row">
          <input
            id="download-dir"
            class="input mono"
            type="text"
            value={dirValue}
            spellcheck={false}
            disabled={!settings || busy}
            onInput={(e) => {
              setDir(e.currentTarget.value);
              clear();
            }}
            data-testid="download-dir"
          />
          {choose && (
            <button class="btn" type="button" onClick={choose} disabled={!settings || busy} data-testid="download-dir-pick">
              <FolderIcon size={16} /> Choose…
            </button>
          )}
        </div>
      </div>
      <div class="setting limits-row">
        <label class="field">
          <span class="field-label">Download limit (MB/s)</span>
          <input
            class="input"
            type="text"
            inputMode="decimal"
            placeholder="no limit"
            value={downValue}
            disabled={!settings || busy}
            onInput={(e) => {
              setDown(e.currentTarget.value);
              clear();
            }}
            data-testid="limit-down"
          />
        </label>
        <label class="field">
          <span class="field-label">Upload limit (MB/s)</span>
          <input
            class="input"
            type="text"
            inputMode="decimal"
            placeholder="no limit"
            value={upValue}
            disabled={!settings || busy}
            onInput={(e) => {
              setUp(e.currentTarget.value);
              clear();
            }}
            data-testid="limit-up"
          />
        </label>
      </div>
      <div class="form-footer">
        {(localError ?? error) && (
          <span class="form-msg err" role="alert" data-testid="transfer-error">
            {localError ?? error}
          </span>
        )}
        {saved && !dirty && !error && (
          <span class="form-msg ok" role="status" data-testid="transfer-saved">
            <CheckIcon size={15} /> Saved
          </span>
        )}
        <button class="btn btn-primary" type="submit" disabled={!settings || busy || !dirty} data-testid="transfer-save">
          {busy ? 'Saving…' : 'Save'}
        </button>
      </div>
    </form>
  );
}

const KINDS: { key: keyof NotificationSettings; label: string; help: string }[] = [
  { key: 'chat', label: 'Messages', help: 'A message in a room or conversation you are not looking at.' },
  { key: 'downloads', label: 'Finished downloads', help: 'A download you started is complete.' },
  { key: 'followed_items', label: 'New from people you follow', help: 'Someone you follow published something.' },
  { key: 'mirror_full', label: 'Mirror quota full', help: 'New items from peers you mirror no longer fit.' },
  { key: 'followed_online', label: 'People you follow come online', help: 'Off by default.' },
];

/** Which desktop notifications to show, and (in a browser) permission to show them. */
export function NotificationSettingsCard({ settings, onChanged }: PrefsProps) {
  const backend = useBackend();
  const { busy, error, save } = useSave(onChanged);
  const [access, setAccess] = useState<NotificationAccess>(() => backend.notificationPermission());
  const current = settings?.notifications;
  const desktop = backend.kind === 'tauri';
  return (
    <div class="card settings-card" data-testid="notifications-card">
      <div class="card-head">
        <AlertIcon size={18} />
        <h2>Notifications</h2>
        <span class="card-head-note">{desktop ? 'Desktop notifications' : 'Notifications from this browser tab'}</span>
      </div>
      {access !== 'granted' && (
        <div class="setting notify-access" data-testid="notify-access">
          {access === 'unsupported' && <p class="setting-help">This browser cannot show notifications.</p>}
          {access === 'denied' && (
            <p class="setting-help">Notifications are blocked for this page: allow them in the browser’s site settings.</p>
          )}
          {access === 'default' && (
            <button
              class="btn"
              type="button"
              onClick={async () => setAccess(await backend.askNotifications())}
              data-testid="notify-allow"
            >
              Allow notifications in this browser
            </button>
          )}
        </div>
      )}
      {KINDS.map((k) => (
        <div class="setting setting-inline" key={k.key}>
          <div>
            <div class="setting-label">{k.label}</div>
            <p class="setting-help">{k.help}</p>
          </div>
          <Switch
            checked={current?.[k.key] ?? false}
            disabled={!current || busy}
            onChange={(on) => current && void save({ notifications: { ...current, [k.key]: on } })}
            label={k.label}
            testId={`notify-${k.key}`}
          />
        </div>
      ))}
      {desktop && (
        <div class="setting setting-inline">
          <div>
            <div class="setting-label">Keep running in the tray when the window closes</div>
            <p class="setting-help">Hearth goes on sharing and chatting; the tray icon brings the window back.</p>
          </div>
          <Switch
            checked={settings?.close_to_tray ?? true}
            disabled={!settings || busy}
            onChange={(on) => void save({ close_to_tray: on })}
            label="Keep running in the tray"
            testId="close-to-tray"
          />
        </div>
      )}
      <AutostartSetting />
      {error && (
        <p class="form-msg err" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/** "Start Hearth when I log in" (desktop only: the shell writes an XDG autostart entry). */
function AutostartSetting() {
  const backend = useBackend();
  const autostart = backend.autostart;
  const [on, setOn] = useState<boolean | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!autostart) return;
    let live = true;
    autostart.get().then(
      (v) => live && setOn(v),
      (e) => live && setError(describeError(e)),
    );
    return () => {
      live = false;
    };
  }, [autostart]);
  if (!autostart) return null;
  const change = async (next: boolean) => {
    setBusy(true);
    setError(null);
    try {
      setOn(await autostart.set(next));
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="setting setting-inline" data-testid="autostart-setting">
      <div>
        <div class="setting-label">Start Hearth when I log in</div>
        <p class="setting-help">So your files stay available to peers without opening the app.</p>
        {error && (
          <p class="form-msg err" role="alert" data-testid="autostart-error">
            {error}
          </p>
        )}
      </div>
      <Switch
        checked={on ?? false}
        disabled={on === null || busy}
        onChange={(next) => void change(next)}
        label="Start Hearth when I log in"
        testId="autostart"
      />
    </div>
  );
}
