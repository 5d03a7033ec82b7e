import { useEffect, useRef, useState } from 'preact/hooks';
import type { Profile, Settings } from '../../api/types';
import { describeError } from '../../backend';
import { Avatar, CopyButton, PageHeader } from '../../components/common';
import { CheckIcon, CloseIcon, DatasetIcon, GlobeIcon, PlusIcon, UserIcon } from '../../components/icons';
import { useBackend, useNodeEvents, useNodeView, useNow } from '../../context';
import { href } from '../../router';
import { useReloadable } from '../../util/useReloadable';
import { bytesToGb, formatBytes, formatUptime, gbToBytes } from '../../util/format';
import { AddressInput } from '../../components/AddressInput';
import { InviteCard, JoinForm } from '../peers/Invite';
import { ConnectionSettings, NotificationSettingsCard, RestartBanner, TransferSettings } from './Preferences';
import './settings.css';

export function SettingsPage() {
  const backend = useBackend();
  const {
    value: settings,
    setValue: setSettings,
    loadError,
    reloadSoon,
  } = useReloadable(() => backend.call('get_settings'), [backend]);

  // The space mirrors use changes as mirror copies come and go: ask again once things settle.
  useNodeEvents((event) => {
    if (event.type === 'settings_changed') setSettings(event.settings);
    const mirrors =
      event.type === 'follows_changed' ||
      event.type === 'download_removed' ||
      event.type === 'resync' ||
      (event.type === 'download_progress' && event.download.mirror && event.download.state === 'complete');
    if (mirrors) reloadSoon(500);
  });

  return (
    <section class="page" data-testid="page-settings">
      <PageHeader title="Settings" subtitle="Your profile and how your node joins the network" />
      <RestartBanner settings={settings} />
      <ProfileCard />
      <NetworkCard settings={settings} loadError={loadError} onChanged={setSettings} />
      <TransferSettings settings={settings} onChanged={setSettings} />
      <MirrorCard settings={settings} loadError={loadError} onChanged={setSettings} />
      <NotificationSettingsCard settings={settings} onChanged={setSettings} />
    </section>
  );
}

const EMPTY_PROFILE: Profile = { display_name: '', affiliation: '', bio: '', avatar: undefined };

function sameProfile(a: Profile, b: Profile): boolean {
  return (
    a.display_name === b.display_name &&
    a.affiliation === b.affiliation &&
    a.bio === b.bio &&
    (a.avatar ?? null) === (b.avatar ?? null)
  );
}

/** Largest picture file the node takes (it makes a small square picture of it). */
export const MAX_AVATAR_FILE = 10 * 1024 * 1024;

/** The bytes of a file, base64. */
export function fileToBase64(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result ?? '');
      resolve(url.slice(url.indexOf(',') + 1));
    };
    reader.onerror = () => reject(reader.error ?? new Error('cannot read the file'));
    reader.readAsDataURL(file);
  });
}

