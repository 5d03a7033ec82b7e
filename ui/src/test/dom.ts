/** DOM helpers shared by the page tests. */

export const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** Polls until `fn` stops throwing (Preact renders and effects run asynchronously). */
export async function waitFor<T>(fn: () => T, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await tick(10);
    }
  }
}

/** The element with this `data-testid` inside `within`; throws when there is none. */
export function byTestId(within: ParentNode, testId: string): HTMLElement {
  const el = within.querySelector(`[data-testid="${testId}"]`);
  if (!el) throw new Error(`no [data-testid="${testId}"]`);
  return el as HTMLElement;
}

export function allByTestId(within: ParentNode, testId: string): HTMLElement[] {
  return Array.from(within.querySelectorAll(`[data-testid="${testId}"]`)) as HTMLElement[];
}
