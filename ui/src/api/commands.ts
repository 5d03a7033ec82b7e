// Generated from the API declaration (src/api/commands.rs) by `make types`. Do not edit.
import type { AddrRequest, AnswerRequest, AvatarRequest, CatalogStats, ChangePassphraseRequest, ChatMessage, ChatRequests, ChatStatus, ContentIdRequest, CreateRoomRequest, Diagnosis, DmConversation, DmHistoryRequest, Download, DownloadRequest, Event, FolderRequest, Follow, HistoryPage, HistoryRequest, Holder, InviteInfo, InviteRequest, JoinRequest, Joined, Library, MirrorRequest, PassphraseRequest, PeerIdRequest, PeerInfo, PreviewRequest, Profile, PublishRequest, QuotaRequest, RenameRoomRequest, Resource, RoomIdRequest, RoomInfo, SearchRequest, SearchResult, SendDmRequest, SendMessageRequest, Settings, SettingsUpdate, SinceRequest, Status, UpdateResourceRequest } from './types';

/** Every API command: what it takes (`null`: nothing) and what it answers. */
export interface Commands {
  status: { req: null; res: Status };
  get_profile: { req: null; res: Profile };
  set_profile: { req: Profile; res: Profile };
  set_avatar: { req: AvatarRequest; res: Profile };
  list_peers: { req: null; res: Array<PeerInfo> };
  doctor: { req: PeerIdRequest; res: Diagnosis };
  connect: { req: AddrRequest; res: null };
  create_invite: { req: null; res: InviteInfo };
  join: { req: JoinRequest; res: Joined };
  block_peer: { req: PeerIdRequest; res: null };
  unblock_peer: { req: PeerIdRequest; res: null };
  get_settings: { req: null; res: Settings };
  add_bootstrap: { req: AddrRequest; res: Settings };
  remove_bootstrap: { req: AddrRequest; res: Settings };
  update_settings: { req: SettingsUpdate; res: Settings };
  restart: { req: null; res: null };
  set_mirror_quota: { req: QuotaRequest; res: Settings };
  publish: { req: PublishRequest; res: Resource };
  unpublish: { req: ContentIdRequest; res: null };
  update_resource: { req: UpdateResourceRequest; res: Resource };
  search: { req: SearchRequest; res: SearchResult };
  get_resource: { req: ContentIdRequest; res: Resource };
  list_holders: { req: ContentIdRequest; res: Array<Holder> };
  set_preview: { req: PreviewRequest; res: Resource };
  catalog_stats: { req: null; res: CatalogStats };
  list_follows: { req: null; res: Array<Follow> };
  follow: { req: PeerIdRequest; res: Array<Follow> };
  unfollow: { req: PeerIdRequest; res: Array<Follow> };
  set_mirror: { req: MirrorRequest; res: Array<Follow> };
  start_download: { req: DownloadRequest; res: Download };
  pause_download: { req: ContentIdRequest; res: null };
  resume_download: { req: ContentIdRequest; res: null };
  cancel_download: { req: ContentIdRequest; res: null };
  list_downloads: { req: null; res: Array<Download> };
  open_folder: { req: ContentIdRequest; res: string };
  open_file: { req: ContentIdRequest; res: string };
  get_library: { req: null; res: Library };
  add_shared_folder: { req: FolderRequest; res: Library };
  remove_shared_folder: { req: FolderRequest; res: Library };
  chat_status: { req: null; res: ChatStatus };
  unlock_chat: { req: PassphraseRequest; res: ChatStatus };
  change_passphrase: { req: ChangePassphraseRequest; res: null };
  list_rooms: { req: null; res: Array<RoomInfo> };
  create_room: { req: CreateRoomRequest; res: RoomInfo };
  get_room: { req: RoomIdRequest; res: RoomInfo };
  rename_room: { req: RenameRoomRequest; res: null };
  invite: { req: InviteRequest; res: null };
  leave_room: { req: RoomIdRequest; res: null };
  delete_room: { req: RoomIdRequest; res: null };
  send_message: { req: SendMessageRequest; res: ChatMessage };
  room_history: { req: HistoryRequest; res: HistoryPage };
  mark_room_read: { req: RoomIdRequest; res: null };
  list_dms: { req: null; res: Array<DmConversation> };
  send_dm: { req: SendDmRequest; res: ChatMessage };
  dm_history: { req: DmHistoryRequest; res: HistoryPage };
  mark_dm_read: { req: PeerIdRequest; res: null };
  list_requests: { req: null; res: ChatRequests };
  answer_request: { req: AnswerRequest; res: null };
  events_since: { req: SinceRequest; res: Array<Event> };
}

export type CommandName = keyof Commands;

/** Every command name, in declaration order. */
export const COMMAND_NAMES: readonly CommandName[] = ['status', 'get_profile', 'set_profile', 'set_avatar', 'list_peers', 'doctor', 'connect', 'create_invite', 'join', 'block_peer', 'unblock_peer', 'get_settings', 'add_bootstrap', 'remove_bootstrap', 'update_settings', 'restart', 'set_mirror_quota', 'publish', 'unpublish', 'update_resource', 'search', 'get_resource', 'list_holders', 'set_preview', 'catalog_stats', 'list_follows', 'follow', 'unfollow', 'set_mirror', 'start_download', 'pause_download', 'resume_download', 'cancel_download', 'list_downloads', 'open_folder', 'open_file', 'get_library', 'add_shared_folder', 'remove_shared_folder', 'chat_status', 'unlock_chat', 'change_passphrase', 'list_rooms', 'create_room', 'get_room', 'rename_room', 'invite', 'leave_room', 'delete_room', 'send_message', 'room_history', 'mark_room_read', 'list_dms', 'send_dm', 'dm_history', 'mark_dm_read', 'list_requests', 'answer_request', 'events_since'];
