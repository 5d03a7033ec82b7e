import { createContext } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import type { Event } from './api/types';
import type { Backend } from './backend';
import type { ChatView } from './features/chat/useChat';
import type { DownloadsView } from './features/downloads/useDownloads';
import type { NodeView } from './useNode';

export const BackendContext = createContext<Backend | null>(null);
export const NodeContext = createContext<NodeView | null>(null);

export function useBackend(): Backend {
  const b = useContext(BackendContext);
  if (!b) throw new Error('useBackend outside BackendContext');
  return b;
}

export function useNodeView(): NodeView {
  const n = useContext(NodeContext);
  if (!n) throw new Error('useNodeView outside NodeContext');
  return n;
}

/** The current time, refreshed every `intervalMs` (for relative times). */
export function useNow(intervalMs = 15000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(t);
  }, [intervalMs]);
  return now;
}

export const DownloadsContext = createContext<DownloadsView | null>(null);

export function useDownloadsView(): DownloadsView {
  const d = useContext(DownloadsContext);
  if (!d) throw new Error('useDownloadsView outside DownloadsContext');
  return d;
}

export const ChatContext = createContext<ChatView | null>(null);

export function useChatView(): ChatView {
  const c = useContext(ChatContext);
  if (!c) throw new Error('useChatView outside ChatContext');
  return c;
}

/** Calls `listener` with each event of the node's stream while the component is mounted. */
export function useNodeEvents(listener: (event: Event) => void): void {
  const { listen } = useNodeView();
  const latest = useRef(listener);
  latest.current = listener;
  useEffect(() => listen((e) => latest.current(e)), [listen]);
}
