import type { JSX } from 'preact';
import { href, type Route } from '../router';
import { onlineCount, shortId } from '../features/peers/peers';
import { useChatView, useDownloadsView, useNodeView } from '../context';
import { totalUnread } from '../features/chat/chat';
import { useRequestCount } from '../features/chat/Requests';
import { activeCount } from '../features/catalog/catalog';
import { Avatar } from './common';
import {
  ChatIcon,
  CompassIcon,
  DownloadIcon,
  FlameIcon,
  LibraryIcon,
  PeersIcon,
  SettingsIcon,
} from './icons';

const NAV: { route: Exclude<Route, 'resource'>; label: string; icon: () => JSX.Element }[] = [
  { route: 'explore', label: 'Explore', icon: () => <CompassIcon /> },
  { route: 'library', label: 'Library', icon: () => <LibraryIcon /> },
  { route: 'downloads', label: 'Downloads', icon: () => <DownloadIcon /> },
  { route: 'chat', label: 'Chat', icon: () => <ChatIcon /> },
  { route: 'peers', label: 'Peers', icon: () => <PeersIcon /> },
  { route: 'settings', label: 'Settings', icon: () => <SettingsIcon /> },
];

export function Sidebar({ route }: { route: Route }) {
  const { state, connected } = useNodeView();
  const self = state.self;
  const online = onlineCount(state);
  const downloading = activeCount(useDownloadsView().state);
  const chat = useChatView().state;
  const unread = totalUnread(chat);
  const requests = useRequestCount(chat.status?.unlocked ?? false);
  const name = self?.profile.display_name.trim() || null;

  return (
    <nav class="sidebar" aria-label="Main">
      <div class="brand">
        <span class="brand-mark">
          <FlameIcon size={20} />
        </span>
        <span class="brand-name">Hearth</span>
      </div>

      <ul class="list-col nav">
        {NAV.map((item) => (
          <li key={item.route}>
            <a
              href={href(item.route)}
              class={route === item.route ? 'nav-link active' : 'nav-link'}
              aria-current={route === item.route ? 'page' : undefined}
              data-testid={`nav-${item.route}`}
            >
              {item.icon()}
              <span class="nav-label">{item.label}</span>
              {item.route === 'peers' && online > 0 && (
                <span class="nav-count" aria-label={`${online} online`}>
                  {online}
                </span>
              )}
              {item.route === 'chat' && unread > 0 && (
                <span class="nav-count nav-count-accent" aria-label={`${unread} unread`} data-testid="nav-chat-count">
                  {unread}
                </span>
              )}
              {item.route === 'chat' && requests > 0 && (
                <span
                  class="nav-count"
                  aria-label={`${requests} ${requests === 1 ? 'request' : 'requests'}`}
                  title="Requests from people you have not talked with yet"
                  data-testid="nav-chat-requests"
                >
                  {requests}
                </span>
              )}
              {item.route === 'downloads' && downloading > 0 && (
                <span class="nav-count nav-count-accent" aria-label={`${downloading} in progress`} data-testid="nav-downloads-count">
                  {downloading}
                </span>
              )}
            </a>
          </li>
        ))}
      </ul>

      <a class="self-card" href={href('settings')} title="Your profile and network settings">
        {self ? (
          <Avatar id={self.peer_id} name={name} size={34} />
        ) : (
          <span class="avatar avatar-placeholder" style={{ width: '34px', height: '34px' }} />
        )}
        <span class="self-text">
          <span class="self-name" data-testid="self-name">
            {self ? (name ?? 'Unnamed node') : 'Connecting…'}
          </span>
          <span class="self-id mono" data-testid="self-peer-id-short">
            {self ? shortId(self.peer_id) : '\u00a0'}
          </span>
        </span>
      </a>
      <div class="online-summary" data-testid="online-count">
        <span class={connected === false ? 'dot dot-warn' : online > 0 ? 'dot dot-on' : 'dot dot-off'} />
        {connected === false
          ? 'Node unreachable'
          : `${online} ${online === 1 ? 'peer' : 'peers'} online`}
      </div>
    </nav>
  );
}
