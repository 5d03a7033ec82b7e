// The fake node for vitest: every command's handler, and the page-side members of the
// Backend, are `vi.fn` mocks, so a test can inspect calls and replace answers
// (`b.on.search.mockResolvedValue(...)`) while the rest of the node keeps working.
import { type Mock, vi } from 'vitest';
import { COMMAND_NAMES, type CommandName } from '../../api/commands';
import { FakeNode, type Handler, type Handlers } from './node';

export * from './builders';
export { FakeNode, guessKind, historyPage, type Handler, type Handlers } from './node';

/** Every command's handler, as a mock. */
export type MockHandlers = { [K in CommandName]: Mock<Handler<K>> };

export class FakeBackend extends FakeNode {
  /** The mock of each command's handler. */
  readonly on: MockHandlers;
  declare upload: Mock<FakeNode['upload']>;
  declare mediaUrl: Mock<FakeNode['mediaUrl']>;
  declare thumbnailUrl: Mock<FakeNode['thumbnailUrl']>;
  declare avatarUrl: Mock<FakeNode['avatarUrl']>;
  declare notify: Mock<(title: string, body: string) => void>;

  constructor() {
    super();
    const mocks: Partial<Record<CommandName, Mock>> = {};
    for (const name of COMMAND_NAMES) mocks[name] = vi.fn(this.handlers[name] as (req: unknown) => Promise<unknown>);
    this.on = mocks as MockHandlers;
    this.handlers = this.on as Handlers;
    this.upload = vi.fn(this.upload);
    this.mediaUrl = vi.fn(this.mediaUrl);
    this.thumbnailUrl = vi.fn(this.thumbnailUrl);
    this.avatarUrl = vi.fn(this.avatarUrl);
    this.notify = vi.fn((_title: string, _body: string) => {});
  }
}
