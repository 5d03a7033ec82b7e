//! Encryption at rest for private data (chat messages, outboxes, host queues).
//!
//! One random 256-bit data key encrypts every private record with XChaCha20-Poly1305: a fresh
//! random 192-bit nonce per record (so no nonce repeats, whatever the number of records), and
//! the record's table and key as associated data (a record moved to another slot fails to
//! open). The data key itself is never stored in the clear: it is kept wrapped (encrypted with
//! XChaCha20-Poly1305) under a key derived from the user's passphrase with Argon2id, using at
//! least RFC 9106's second recommended parameters (64 MiB, 3 passes, 4 lanes). The wrapped key
//! and its salt and parameters are not secret.
//!
//! A wrong passphrase fails to unwrap (the wrapping's tag does not verify) with
//! [`VaultError::WrongPassphrase`] and changes nothing. Changing the passphrase rewraps the same
//! data key, so no record is re-encrypted.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Argon2id memory in KiB (RFC 9106, second recommended option: 64 MiB).
pub const KDF_MEMORY_KIB: u32 = 64 * 1024;
/// Argon2id passes.
pub const KDF_PASSES: u32 = 3;
/// Argon2id lanes.
pub const KDF_LANES: u32 = 4;

const SALT_BYTES: usize = 16;
const NONCE_BYTES: usize = 24;
const KEY_BYTES: usize = 32;
/// First byte of every sealed record: the format, so it can change later.
const SEALED_V1: u8 = 1;
/// Shortest passphrase accepted when creating a vault or changing its passphrase.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

/// Vault errors.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("wrong passphrase")]
    WrongPassphrase,
    #[error("the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters")]
    WeakPassphrase,
    #[error("the stored key is damaged: {0}")]
    BadWrappedKey(String),
    #[error("a stored record cannot be decrypted (damaged, or moved from another place)")]
    Undecryptable,
    #[error("key derivation failed: {0}")]
    Kdf(String),
}

/// The data key, wrapped under a passphrase: what is stored. Nothing in it is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// Always "argon2id".
    pub kdf: String,
    pub memory_kib: u32,
    pub passes: u32,
    pub lanes: u32,
    /// Base64.
    pub salt: String,
    /// Base64 XChaCha20-Poly1305 nonce.
    pub nonce: String,
    /// Base64: the data key encrypted under the passphrase key, with its tag.
    pub key: String,
}

/// An unlocked vault: seals and opens records with the data key.
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

impl Vault {
    /// A new vault with a random data key, and that key wrapped under `passphrase`.
    pub fn create(passphrase: &str) -> Result<(Vault, WrappedKey), VaultError> {
        require_strong(passphrase)?;
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        rand::thread_rng().fill_bytes(key.as_mut());
        let wrapped = wrap(&key, passphrase)?;
        Ok((Vault::from_key(&key), wrapped))
    }

    /// Unwraps the data key with `passphrase`.
    pub fn unlock(wrapped: &WrappedKey, passphrase: &str) -> Result<Vault, VaultError> {
        Ok(Vault::from_key(&*unwrap(wrapped, passphrase)?))
    }

    /// The same data key wrapped under a new passphrase (with a new salt).
    pub fn rewrap(wrapped: &WrappedKey, old: &str, new: &str) -> Result<WrappedKey, VaultError> {
        require_strong(new)?; // before the costly unwrap
        wrap(&*unwrap(wrapped, old)?, new)
    }

    fn from_key(key: &[u8; KEY_BYTES]) -> Vault {
        Vault {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Encrypts `plaintext`, bound to `context` (e.g. table and key): format byte, nonce,
    /// ciphertext and tag.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            // Only fails for inputs beyond 256 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`Vault::seal`] made with the same `context`.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        if sealed.len() < 1 + NONCE_BYTES || sealed[0] != SEALED_V1 {
            return Err(VaultError::Undecryptable);
        }
        let (nonce, body) = sealed[1..].split_at(NONCE_BYTES);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context,
                },
            )
            .map_err(|_| VaultError::Undecryptable)
    }
}