/** Choose or remove the profile picture; the node scales it and tells peers. */
export function AvatarPicker({
  current,
  disabled,
  onChanged,
}: {
  current: string | null;
  disabled: boolean;
  onChanged: (p: Profile) => void;
}) {
  const backend = useBackend();
  const input = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const send = async (image: string | null) => {
    setBusy(true);
    setError(null);
    try {
      onChanged(await backend.call('set_avatar', { image }));
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const onPick = async (e: { currentTarget: HTMLInputElement }) => {
    const file = e.currentTarget.files?.[0];
    e.currentTarget.value = '';
    if (!file) return;
    if (file.size > MAX_AVATAR_FILE) {
      setError('This picture is larger than 10 MB: choose a smaller one.');
      return;
    }
    if (file.type && !file.type.startsWith('image/')) {
      setError('Choose an image (JPEG, PNG, GIF or WebP).');
      return;
    }
    let image: string;
    try {
      image = await fileToBase64(file);
    } catch (err) {
      setError(describeError(err));
      return;
    }
    await send(image);
  };

  return (
    <div class="avatar-picker">
      <input
        ref={input}
        type="file"
        accept="image/png,image/jpeg,image/gif,image/webp"
        hidden
        onChange={onPick}
        data-testid="avatar-input"
      />
      <button
        type="button"
        class="btn"
        disabled={disabled || busy}
        onClick={() => input.current?.click()}
        data-testid="avatar-choose"
      >
        {busy ? 'Saving…' : current ? 'Change picture' : 'Add picture'}
      </button>
      {current && (
        <button
          type="button"
          class="btn btn-quiet"
          disabled={disabled || busy}
          onClick={() => send(null)}
          data-testid="avatar-remove"
        >
          Remove
        </button>
      )}
      {error && (
        <span class="form-msg err" role="alert" data-testid="avatar-error">
          {error}
        </span>
      )}
    </div>
  );
}

function ProfileCard() {
  const backend = useBackend();
  const { state, setStatus } = useNodeView();
  const [saved, setSaved] = useState<Profile | null>(null); // what the node has
  const [draft, setDraft] = useState<Profile>(EMPTY_PROFILE);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [justSaved, setJustSaved] = useState(false);

  useEffect(() => {
    let live = true;
    backend.call('get_profile').then(
      (p) => {
        if (!live) return;
        setSaved(p);
        setDraft(p);
      },
      (e) => live && setLoadError(describeError(e)),
    );
    return () => {
      live = false;
    };
  }, [backend]);

  const dirty = saved !== null && !sameProfile(draft, saved);

  // The profile may change elsewhere (another window, the command line): follow it while
  // there is nothing unsaved here.
  const live = state.self?.profile;
  useEffect(() => {
    if (!live || !saved || dirty || sameProfile(live, saved)) return;
    setSaved(live);
    setDraft(live);
  }, [live]);

  const edit = (field: keyof Profile) => (e: { currentTarget: { value: string } }) => {
    setDraft({ ...draft, [field]: e.currentTarget.value });
    setJustSaved(false);
    setError(null);
  };

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setSaving(true);
    setError(null);
    setJustSaved(false);
    const next: Profile = {
      display_name: draft.display_name.trim(),
      affiliation: draft.affiliation.trim(),
      bio: draft.bio.trim(),
    };
    try {
      const stored = await backend.call('set_profile', next);
      setSaved(stored);
      setDraft(stored);
      setJustSaved(true);
      if (state.self) setStatus({ ...state.self, profile: stored });
    } catch (err) {
      setError(describeError(err));
    } finally {
      setSaving(false);
    }
  };

  const self = state.self;
  const previewName = draft.display_name.trim();

  return (
    <form class="card settings-card" onSubmit={onSubmit} data-testid="profile-form">
      <div class="card-head">
        <UserIcon size={18} />
        <h2>Profile</h2>
        <span class="card-head-note">Peers see this next to your peer id</span>
      </div>

      <div class="profile-grid">
        <div class="profile-preview">
          <Avatar id={self?.peer_id ?? 'self'} name={previewName || null} size={64} avatar={saved?.avatar ?? null} />
          <AvatarPicker
            current={saved?.avatar ?? null}
            disabled={saved === null}
            onChanged={(p) => {
              setSaved((s) => (s ? { ...s, avatar: p.avatar } : s));
              setDraft((d) => ({ ...d, avatar: p.avatar }));
              if (state.self) setStatus({ ...state.self, profile: { ...state.self.profile, avatar: p.avatar } });
            }}
          />
        </div>
        <div class="profile-fields">
          <label class="field">
            <span class="field-label">Display name</span>
            <input
              class="input"
              type="text"
              value={draft.display_name}
              onInput={edit('display_name')}
              placeholder="How peers will see you"
              autocomplete="name"
              disabled={saved === null}
              data-testid="profile-display-name"
            />
          </label>
          <label class="field">
            <span class="field-label">Affiliation</span>
            <input
              class="input"
              type="text"
              value={draft.affiliation}
              onInput={edit('affiliation')}
              placeholder="University, lab, group… (optional)"
              autocomplete="organization"
              disabled={saved === null}
              data-testid="profile-affiliation"
            />
          </label>
          <label class="field">
            <span class="field-label">Bio</span>
            <textarea
              class="input textarea"
              rows={4}
              value={draft.bio}
              onInput={edit('bio')}
              placeholder="A few words about you and what you share (optional)"
              disabled={saved === null}
              data-testid="profile-bio"
            />
          </label>
        </div>
      </div>

      <div class="form-footer">
        {loadError && <span class="form-msg err">Could not load your profile: {loadError}</span>}
        {error && (
          <span class="form-msg err" role="alert" data-testid="profile-error">
            {error}
          </span>
        )}
        {justSaved && !dirty && (
          <span class="form-msg ok" role="status" data-testid="profile-saved">
            <CheckIcon size={15} /> Saved
          </span>
        )}
        {dirty && !error && <span class="form-msg muted">Unsaved changes</span>}
        <button
          class="btn btn-primary"
          type="submit"
          disabled={saving || saved === null || !dirty}
          data-testid="profile-save"
        >
          {saving ? 'Saving…' : 'Save'}
        </button>
      </div>
    </form>
  );
}

interface SettingsProps {
  settings: Settings | null;
  loadError: string | null;
  onChanged: (s: Settings) => void;
}

function NetworkCard({ settings, loadError, onChanged }: SettingsProps) {
  const backend = useBackend();
  const { state } = useNodeView();
  const [addr, setAddr] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const run = async (op: () => Promise<Settings>, onDone?: () => void) => {
    setBusy(true);
    setError(null);
    try {
      onChanged(await op());
      onDone?.();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const onAdd = (e: Event) => {
    e.preventDefault();
    const value = addr.trim();
    if (!value) return;
    if (!value.startsWith('/')) {
      setError('A bootstrap address is a multiaddress starting with “/”, ending in /p2p/<peer id>.');
      return;
    }
    void run(() => backend.call('add_bootstrap', { addr: value }), () => setAddr(''));
  };

  const self = state.self;
  const now = useNow(10_000);
  const uptime = self ? self.uptime_secs + Math.max(0, (now - state.selfAt) / 1000) : 0;

  return (
    <div class="card settings-card" data-testid="network-card">
      <div class="card-head">
        <GlobeIcon size={18} />
        <h2>Network</h2>
        {self && (
          <span class="card-head-note">
            Hearth {self.version} · up {formatUptime(uptime)} · NAT {self.nat}
          </span>
        )}
      </div>

      <div class="setting">
        <div class="setting-label">This node’s peer id</div>
        {self ? (
          <div class="copy-line">
            <code class="mono wrap" data-testid="self-peer-id">
              {self.peer_id}
            </code>
            <CopyButton text={self.peer_id} label="Copy peer id" testId="self-peer-id-copy" />
          </div>
        ) : (
          <p class="muted">Loading…</p>
        )}
      </div>

      <div class="setting" data-testid="settings-invite">
        <InviteCard />
      </div>

      <div class="setting">
        <JoinForm />
      </div>

      <div class="setting">
        <div class="setting-label">Your addresses</div>
        <p class="setting-help">Where your node listens. An invite carries the best of these, and relayed ones.</p>
        {self && self.listen_addrs.length > 0 ? (
          <ul class="addr-list" data-testid="listen-addrs">
            {self.listen_addrs.map((a) => (
              <li key={a} class="copy-line">
                <code class="mono wrap">{a}</code>
                <CopyButton text={a} label="Copy address" />
              </li>
            ))}
          </ul>
        ) : (
          <p class="setting-help">{self ? 'The node is not listening on any address yet.' : 'Loading…'}</p>
        )}
      </div>

      <RefusedSetting />

      <div class="setting">
        <div class="setting-label">Bootstrap nodes</div>
        <p class="setting-help">Peers your node dials at start to find the rest of the network.</p>
        {settings && settings.bootstrap.length > 0 && (
          <ul class="addr-list" data-testid="bootstrap-list">
            {settings.bootstrap.map((a) => (
              <li key={a} class="copy-line">
                <code class="mono wrap">{a}</code>
                <button
                  type="button"
                  class="icon-btn"
                  title="Remove"
                  aria-label={`Remove ${a}`}
                  disabled={busy}
                  onClick={() => void run(() => backend.call('remove_bootstrap', { addr: a }))}
                  data-testid="bootstrap-remove"
                >
                  <CloseIcon size={15} />
                </button>
              </li>
            ))}
          </ul>
        )}
        {settings && settings.bootstrap.length === 0 && (
          <p class="setting-help">None. Without one, your node finds peers only on the local network or when you connect by address.</p>
        )}
        {!settings && <p class={loadError ? 'form-msg err' : 'muted'}>{loadError ?? 'Loading…'}</p>}
        <form class="input-row" onSubmit={onAdd}>
          <AddressInput
            value={addr}
            onChange={(v) => {
              setAddr(v);
              setError(null);
            }}
            label="Bootstrap address to add"
            testId="bootstrap-addr"
          />
          <button class="btn" type="submit" disabled={busy || !addr.trim() || !settings} data-testid="bootstrap-add">
            <PlusIcon size={16} /> Add
          </button>
        </form>
        {error && (
          <p class="form-msg err" role="alert">
            {error}
          </p>
        )}
      </div>

      <ConnectionSettings settings={settings} onChanged={onChanged} />

      {settings && (
        <div class="setting setting-quiet">
          <div class="setting-label">Data folder</div>
          <code class="mono wrap">{settings.data_dir}</code>
        </div>
      )}
    </div>
  );
}

function MirrorCard({ settings, loadError, onChanged }: SettingsProps) {
  const backend = useBackend();
  const saved = settings ? bytesToGb(settings.mirror_quota_bytes) : null;
  // What is typed, while it differs from what the node has.
  const [draft, setDraft] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [justSaved, setJustSaved] = useState(false);
  const value = draft ?? saved ?? '';
  const dirty = draft !== null && draft.trim() !== saved;

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    const bytes = gbToBytes(value);
    if (bytes === null) {
      setError('Give the quota in gigabytes, e.g. 20 or 2.5.');
      return;
    }
    setBusy(true);
    setError(null);
    setJustSaved(false);
    try {
      onChanged(await backend.call('set_mirror_quota', { bytes }));
      setDraft(null);
      setJustSaved(true);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const used = settings?.mirror_used_bytes ?? 0;
  const quota = settings?.mirror_quota_bytes ?? 0;
  const full = quota > 0 ? Math.min(100, (used / quota) * 100) : 0;

  return (
    <form class="card settings-card" onSubmit={onSubmit} data-testid="mirror-card">
      <div class="card-head">
        <DatasetIcon size={18} />
        <h2>Mirrors</h2>
        <span class="card-head-note">
          Copies of what the peers you mirror publish (<a href={href('peers')}>Peers</a>)
        </span>
      </div>
      <div class="setting">
        <label class="setting-label" for="mirror-quota">
          Mirror quota
        </label>
        <p class="setting-help">
          Disk space mirror copies may use. When it is full, newer items replace the copies watched
          longest ago; anything larger than the whole quota is not mirrored.
        </p>
        <div class="input-row quota-row">
          <span class="quota-input">
            <input
              id="mirror-quota"
              class="input"
              type="number"
              min="0"
              step="any"
              inputMode="decimal"
              value={value}
              disabled={!settings || busy}
              onInput={(e) => {
                setDraft(e.currentTarget.value);
                setError(null);
                setJustSaved(false);
              }}
              data-testid="mirror-quota"
            />
            <span class="quota-unit">GB</span>
          </span>
          <button class="btn" type="submit" disabled={!settings || busy || !dirty} data-testid="mirror-quota-save">
            {busy ? 'Saving…' : 'Save'}
          </button>
          {justSaved && !dirty && (
            <span class="form-msg ok" role="status" data-testid="mirror-quota-saved">
              <CheckIcon size={15} /> Saved
            </span>
          )}
        </div>
        {settings && (
          <div class="quota-use">
            <div
              class="progress progress-active quota-bar"
              role="meter"
              aria-label="Mirror space used"
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={Math.round(full)}
            >
              <div class="progress-fill" style={{ width: `${full}%` }} />
            </div>
            <span class="setting-help" data-testid="mirror-used">
              used {formatBytes(used)} of {formatBytes(quota)}
            </span>
          </div>
        )}
        {!settings && <p class={loadError ? 'form-msg err' : 'muted'}>{loadError ?? 'Loading…'}</p>}
        {error && (
          <p class="form-msg err" role="alert" data-testid="mirror-quota-error">
            {error}
          </p>
        )}
      </div>
    </form>
  );
}

/** What the node refused from peers over its limits: connections, gossip, catalog quotas. */
function RefusedSetting() {
  const backend = useBackend();
  const { state } = useNodeView();
  const { value: stats } = useReloadable(() => backend.call('catalog_stats'), [backend]);
  const r = state.self?.refused;
  const items: [string, number][] = [
    ['connections over the limits', r?.connections ?? 0],
    ['gossip messages over a sender’s rate', r?.gossip_throttled ?? 0],
    ['gossip messages not checked (queue full)', r?.gossip_unvalidated ?? 0],
    ['announcements of strangers (peer table full)', r?.presence_ignored ?? 0],
    ['catalog entries over a quota', stats?.rejected.quota ?? 0],
    ['holder claims over the bounds', stats?.holdings_dropped ?? 0],
  ];
  const shown = items.filter(([, n]) => n > 0);
  return (
    <div class="setting" data-testid="refused">
      <div class="setting-label">Refused from peers</div>
      <p class="setting-help">
        Limits keep a hostile peer from filling memory or disk.
        {stats && ` Each author may fill ${stats.quota.entries_per_author.toLocaleString()} entries (${formatBytes(stats.quota.bytes_per_author)}).`}
      </p>
      {shown.length === 0 ? (
        <p class="setting-help">Nothing refused.</p>
      ) : (
        <ul class="addr-list" data-testid="refused-list">
          {shown.map(([what, n]) => (
            <li key={what}>
              {n.toLocaleString()} {what}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
