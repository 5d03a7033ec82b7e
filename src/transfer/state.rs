//! What the transfer module keeps on disk besides librqbit's own files: our per-torrent
//! records (`transfers.json`), the state-folder lock, and the small amount of knowledge about
//! librqbit 9.1's persistence layout (`session/session.json`, `session/<hash>.bitv`) we need to
//! keep published originals safe and to report fastresume progress.

use std::{
    collections::BTreeMap,
    fs::File,
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use super::{io_err, meta::FileStamp, TransferError, ValidatedMeta};

/// Our own per-torrent record (librqbit keeps the rest).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Record {
    pub name: String,
    pub total_size: u64,
    /// Set for a published original: its files and their stamps when published.
    #[serde(default)]
    pub published: Option<Vec<(PathBuf, FileStamp)>>,
    /// Where the data lives (the file for one file, the folder otherwise).
    pub path: PathBuf,
    #[serde(default)]
    pub peers: Vec<SocketAddr>,
    /// Why a published original is no longer seeded (it changed on disk).
    #[serde(default)]
    pub stale: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Sidecar {
    pub version: u32,
    pub torrents: BTreeMap<String, Record>,
}

pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Bytes the fastresume bitfield says we have.
pub(crate) fn have_from_bitfield(bits: &[u8], meta: &ValidatedMeta) -> u64 {
    let pieces = meta.piece_count as usize;
    let pl = meta.piece_length as u64;
    let mut have = 0u64;
    for i in 0..pieces {
        let set = bits.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0);
        if set {
            have += if i + 1 == pieces {
                meta.total_size - pl * (pieces as u64 - 1)
            } else {
                pl
            };
        }
    }
    have
}

pub(crate) async fn acquire_lock(path: &Path) -> Result<File, TransferError> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_err(format!("cannot open {}", path.display())))?;
    // A previous instance in this process (or one that is exiting) may still hold it briefly.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(f),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(TransferError::StateDirLocked(
                    path.parent().unwrap_or(path).to_path_buf(),
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io_err(format!("cannot lock {}", path.display()))(e))
            }
        }
    }
}

pub(crate) fn load_sidecar(path: &Path) -> Sidecar {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
            // Without it, nothing is treated as a published original or as ours to delete.
            tracing::error!(
                "{} is unreadable ({e}); starting without it",
                path.display()
            );
            Sidecar::default()
        }),
        Err(_) => Sidecar::default(),
    }
}

/// The first file of a published original that changed (or vanished) since publishing.
pub(crate) fn changed_file(stamps: &[(PathBuf, FileStamp)]) -> Option<PathBuf> {
    stamps
        .iter()
        .find(|(p, st)| FileStamp::of(p).ok().as_ref() != Some(st))
        .map(|(p, _)| p.clone())
}

/// Prepares librqbit's session file before the session starts.
///
/// librqbit would re-check a restored torrent and then set every file back to its torrent
/// length (truncating a grown original), recreate a deleted one, and write pieces fetched from
/// peers into it. So a published original that changed is taken out of the session file, and
/// shown as an error until it is removed or published again. Entries whose .torrent is missing
/// are dropped too: librqbit would restore them as bare magnets and wait forever for metadata.
/// An unreadable session file is set aside (the torrents are re-added from our records).
pub(crate) fn prepare_session_db(
    sidecar: &mut Sidecar,
    session_dir: &Path,
) -> Result<(), TransferError> {
    let mut pruned = Vec::new();
    for (hash, rec) in sidecar.torrents.iter_mut() {
        let Some(stamps) = rec.published.as_ref() else {
            continue;
        };
        if rec.stale.is_some() {
            pruned.push(hash.clone());
            continue;
        }
        if let Some(p) = changed_file(stamps) {
            tracing::warn!(%hash, "published file {} changed; no longer seeding it", p.display());
            rec.stale = Some(format!(
                "{} changed on disk after it was published; publish it again",
                p.display()
            ));
            pruned.push(hash.clone());
        }
    }
    let db = session_dir.join("session.json");
    let bytes = match std::fs::read(&db) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(format!("cannot read {}", db.display()))(e)),
    };
    let mut v = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) if v.get("torrents").is_some_and(|t| t.is_object()) => v,
        _ => {
            let aside = session_dir.join("session.json.unreadable");
            tracing::error!(
                "{} is unreadable; moved to {}",
                db.display(),
                aside.display()
            );
            return std::fs::rename(&db, &aside)
                .map_err(io_err(format!("cannot move {} aside", db.display())));
        }
    };
    let mut changed = false;
    if let Some(map) = v.get_mut("torrents").and_then(|t| t.as_object_mut()) {
        map.retain(|_, t| {
            let h = t
                .get("info_hash")
                .and_then(|h| h.as_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            let keep = !pruned.contains(&h) && session_dir.join(format!("{h}.torrent")).is_file();
            changed |= !keep;
            keep
        });
    }
    if changed {
        let data = serde_json::to_vec(&v).map_err(|e| TransferError::Engine(e.to_string()))?;
        // If this fails, starting anyway could damage a changed original: refuse instead.
        write_atomic(&db, &data).map_err(io_err(format!("cannot update {}", db.display())))?;
    }
    for h in &pruned {
        for ext in ["torrent", "bitv"] {
            let _ = std::fs::remove_file(session_dir.join(format!("{h}.{ext}")));
        }
    }
    Ok(())
}
