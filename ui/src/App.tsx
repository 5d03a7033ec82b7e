import { useEffect, useLayoutEffect, useRef } from 'preact/hooks';
import type { Backend } from './backend';
import { forgetToken } from './backend';
import { NoToken } from './components/NoToken';
import { Sidebar } from './components/Sidebar';
import { AlertIcon, RefreshIcon } from './components/icons';
import { BackendContext, ChatContext, DownloadsContext, NodeContext } from './context';
// The pages, in the order their styles are bundled (after the base styles).
import { PeersPage } from './features/peers/PeersPage';
import { SettingsPage } from './features/settings/SettingsPage';
import { ExplorePage } from './features/catalog/ExplorePage';
import { ResourcePage } from './features/resource/ResourcePage';
import { LibraryPage } from './features/library/LibraryPage';
import { DownloadsPage } from './features/downloads/DownloadsPage';
import { ChatPage } from './features/chat/ChatPage';
import { useLocation, type AppLocation } from './router';
import { useNotifications } from './features/notify/useNotifications';
import { queryFromParams } from './features/catalog/catalog';
import { initialChat, parseConv, personName } from './features/chat/chat';
import { useChat } from './features/chat/useChat';
import { useDownloads } from './features/downloads/useDownloads';
import { useNode } from './useNode';

export function Page({ location }: { location: AppLocation }) {
  switch (location.route) {
    case 'explore':
      // Each navigation to Explore (a link, Back) starts from the query in the address.
      return <ExplorePage key={`explore-${location.seq}`} initialQuery={queryFromParams(location.query)} />;
    case 'resource':
      return <ResourcePage key={location.param ?? ''} contentId={location.param ?? ''} />;
    case 'library':
      return <LibraryPage />;
    case 'downloads':
      return <DownloadsPage />;
    case 'chat':
      return <ChatPage param={location.param} />;
    case 'peers':
      return <PeersPage invite={location.query.get('invite')} />;
    case 'settings':
      return <SettingsPage />;
  }
}

export function App({ backend }: { backend: Backend }) {
  const node = useNode(backend);
  const downloads = useDownloads(backend, node.listen);
  const location = useLocation();
  const openConv = location.route === 'chat' ? parseConv(location.param) : null;
  const names = useRef({ node: node.state, chat: initialChat });
  const notifications = useNotifications(backend, node.listen, node.state);
  const chat = useChat(
    backend,
    node.listen,
    openConv,
    (id) => personName(id, names.current.node, names.current.chat),
    notifications.chat,
  );
  names.current = { node: node.state, chat: chat.state };

  // A new page starts at its top (Explore puts its reader back where they were itself).
  useLayoutEffect(() => {
    window.scrollTo(0, 0);
  }, [location.route, location.param]);

  useEffect(() => {
    if (node.unauthorized && backend.kind === 'http') forgetToken();
  }, [node.unauthorized, backend]);

  if (node.unauthorized) return <NoToken rejected />;

  const unreachable = node.state.self === null && node.loadError !== null;

  return (
    <BackendContext.Provider value={backend}>
      <NodeContext.Provider value={node}>
        <DownloadsContext.Provider value={downloads}>
          <ChatContext.Provider value={chat}>
            <div class="shell">
              <Sidebar route={location.route === 'resource' ? 'explore' : location.route} />
              <main class="content">
                {node.connected === false && !unreachable && (
                  <div class="banner banner-warn" role="status" data-testid="banner-reconnecting">
                    <RefreshIcon size={16} class="spin" />
                    Reconnecting to node… Live updates are paused.
                  </div>
                )}
                {unreachable && (
                  <div class="banner banner-error" role="alert" data-testid="banner-unreachable">
                    <AlertIcon size={16} />
                    Cannot reach your Hearth node: {node.loadError!.message}. Retrying…
                  </div>
                )}
                <Page location={location} />
              </main>
            </div>
          </ChatContext.Provider>
        </DownloadsContext.Provider>
      </NodeContext.Provider>
    </BackendContext.Provider>
  );
}
