/** A field for a peer's multiaddress (`/ip4/…/tcp/…/p2p/<peer id>`). */
export function AddressInput({
  value,
  onChange,
  id,
  label,
  testId,
}: {
  value: string;
  onChange: (value: string) => void;
  id?: string;
  /** What the field is for, when no `<label>` names it. */
  label?: string;
  testId: string;
}) {
  return (
    <input
      id={id}
      class="input mono"
      type="text"
      placeholder="/ip4/…/tcp/…/p2p/12D3Koo…"
      autocomplete="off"
      spellcheck={false}
      value={value}
      onInput={(e) => onChange(e.currentTarget.value)}
      aria-label={label}
      data-testid={testId}
    />
  );
}