/// Seals a small secret (an identity key to export) under a passphrase, the way the data key
/// is wrapped: Argon2id (at least RFC 9106's second recommended parameters) and
/// XChaCha20-Poly1305. The passphrase must have at least [`MIN_PASSPHRASE_CHARS`] characters.
pub fn seal_secret(secret: &[u8], passphrase: &str) -> Result<WrappedKey, VaultError> {
    require_strong(passphrase)?;
    wrap_bytes(secret, passphrase)
}

/// Opens what [`seal_secret`] sealed; a wrong passphrase is [`VaultError::WrongPassphrase`].
pub fn open_secret(
    sealed: &WrappedKey,
    passphrase: &str,
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    unwrap_bytes(sealed, passphrase)
}

fn unwrap(
    wrapped: &WrappedKey,
    passphrase: &str,
) -> Result<Zeroizing<[u8; KEY_BYTES]>, VaultError> {
    let key = unwrap_bytes(wrapped, passphrase)?;
    let mut out = Zeroizing::new([0u8; KEY_BYTES]);
    if key.len() != KEY_BYTES {
        return Err(VaultError::BadWrappedKey("key length".into()));
    }
    out.copy_from_slice(&key);
    Ok(out)
}

fn unwrap_bytes(wrapped: &WrappedKey, passphrase: &str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if wrapped.kdf != "argon2id" {
        return Err(VaultError::BadWrappedKey(format!(
            "unknown key derivation {:?}",
            wrapped.kdf
        )));
    }
    let salt = decode(&wrapped.salt, "salt")?;
    let nonce = decode(&wrapped.nonce, "nonce")?;
    let sealed = decode(&wrapped.key, "key")?;
    if nonce.len() != NONCE_BYTES {
        return Err(VaultError::BadWrappedKey("nonce length".into()));
    }
    let kek = derive(
        passphrase,
        &salt,
        (wrapped.memory_kib, wrapped.passes, wrapped.lanes),
    )?;
    Ok(Zeroizing::new(
        XChaCha20Poly1305::new(kek.as_ref().into())
            .decrypt(XNonce::from_slice(&nonce), sealed.as_slice())
            .map_err(|_| VaultError::WrongPassphrase)?,
    ))
}

/// A new passphrase must have at least [`MIN_PASSPHRASE_CHARS`] characters.
fn require_strong(passphrase: &str) -> Result<(), VaultError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(VaultError::WeakPassphrase);
    }
    Ok(())
}

fn wrap(key: &[u8; KEY_BYTES], passphrase: &str) -> Result<WrappedKey, VaultError> {
    wrap_bytes(key, passphrase)
}

fn wrap_bytes(key: &[u8], passphrase: &str) -> Result<WrappedKey, VaultError> {
    let mut salt = [0u8; SALT_BYTES];
    let mut nonce = [0u8; NONCE_BYTES];
    rand::thread_rng().fill_bytes(&mut salt);
    rand::thread_rng().fill_bytes(&mut nonce);
    let params = (KDF_MEMORY_KIB, KDF_PASSES, KDF_LANES);
    let kek = derive(passphrase, &salt, params)?;
    let sealed = XChaCha20Poly1305::new(kek.as_ref().into())
        .encrypt(XNonce::from_slice(&nonce), key)
        .map_err(|_| VaultError::Kdf("wrapping failed".into()))?;
    Ok(WrappedKey {
        kdf: "argon2id".into(),
        memory_kib: params.0,
        passes: params.1,
        lanes: params.2,
        salt: B64.encode(salt),
        nonce: B64.encode(nonce),
        key: B64.encode(sealed),
    })
}

/// The passphrase key. Parameters below the minimum are refused, so a tampered record cannot
/// make a weak wrapping look valid.
fn derive(
    passphrase: &str,
    salt: &[u8],
    (memory_kib, passes, lanes): (u32, u32, u32),
) -> Result<Zeroizing<[u8; KEY_BYTES]>, VaultError> {
    if memory_kib < KDF_MEMORY_KIB || passes < KDF_PASSES || lanes < 1 {
        return Err(VaultError::BadWrappedKey(
            "key derivation parameters below the minimum".into(),
        ));
    }
    // Upper bounds keep a damaged record from asking for gigabytes or hours.
    if memory_kib > 4 * KDF_MEMORY_KIB || passes > 16 || lanes > 16 {
        return Err(VaultError::BadWrappedKey(
            "key derivation parameters out of range".into(),
        ));
    }
    let params = Params::new(memory_kib, passes, lanes, Some(KEY_BYTES))
        .map_err(|e| VaultError::Kdf(e.to_string()))?;
    let mut out = Zeroizing::new([0u8; KEY_BYTES]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, out.as_mut())
        .map_err(|e| VaultError::Kdf(e.to_string()))?;
    Ok(out)
}

