import { useEffect } from 'preact/hooks';
import type { Backend } from './backend';
import { forgetToken } from './backend';
import { NoToken } from './components/NoToken';
import { Sidebar } from './components/Sidebar';
import { AlertIcon, RefreshIcon } from './components/icons';
import { BackendContext, NodeContext } from './context';
import { ChatPage, DownloadsPage, ExplorePage, LibraryPage } from './pages/Placeholders';
import { PeersPage } from './pages/PeersPage';
import { SettingsPage } from './pages/SettingsPage';
import { useRoute, type Route } from './router';
import { useNode } from './store/useNode';

function Page({ route }: { route: Route }) {
  switch (route) {
    case 'explore':
      return <ExplorePage />;
    case 'library':
      return <LibraryPage />;
    case 'downloads':
      return <DownloadsPage />;
    case 'chat':
      return <ChatPage />;
    case 'peers':
      return <PeersPage />;
    case 'settings':
      return <SettingsPage />;
  }
}

export function App({ backend }: { backend: Backend }) {
  const node = useNode(backend);
  const route = useRoute();

  useEffect(() => {
    if (node.unauthorized && backend.kind === 'http') forgetToken();
  }, [node.unauthorized, backend]);

  if (node.unauthorized) return <NoToken rejected />;

  const unreachable = node.state.self === null && node.loadError !== null;

  return (
    <BackendContext.Provider value={backend}>
      <NodeContext.Provider value={node}>
        <div class="shell">
          <Sidebar route={route} />
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
            <Page route={route} />
          </main>
        </div>
      </NodeContext.Provider>
    </BackendContext.Provider>
  );
}
