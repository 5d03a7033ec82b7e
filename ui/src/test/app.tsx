// The whole app mounted on a fake node, for the page tests: `setupApp()` in a test file gives
// each test a fresh root; `mount` opens the app at a route; the rest acts as a person would.
import { render } from 'preact';
import { afterEach, beforeEach, vi } from 'vitest';
import { App } from '../App';
import type { Backend } from '../backend';
import { forgetExploreMemory } from '../features/catalog/ExplorePage';
import { allByTestId, byTestId, tick } from './dom';

/** The element the app is rendered in (a fresh one for each test). */
export let root: HTMLElement;

/** Gives each test of the calling file a fresh root, and cleans up after it. */
export function setupApp(): void {
  beforeEach(() => {
    forgetExploreMemory();
    root = document.createElement('div');
    document.body.appendChild(root);
  });
  afterEach(() => {
    render(null, root);
    root.remove();
    window.location.hash = '';
    vi.restoreAllMocks();
  });
}

/** Renders the app on `backend` at the hash route `hash`. */
export async function mount(backend: Backend, hash: string): Promise<void> {
  window.location.hash = hash;
  // Let the hashchange of that (and of the last test's clean-up) arrive before the app
  // mounts: arriving after, it would count as a navigation and mount the page again.
  await tick();
  render(<App backend={backend} />, root);
  await tick();
}

export const $ = (testId: string, within: ParentNode = root) => byTestId(within, testId);
export const $$ = (testId: string, within: ParentNode = root) => allByTestId(within, testId);

/** Types into a field, then lets Preact render (as it would before the person's next action). */
export async function type(input: HTMLInputElement | HTMLTextAreaElement, value: string): Promise<void> {
  input.value = value;
  input.dispatchEvent(new Event('input', { bubbles: true }));
  await tick();
}

export function click(el: HTMLElement): void {
  el.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true }));
}

export function press(el: HTMLElement, key: string, extra: KeyboardEventInit = {}): void {
  el.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true, ...extra }));
}

/** Submits the form `el` is in. */
export function submit(el: HTMLElement): void {
  const form = el.closest('form')!;
  form.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
}
