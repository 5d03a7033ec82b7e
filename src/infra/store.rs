//! Persistent state. This is the only module that touches sled.
//!
//! Layout: one sled database in `<data dir>/db`, one tree per table, each tree name carrying
//! a version suffix (`meta_v1`). The schema version lives in `meta_v1`; opening a store with
//! a newer schema than this build knows is refused, older ones are migrated forward.
//!
//! Durability: sled acknowledges writes before they reach disk, so every write method here
//! returns only after `flush_async` — callers may acknowledge to a peer or the UI as soon as
//! it returns.
//!
//! One process per data dir: `hearth.lock` is held with an exclusive `flock` for the life of
//! the store; a second process gets [`StoreError::Locked`] before sled is opened.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Serialize};

use crate::infra::vault::{Vault, VaultError, WrappedKey};

/// Schema version this build writes.
pub const SCHEMA_VERSION: u32 = 1;
/// sled's page cache; its 1 GiB default would dwarf the rest of the node.
const CACHE_CAPACITY_BYTES: u64 = 4 * 1024 * 1024;
const LOCK_FILE: &str = "hearth.lock";

const META_TREE: &str = "meta_v1";
const SCHEMA_KEY: &[u8] = b"schema_version";
/// The wrapped data key of sealed tables (see [`crate::infra::vault`]).
const VAULT_TABLE: &str = "vault_v1";
const VAULT_KEY: &str = "data_key";

/// Store errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("data directory {dir} is in use by another Hearth process{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked { dir: PathBuf, pid: Option<u32> },
    #[error("cannot open the store in {dir}: {source}")]
    Open {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("the store in {dir} has schema version {found}, newer than this build ({SCHEMA_VERSION}); upgrade Hearth")]
    TooNew { dir: PathBuf, found: u32 },
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("corrupt record in {table}: {message}")]
    Corrupt {
        table: &'static str,
        message: String,
    },
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// An open store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    _lock: std::sync::Arc<File>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`, taking the single-instance lock first.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let io = |source| StoreError::Open {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        // The data dir holds the identity key and the sealed records: the user's alone, also
        // when it was made earlier under a looser umask.
        crate::infra::fs::make_private(dir).map_err(io)?;
        let mut lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))
            .map_err(io)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = lock.read_to_string(&mut text);
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    pid: text.trim().parse().ok(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        lock.set_len(0).map_err(io)?;
        lock.rewind().map_err(io)?;
        write!(lock, "{}", std::process::id()).map_err(io)?;

        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(CACHE_CAPACITY_BYTES)
            .open()?;
        crate::infra::fs::make_private(&dir.join("db")).map_err(io)?;
        let store = Self {
            db,
            _lock: std::sync::Arc::new(lock),
        };
        store.migrate(dir)?;
        Ok(store)
    }

    fn migrate(&self, dir: &Path) -> Result<(), StoreError> {
        let meta = self.db.open_tree(META_TREE)?;
        let found = match meta.get(SCHEMA_KEY)? {
            Some(v) => {
                u32::from_be_bytes(v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    table: META_TREE,
                    message: "schema version".into(),
                })?)
            }
            None => 0,
        };
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                dir: dir.to_path_buf(),
                found,
            });
        }
        // Forward-only migrations go here, one `if found < N` block per version.
        if found < SCHEMA_VERSION {
            meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
            self.db.flush()?;
        }
        Ok(())
    }

    /// The schema version stored on disk.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let meta = self.db.open_tree(META_TREE)?;
        Ok(meta
            .get(SCHEMA_KEY)?
            .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes))
            .unwrap_or(0))
    }

    /// A typed table of JSON values keyed by strings.
    pub fn table<T: Serialize + DeserializeOwned>(
        &self,
        name: &'static str,
    ) -> Result<Table<T>, StoreError> {
        Ok(Table {
            tree: self.db.open_tree(name)?,
            name,
            db: self.db.clone(),
            vault: None,
            _t: PhantomData,
        })
    }

    /// A typed table whose values are encrypted with `vault` (keys stay in the clear: use
    /// keys that say nothing private, such as ids and sequence numbers).
    pub fn sealed_table<T: Serialize + DeserializeOwned>(
        &self,
        name: &'static str,
        vault: std::sync::Arc<Vault>,
    ) -> Result<Table<T>, StoreError> {
        Ok(Table {
            vault: Some(vault),
            ..self.table(name)?
        })
    }

    /// Unlocks the vault of sealed tables with `passphrase`, creating it (a new random data key
    /// wrapped under `passphrase`) on first use. A wrong passphrase fails with
    /// [`VaultError::WrongPassphrase`] and changes nothing.
    /// The key derivation (Argon2id, a large fraction of a second) runs off the async
    /// threads.
    pub async fn unlock_vault(&self, passphrase: &str) -> Result<Vault, StoreError> {
        let keys = self.table::<WrappedKey>(VAULT_TABLE)?;
        let stored = keys.get(VAULT_KEY)?;
        let creating = stored.is_none();
        let passphrase = zeroize::Zeroizing::new(passphrase.to_owned());
        let (vault, wrapped) = tokio::task::spawn_blocking(move || match stored {
            Some(wrapped) => Vault::unlock(&wrapped, &passphrase).map(|v| (v, wrapped)),
            None => Vault::create(&passphrase),
        })
        .await
        .map_err(|e| VaultError::Kdf(e.to_string()))??;
        if creating {
            keys.put(VAULT_KEY, &wrapped).await?;
        }
        Ok(vault)
    }

    /// Whether a vault exists (so a passphrase will be asked to unlock, not to create).
    pub fn has_vault(&self) -> Result<bool, StoreError> {
        self.table::<WrappedKey>(VAULT_TABLE)?.contains(VAULT_KEY)
    }

    /// Wraps the vault's data key under a new passphrase; sealed records stay as they are.
    pub async fn change_passphrase(&self, old: &str, new: &str) -> Result<(), StoreError> {
        let keys = self.table::<WrappedKey>(VAULT_TABLE)?;
        let wrapped = keys.get(VAULT_KEY)?.ok_or(StoreError::Corrupt {
            table: VAULT_TABLE,
            message: "there is no vault yet".into(),
        })?;
        let (old, new) = (
            zeroize::Zeroizing::new(old.to_owned()),
            zeroize::Zeroizing::new(new.to_owned()),
        );
        let rewrapped = tokio::task::spawn_blocking(move || Vault::rewrap(&wrapped, &old, &new))
            .await
            .map_err(|e| VaultError::Kdf(e.to_string()))??;
        keys.put(VAULT_KEY, &rewrapped).await
    }

    /// Deletes a table and everything in it (a table of an earlier layout). True if it existed.
    pub fn drop_table(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.db.drop_tree(name)?)
    }

    /// Makes every write so far durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }
}

