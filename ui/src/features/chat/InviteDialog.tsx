import type { RoomInfo } from '../../api/types';
import { Modal } from './Modal';
import { PlusIcon } from '../../components/icons';
import { useBackend } from '../../context';
import { PickPeerForm } from './PickPeerForm';

export function InviteDialog({ room, onClose }: { room: RoomInfo; onClose: () => void }) {
  const backend = useBackend();
  const members = new Set(room.members.map((m) => m.peer_id));
  return (
    <Modal title={`Invite to “${room.name}”`} onClose={onClose} testId="invite-dialog">
      <PickPeerForm
        exclude={members}
        prefix="invite"
        submitLabel="Invite"
        busyLabel="Inviting…"
        submitIcon={<PlusIcon size={16} />}
        emptyText="Every peer your node knows is already a member. Paste the peer id of someone else."
        onPick={async (peerId) => {
          await backend.call('invite', { room_id: room.room_id, peer_id: peerId });
          onClose();
        }}
        onClose={onClose}
      />
    </Modal>
  );
}
