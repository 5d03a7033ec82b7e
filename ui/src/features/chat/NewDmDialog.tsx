import { Modal } from './Modal';
import { EditIcon } from '../../components/icons';
import { PickPeerForm } from './PickPeerForm';
import { go } from './people';

export function NewDmDialog({ onClose }: { onClose: () => void }) {
  return (
    <Modal title="New message" onClose={onClose} testId="new-dm-dialog">
      <PickPeerForm
        exclude={new Set()}
        prefix="new-dm"
        submitLabel="Start conversation"
        busyLabel="Opening…"
        submitIcon={<EditIcon size={16} />}
        emptyText="Your node knows no peers yet: paste the peer id of the person you want to write to."
        onPick={(peerId) => {
          onClose();
          go({ kind: 'dm', id: peerId });
        }}
        onClose={onClose}
      />
    </Modal>
  );
}