fn decode(field: &str, name: &str) -> Result<Vec<u8>, VaultError> {
    B64.decode(field)
        .map_err(|_| VaultError::BadWrappedKey(format!("{name} is not base64")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_are_bound_to_their_place() {
        let (vault, _) = Vault::create("correct horse battery").unwrap();
        let a = vault.seal(b"messages/1", b"secret marker");
        let b = vault.seal(b"messages/1", b"secret marker");
        assert_ne!(a, b, "a fresh nonce each time");
        assert!(!a.windows(6).any(|w| w == b"secret"));
        assert_eq!(vault.open(b"messages/1", &a).unwrap(), b"secret marker");
        assert!(matches!(
            vault.open(b"messages/2", &a),
            Err(VaultError::Undecryptable)
        ));
        let mut flipped = a.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(vault.open(b"messages/1", &flipped).is_err());
        assert!(vault.open(b"messages/1", &a[..10]).is_err());
        assert!(vault.open(b"messages/1", &[]).is_err());
    }

    #[test]
    fn the_passphrase_unlocks_and_a_wrong_one_changes_nothing() {
        let (vault, wrapped) = Vault::create("correct horse battery").unwrap();
        assert_eq!(wrapped.memory_kib, 65536);
        assert_eq!((wrapped.passes, wrapped.lanes), (3, 4));
        let sealed = vault.seal(b"t/k", b"hello");
        assert!(matches!(
            Vault::unlock(&wrapped, "wrong horse battery"),
            Err(VaultError::WrongPassphrase)
        ));
        let again = Vault::unlock(&wrapped, "correct horse battery").unwrap();
        assert_eq!(again.open(b"t/k", &sealed).unwrap(), b"hello");

        // A new passphrase rewraps the same data key; the old one stops working.
        assert!(matches!(
            Vault::rewrap(&wrapped, "wrong horse battery", "new passphrase"),
            Err(VaultError::WrongPassphrase)
        ));
        assert!(matches!(
            Vault::rewrap(&wrapped, "correct horse battery", "short"),
            Err(VaultError::WeakPassphrase)
        ));
        let rewrapped = Vault::rewrap(&wrapped, "correct horse battery", "new passphrase").unwrap();
        assert_ne!(rewrapped.salt, wrapped.salt);
        let unlocked = Vault::unlock(&rewrapped, "new passphrase").unwrap();
        assert_eq!(unlocked.open(b"t/k", &sealed).unwrap(), b"hello");
        assert!(Vault::unlock(&rewrapped, "correct horse battery").is_err());
    }

    #[test]
    fn weak_or_tampered_wrappings_are_refused() {
        assert!(matches!(
            Vault::create("short"),
            Err(VaultError::WeakPassphrase)
        ));
        let (_, wrapped) = Vault::create("correct horse battery").unwrap();
        let weaker = WrappedKey {
            memory_kib: 8,
            passes: 1,
            ..wrapped.clone()
        };
        assert!(matches!(
            Vault::unlock(&weaker, "correct horse battery"),
            Err(VaultError::BadWrappedKey(_))
        ));
        let huge = WrappedKey {
            memory_kib: u32::MAX,
            ..wrapped.clone()
        };
        assert!(matches!(
            Vault::unlock(&huge, "correct horse battery"),
            Err(VaultError::BadWrappedKey(_))
        ));
        let garbled = WrappedKey {
            nonce: "not base64!".into(),
            ..wrapped
        };
        assert!(matches!(
            Vault::unlock(&garbled, "correct horse battery"),
            Err(VaultError::BadWrappedKey(_))
        ));
    }
}
