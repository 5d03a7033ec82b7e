// The base styles first: each feature's own styles come after them, with the feature.
import './base.css';
import { render } from 'preact';
import { App } from './App';
import { isTauri, selectBackend } from './backend';
import { browserTokenEnv, loadToken, tokenFromHash } from './backend/token';
import { NoToken } from './components/NoToken';

async function start() {
  const root = document.getElementById('app')!;
  if (!isTauri()) {
    // A new `#token=…` address pasted into this tab (e.g. after the node restarted) is a
    // same-page navigation: take the token and start afresh with it.
    window.addEventListener('hashchange', () => {
      if (tokenFromHash(window.location.hash)) {
        loadToken(browserTokenEnv());
        window.location.reload();
      }
    });
  }
  // `vite build --mode fake` (the screenshot tool's build) boots on the in-page fake node
  // when the address asks for it with `?fake`; other builds leave this out entirely.
  if (import.meta.env.MODE === 'fake' && new URLSearchParams(window.location.search).has('fake')) {
    const { demoNode } = await import('./test/fake/demo');
    const node = demoNode();
    (window as unknown as { hearthFake: unknown }).hearthFake = node;
    render(<App backend={node} />, root);
    return;
  }
  const choice = await selectBackend();
  if (choice.kind === 'no-token') {
    render(<NoToken />, root);
  } else {
    render(<App backend={choice.backend} />, root);
  }
}

void start();