/// A typed view of one sled tree. Values are JSON, encrypted in a sealed table.
pub struct Table<T> {
    tree: sled::Tree,
    db: sled::Db,
    name: &'static str,
    vault: Option<std::sync::Arc<Vault>>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Table<T> {
    fn clone(&self) -> Self {
        Self {
            tree: self.tree.clone(),
            db: self.db.clone(),
            name: self.name,
            vault: self.vault.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Table<T> {
    /// What a sealed value is bound to: its table and key.
    fn context(&self, key: &[u8]) -> Vec<u8> {
        [self.name.as_bytes(), b"\0", key].concat()
    }

    fn encode(&self, key: &str, value: &T) -> Result<Vec<u8>, StoreError> {
        let json = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
            table: self.name,
            message: e.to_string(),
        })?;
        Ok(match &self.vault {
            Some(vault) => vault.seal(&self.context(key.as_bytes()), &json),
            None => json,
        })
    }

    fn decode(&self, key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
        let opened;
        let json = match &self.vault {
            Some(vault) => {
                opened = zeroize::Zeroizing::new(vault.open(&self.context(key), bytes)?);
                opened.as_slice()
            }
            None => bytes,
        };
        serde_json::from_slice(json).map_err(|e| StoreError::Corrupt {
            table: self.name,
            message: e.to_string(),
        })
    }

    pub fn get(&self, key: &str) -> Result<Option<T>, StoreError> {
        self.tree
            .get(key.as_bytes())?
            .map(|v| self.decode(key.as_bytes(), &v))
            .transpose()
    }

    /// Writes `value` and returns once it is durable.
    pub async fn put(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let bytes = self.encode(key, value)?;
        self.tree.insert(key.as_bytes(), bytes)?;
        self.db.flush_async().await?;
        Ok(())
    }

    /// Removes `key` and returns once the removal is durable.
    pub async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.tree.remove(key.as_bytes())?;
        self.db.flush_async().await?;
        Ok(())
    }

    /// Writes `value` without waiting for durability: for data that can be fetched again
    /// (other peers' entries), made durable by the next [`Store::flush`].
    pub fn insert(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let bytes = self.encode(key, value)?;
        self.tree.insert(key.as_bytes(), bytes)?;
        Ok(())
    }

    /// Removes `key` without waiting for durability (see [`Table::insert`]).
    pub fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.tree.remove(key.as_bytes())?;
        Ok(())
    }

