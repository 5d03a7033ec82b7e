//! Looking at the disk: which names are never reported, probing one path, walking a
//! folder (never following a symlink).

use super::*;

pub(super) fn file_info(path: &Path, size: u64, mtime: SystemTime) -> FileInfo {
    FileInfo {
        path: path.to_path_buf(),
        size,
        mtime_ms: mtime
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0),
    }
}

pub(super) fn is_hidden(name: &OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// A temporary file: `*.part`, `*.crdownload`, `*.tmp`, `*.swp`, `~$*`.
pub(super) fn is_temporary(name: &OsStr) -> bool {
    let name = name.to_string_lossy().to_lowercase();
    name.starts_with("~$")
        || [".part", ".crdownload", ".tmp", ".swp"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

/// Whether `path` (under `folder`) is never reported: hidden itself or under a hidden
/// directory, or a temporary file. The folder itself counts as ignored.
pub(super) fn is_ignored(folder: &Path, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(folder) else {
        return true;
    };
    let mut components = relative.components().peekable();
    if components.peek().is_none() {
        return true;
    }
    while let Some(component) = components.next() {
        let Component::Normal(name) = component else {
            return true;
        };
        if is_hidden(name) || (components.peek().is_none() && is_temporary(name)) {
            return true;
        }
    }
    false
}

/// Looks at a pending path (blocking).
pub(super) fn probe(path: &Path, folder: &Path, expand: bool, cancel: &CancellationToken) -> Probe {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        // Not there (or its parent is no longer a directory we can search): gone.
        Err(_) => return Probe::Missing,
    };
    let file_type = meta.file_type();
    if file_type.is_symlink() || !(file_type.is_file() || file_type.is_dir()) {
        return Probe::Excluded;
    }
    // No symlink between the folder and the path: its parent must canonicalise to itself.
    let inside = path
        .parent()
        .and_then(|parent| std::fs::canonicalize(parent).ok().map(|c| c == parent))
        .unwrap_or(false);
    if !inside || !path.starts_with(folder) {
        return Probe::Excluded;
    }
    if file_type.is_dir() {
        if !expand {
            return Probe::Dir(None);
        }
        return match walk(path, cancel) {
            Ok(files) => Probe::Dir(Some(files)),
            Err(_) => Probe::Dir(None),
        };
    }
    Probe::File {
        size: meta.len(),
        mtime: meta.modified().unwrap_or(UNIX_EPOCH),
    }
}

/// The reportable files under `root` (blocking): hidden entries, temporary files, symlinks
/// and special files are skipped, symlinked directories never entered. An error reading
/// `root` itself is returned; unreadable subdirectories are skipped.
pub(super) fn walk(root: &Path, cancel: &CancellationToken) -> io::Result<Vec<Found>> {
    let mut files = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    let mut first = true;
    while let Some((dir, depth)) = stack.pop() {
        if cancel.is_cancelled() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if first => return Err(e),
            Err(e) => {
                tracing::debug!(dir = %dir.display(), "skipping unreadable directory: {e}");
                continue;
            }
        };
        first = false;
        for entry in entries.flatten() {
            let name = entry.file_name();
            if is_hidden(&name) {
                continue;
            }
            // `DirEntry::file_type` and `metadata` do not follow symlinks.
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_dir() {
                if depth < MAX_DEPTH {
                    stack.push((entry.path(), depth + 1));
                }
            } else if file_type.is_file() && !is_temporary(&name) {
                if let Ok(meta) = entry.metadata() {
                    files.push(Found {
                        path: entry.path(),
                        size: meta.len(),
                        mtime: meta.modified().unwrap_or(UNIX_EPOCH),
                    });
                }
            }
        }
    }
    Ok(files)
}