    pub fn contains(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.tree.contains_key(key.as_bytes())?)
    }

    /// Up to `limit` entries with keys in `[from, to)`, in key order. Undecodable entries
    /// are skipped and logged.
    pub fn range(
        &self,
        from: &str,
        to: &str,
        limit: usize,
    ) -> Result<Vec<(String, T)>, StoreError> {
        self.collect(self.tree.range(from.as_bytes()..to.as_bytes()), limit)
    }

    /// Entries whose key starts with `prefix`, in key order (at most `limit`).
    pub fn scan_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<(String, T)>, StoreError> {
        self.collect(self.tree.scan_prefix(prefix.as_bytes()), limit)
    }

    /// All entries, in key order. Entries that fail to decode are skipped and logged.
    pub fn entries(&self) -> Result<Vec<(String, T)>, StoreError> {
        self.collect(self.tree.iter(), usize::MAX)
    }

    fn collect(
        &self,
        items: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
        limit: usize,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let mut out = Vec::new();
        for item in items.take(limit) {
            let (k, v) = item?;
            let key = String::from_utf8_lossy(&k).into_owned();
            match self.decode(&k, &v) {
                Ok(value) => out.push((key, value)),
                Err(e) => tracing::warn!(table = self.name, %key, "skipping record: {e}"),
            }
        }
        Ok(out)
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_survive_reopen_and_schema_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let t = store.table::<Vec<u32>>("numbers_v1").unwrap();
            t.put("a", &vec![1, 2, 3]).await.unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let t = store.table::<Vec<u32>>("numbers_v1").unwrap();
        assert_eq!(t.get("a").unwrap(), Some(vec![1, 2, 3]));
        t.remove("a").await.unwrap();
        assert!(t.is_empty());
    }

    #[test]
    fn a_second_open_of_the_same_dir_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Locked { pid: Some(p), .. } if p == std::process::id()));
        assert!(
            err.to_string().contains("in use by another Hearth process"),
            "{err}"
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let meta = store.db.open_tree(META_TREE).unwrap();
            meta.insert(SCHEMA_KEY, &(SCHEMA_VERSION + 1).to_be_bytes())
                .unwrap();
            store.db.flush().unwrap();
        }
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
    }

    #[tokio::test]
    async fn corrupt_records_are_reported_not_panicked_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .db
            .open_tree("things_v1")
            .unwrap()
            .insert("x", b"not json".as_slice())
            .unwrap();
        let t = store.table::<u32>("things_v1").unwrap();
        assert!(matches!(t.get("x"), Err(StoreError::Corrupt { .. })));
        assert!(t.entries().unwrap().is_empty());
    }

    /// Every file under `dir`, read whole, contains `needle` somewhere.
    fn disk_contains(dir: &Path, needle: &[u8]) -> bool {
        std::fs::read_dir(dir).unwrap().flatten().any(|e| {
            let p = e.path();
            if p.is_dir() {
                disk_contains(&p, needle)
            } else {
                std::fs::read(&p)
                    .map(|b| b.windows(needle.len()).any(|w| w == needle))
                    .unwrap_or(false)
            }
        })
    }

    #[tokio::test]
    async fn sealed_tables_keep_nothing_readable_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        const MARKER: &str = "PLAINTEXT-MARKER-7f3a";
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(!store.has_vault().unwrap());
            let vault =
                std::sync::Arc::new(store.unlock_vault("correct horse battery").await.unwrap());
            let t = store.sealed_table::<String>("secrets_v1", vault).unwrap();
            for i in 0..50 {
                t.put(&format!("m{i:03}"), &format!("{MARKER} number {i}"))
                    .await
                    .unwrap();
            }
            assert_eq!(
                t.get("m007").unwrap().unwrap(),
                format!("{MARKER} number 7")
            );
            assert_eq!(t.range("m010", "m013", 10).unwrap().len(), 3);
            // A record moved to another key does not open there.
            let raw = store.db.open_tree("secrets_v1").unwrap();
            let moved = raw.get("m001").unwrap().unwrap();
            raw.insert("m002", moved).unwrap();
            assert!(matches!(t.get("m002"), Err(StoreError::Vault(_))));
            t.delete("m002").unwrap();
            store.flush().await.unwrap();
        }
        assert!(!disk_contains(dir.path(), MARKER.as_bytes()));

        let store = Store::open(dir.path()).unwrap();
        assert!(store.has_vault().unwrap());
        assert!(matches!(
            store.unlock_vault("wrong horse battery").await,
            Err(StoreError::Vault(VaultError::WrongPassphrase))
        ));
        store
            .change_passphrase("correct horse battery", "a new passphrase")
            .await
            .unwrap();
        assert!(store.unlock_vault("correct horse battery").await.is_err());
        let vault = std::sync::Arc::new(store.unlock_vault("a new passphrase").await.unwrap());
        let t = store.sealed_table::<String>("secrets_v1", vault).unwrap();
        assert_eq!(t.entries().unwrap().len(), 49);
        assert_eq!(
            t.get("m049").unwrap().unwrap(),
            format!("{MARKER} number 49")
        );
    }
}
