//! Torrent metadata: strict validation of untrusted .torrent bytes, creation of torrents for
//! local files and folders (our own info dictionary, never librqbit's `create_torrent`), and
//! magnet URIs.

use std::{
    collections::HashMap,
    fs::File,
    io::Read,
    net::SocketAddr,
    ops::Range,
    path::{Path, PathBuf},
    time::UNIX_EPOCH,
};

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use tokio_util::sync::CancellationToken;

use super::{bencode, FileEntry};
use bencode::Value;

/// Largest .torrent file accepted, in bytes.
pub const MAX_TORRENT_FILE_BYTES: usize = 32 << 20;
/// Largest total content size accepted, in bytes (1 TiB).
pub const MAX_TOTAL_SIZE: u64 = 1 << 40;
/// Most files accepted in one torrent.
pub const MAX_FILES: usize = 100_000;
/// Smallest piece length accepted (16 KiB, one BitTorrent block).
pub const MIN_PIECE_LENGTH: u64 = 16 << 10;
/// Largest piece length accepted (64 MiB).
pub const MAX_PIECE_LENGTH: u64 = 64 << 20;
/// Longest torrent name and path component, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Deepest file path accepted (components below the torrent's folder).
pub const MAX_PATH_DEPTH: usize = 64;
/// Longest relative path accepted, in bytes (name and components with separators).
pub const MAX_PATH_BYTES: usize = 4096;

/// Why a file name in a torrent is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    Empty,
    Dot,
    DotDot,
    Separator,
    Nul,
    ControlChar,
    DrivePrefix,
    Colon,
    Reserved,
    TooLong,
    TooDeep,
    NotUtf8,
    /// The torrent's name starts with '.': a hidden file or folder in the download folder
    /// (`.bashrc`, `.config`), which the person would not see arrive.
    Hidden,
}

impl std::fmt::Display for PathProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PathProblem::Empty => "a path component is empty",
            PathProblem::Dot => "a path component is \".\"",
            PathProblem::DotDot => "a path component is \"..\" (would leave the download folder)",
            PathProblem::Separator => {
                "a path component contains '/' or '\\' (absolute or nested path)"
            }
            PathProblem::Nul => "a path component contains a NUL byte",
            PathProblem::ControlChar => "a path component contains a control character",
            PathProblem::DrivePrefix => "a path component starts with a drive prefix like \"C:\"",
            PathProblem::Colon => "a path component contains ':'",
            PathProblem::Reserved => {
                "a path component is a reserved device name (CON, NUL, COM1, ...)"
            }
            PathProblem::TooLong => "a path component or the whole path is too long",
            PathProblem::TooDeep => "the path is nested too deeply",
            PathProblem::NotUtf8 => "a path component is not valid UTF-8",
            PathProblem::Hidden => "the name starts with '.' (it would be a hidden file)",
        })
    }
}

/// Why .torrent bytes were refused by [`validate_metainfo`].
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum MetaError {
    #[error("the torrent file is {size} bytes; at most {max} bytes are accepted")]
    FileTooLarge { size: usize, max: usize },
    #[error("not a torrent file (bad bencode: {0})")]
    NotBencode(String),
    #[error("not a torrent file: the required field \"{0}\" is missing")]
    MissingField(&'static str),
    #[error("not a torrent file: the field \"{field}\" should be a {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    #[error("invalid piece length {0}: it must be a power of two from 16 KiB to 64 MiB")]
    BadPieceLength(i64),
    #[error("the piece hash list is {0} bytes long, which is not a multiple of 20")]
    BadPiecesField(usize),
    #[error("the torrent lists {actual} pieces but its size needs exactly {expected}")]
    PieceCountMismatch { expected: u64, actual: u64 },
    #[error("a file in the torrent has a negative size")]
    NegativeLength,
    #[error("the file sizes in the torrent add up to more than 2^64 bytes")]
    SizeOverflow,
    #[error("the torrent holds {total} bytes; at most {max} bytes are accepted")]
    TooBig { total: u64, max: u64 },
    #[error("the torrent contains no data")]
    Empty,
    #[error("the torrent lists {count} files; at most {max} are accepted")]
    TooManyFiles { count: usize, max: usize },
    #[error("the torrent must have either \"length\" (one file) or \"files\" (a folder), not both or neither")]
    AmbiguousLayout,
    #[error("the torrent name is {0} bytes long; at most 255 bytes are accepted")]
    NameTooLong(usize),
    #[error("unsafe file name {path:?}: {problem}")]
    UnsafePath { path: String, problem: PathProblem },
    #[error("two files differ only by letter case (or trailing dots/spaces): {a:?} and {b:?}")]
    CaseCollision { a: String, b: String },
    #[error("{0:?} is both a file and a folder in the torrent")]
    FileFolderConflict(String),
}

/// What [`validate_metainfo`] learned from a torrent it accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatedMeta {
    /// SHA-1 of the exact info dictionary bytes, 40 lowercase hex digits.
    pub info_hash: String,
    pub name: String,
    /// The files, in torrent order (BEP 47 padding files are left out). For a single-file
    /// torrent this is one entry whose path is the name; for a folder, paths are relative to it.
    pub files: Vec<FileEntry>,
    /// Total bytes covered by the pieces (includes padding files, if any).
    pub total_size: u64,
    pub piece_length: u32,
    pub piece_count: u32,
    /// True when the torrent is a folder (the "files" layout).
    pub multi_file: bool,
}

/// Parse and validate .torrent bytes. Pure: touches no file and no network.
pub fn validate_metainfo(torrent: &[u8]) -> Result<ValidatedMeta, MetaError> {
    validate_with_span(torrent).map(|(m, _)| m)
}

/// Like [`validate_metainfo`], also returning the byte span of the info dictionary.
pub(crate) fn validate_with_span(
    torrent: &[u8],
) -> Result<(ValidatedMeta, Range<usize>), MetaError> {
    if torrent.len() > MAX_TORRENT_FILE_BYTES {
        return Err(MetaError::FileTooLarge {
            size: torrent.len(),
            max: MAX_TORRENT_FILE_BYTES,
        });
    }
    let root = bencode::parse(torrent).map_err(MetaError::NotBencode)?;
    if !matches!(root, Value::Dict(_)) {
        return Err(MetaError::WrongType {
            field: "(top level)",
            expected: "dictionary",
        });
    }
    let (info, span) = root
        .get_with_span(b"info")
        .ok_or(MetaError::MissingField("info"))?;
    if !matches!(info, Value::Dict(_)) {
        return Err(MetaError::WrongType {
            field: "info",
            expected: "dictionary",
        });
    }
    let info_hash = hex::encode(Sha1::digest(&torrent[span.clone()]));

    // Name.
    let name_bytes = get_bytes(info, b"name", "name")?;
    if name_bytes.len() > MAX_NAME_BYTES {
        return Err(MetaError::NameTooLong(name_bytes.len()));
    }
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let name = check_component(name_bytes)
        .map_err(|problem| MetaError::UnsafePath {
            path: lossy(name_bytes),
            problem,
        })?
        .to_owned();
    if name.starts_with('.') {
        return Err(MetaError::UnsafePath {
            path: name,
            problem: PathProblem::Hidden,
        });
    }

    // Piece length and hashes.
    let piece_length = get_int(info, b"piece length", "piece length")?;
    if piece_length <= 0
        || (piece_length as u64) < MIN_PIECE_LENGTH
        || (piece_length as u64) > MAX_PIECE_LENGTH
        || !(piece_length as u64).is_power_of_two()
    {
        return Err(MetaError::BadPieceLength(piece_length));
    }
    let piece_length = piece_length as u64;
    let pieces = get_bytes(info, b"pieces", "pieces")?;
    if pieces.len() % 20 != 0 {
        return Err(MetaError::BadPiecesField(pieces.len()));
    }

    // Layout.
    let length = info.get(b"length");
    let files_v = info.get(b"files");
    let mut files = Vec::new();
    let multi_file;
    let total: u64;
    match (length, files_v) {
        (Some(len), None) => {
            multi_file = false;
            let len = as_length(len, "length")?;
            total = len;
            files.push(FileEntry {
                path: name.clone(),
                size: len,
            });
        }
        (None, Some(list)) => {
            multi_file = true;
            let Value::List(list) = list else {
                return Err(MetaError::WrongType {
                    field: "files",
                    expected: "list",
                });
            };
            if list.is_empty() {
                return Err(MetaError::Empty);
            }
            if list.len() > MAX_FILES {
                return Err(MetaError::TooManyFiles {
                    count: list.len(),
                    max: MAX_FILES,
                });
            }
            // Sizes first (checked sum), so an overflow is reported as such.
            let mut sum: u64 = 0;
            let mut parsed = Vec::with_capacity(list.len());
            for f in list {
                if !matches!(f, Value::Dict(_)) {
                    return Err(MetaError::WrongType {
                        field: "files[]",
                        expected: "dictionary",
                    });
                }
                let len = as_length(
                    f.get(b"length")
                        .ok_or(MetaError::MissingField("files[].length"))?,
                    "files[].length",
                )?;
                sum = sum.checked_add(len).ok_or(MetaError::SizeOverflow)?;
                let Some(Value::List(path)) = f.get(b"path") else {
                    return Err(match f.get(b"path") {
                        None => MetaError::MissingField("files[].path"),
                        Some(_) => MetaError::WrongType {
                            field: "files[].path",
                            expected: "list",
                        },
                    });
                };
                let padding = matches!(f.get(b"attr"), Some(Value::Bytes(a)) if a.contains(&b'p'));
                parsed.push((len, path, padding));
            }
            total = sum;
            if total > MAX_TOTAL_SIZE {
                return Err(MetaError::TooBig {
                    total,
                    max: MAX_TOTAL_SIZE,
                });
            }
            let mut seen: HashMap<String, String> = HashMap::new();
            let mut dirs: HashMap<String, String> = HashMap::new();
            for (len, path, padding) in parsed {
                let mut comps = Vec::with_capacity(path.len());
                let display = || {
                    path.iter()
                        .map(|c| match c {
                            Value::Bytes(b) => lossy(b),
                            other => format!("<{}>", other.kind()),
                        })
                        .collect::<Vec<_>>()
                        .join("/")
                };
                if path.is_empty() {
                    return Err(MetaError::UnsafePath {
                        path: String::new(),
                        problem: PathProblem::Empty,
                    });
                }
                if path.len() > MAX_PATH_DEPTH {
                    return Err(MetaError::UnsafePath {
                        path: display(),
                        problem: PathProblem::TooDeep,
                    });
                }
                for c in path {
                    let Value::Bytes(c) = c else {
                        return Err(MetaError::WrongType {
                            field: "files[].path[]",
                            expected: "byte string",
                        });
                    };
                    let c = check_component(c).map_err(|problem| MetaError::UnsafePath {
                        path: display(),
                        problem,
                    })?;
                    comps.push(c);
                }
                let rel = comps.join("/");
                if name.len() + 1 + rel.len() > MAX_PATH_BYTES {
                    return Err(MetaError::UnsafePath {
                        path: rel,
                        problem: PathProblem::TooLong,
                    });
                }
                if padding {
                    // Never written to disk (librqbit skips them); equal pads may share a name.
                    continue;
                }
                let keys: Vec<String> = comps.iter().map(|c| collision_key(c)).collect();
                let key = keys.join("/");
                if let Some(prev) = seen.insert(key.clone(), rel.clone()) {
                    return Err(MetaError::CaseCollision { a: prev, b: rel });
                }
                if dirs.contains_key(&key) {
                    return Err(MetaError::FileFolderConflict(rel));
                }
                for i in 1..keys.len() {
                    let dkey = keys[..i].join("/");
                    if seen.contains_key(&dkey) {
                        return Err(MetaError::FileFolderConflict(comps[..i].join("/")));
                    }
                    dirs.entry(dkey).or_insert_with(|| comps[..i].join("/"));
                }
                files.push(FileEntry {
                    path: rel,
                    size: len,
                });
            }
        }
        _ => return Err(MetaError::AmbiguousLayout),
    }
    if total > MAX_TOTAL_SIZE {
        return Err(MetaError::TooBig {
            total,
            max: MAX_TOTAL_SIZE,
        });
    }
    if total == 0 {
        return Err(MetaError::Empty);
    }
    let expected = total.div_ceil(piece_length);
    let actual = (pieces.len() / 20) as u64;
    if expected != actual {
        return Err(MetaError::PieceCountMismatch { expected, actual });
    }
    let piece_count = u32::try_from(actual).map_err(|_| MetaError::TooBig {
        total,
        max: MAX_TOTAL_SIZE,
    })?;
    Ok((
        ValidatedMeta {
            info_hash,
            name,
            files,
            total_size: total,
            piece_length: piece_length as u32,
            piece_count,
            multi_file,
        },
        span,
    ))
}

fn get_bytes<'a>(d: &'a Value<'a>, key: &[u8], field: &'static str) -> Result<&'a [u8], MetaError> {
    match d.get(key) {
        None => Err(MetaError::MissingField(field)),
        Some(Value::Bytes(b)) => Ok(b),
        Some(_) => Err(MetaError::WrongType {
            field,
            expected: "byte string",
        }),
    }
}

fn get_int(d: &Value<'_>, key: &[u8], field: &'static str) -> Result<i64, MetaError> {
    match d.get(key) {
        None => Err(MetaError::MissingField(field)),
        Some(Value::Int(n)) => Ok(*n),
        Some(_) => Err(MetaError::WrongType {
            field,
            expected: "integer",
        }),
    }
}

fn as_length(v: &Value<'_>, field: &'static str) -> Result<u64, MetaError> {
    match v {
        Value::Int(n) if *n < 0 => Err(MetaError::NegativeLength),
        Value::Int(n) => Ok(*n as u64),
        _ => Err(MetaError::WrongType {
            field,
            expected: "integer",
        }),
    }
}

/// Checks one path component (or the torrent name) and returns it as text.
pub(crate) fn check_component(c: &[u8]) -> Result<&str, PathProblem> {
    if c.is_empty() {
        return Err(PathProblem::Empty);
    }
    if c.len() > MAX_NAME_BYTES {
        return Err(PathProblem::TooLong);
    }
    if c.contains(&0) {
        return Err(PathProblem::Nul);
    }
    if c.contains(&b'/') || c.contains(&b'\\') {
        return Err(PathProblem::Separator);
    }
    let s = std::str::from_utf8(c).map_err(|_| PathProblem::NotUtf8)?;
    if s == "." {
        return Err(PathProblem::Dot);
    }
    if s == ".." {
        return Err(PathProblem::DotDot);
    }
    if s.chars().any(char::is_control) {
        return Err(PathProblem::ControlChar);
    }
    if c.len() >= 2 && c[0].is_ascii_alphabetic() && c[1] == b':' {
        return Err(PathProblem::DrivePrefix);
    }
    if s.contains(':') {
        return Err(PathProblem::Colon);
    }
    if is_reserved_name(s) {
        return Err(PathProblem::Reserved);
    }
    Ok(s)
}

/// Windows device names, with or without an extension, in any case ("con", "Nul.txt", "LPT1 .x").
fn is_reserved_name(s: &str) -> bool {
    let trimmed = s.trim_end_matches(['.', ' ']);
    let base = trimmed
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end_matches(' ');
    let upper = base.to_ascii_uppercase();
    match upper.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" => true,
        _ => {
            let b = upper.as_bytes();
            b.len() == 4
                && (upper.starts_with("COM") || upper.starts_with("LPT"))
                && b[3].is_ascii_digit()
        }
    }
}

/// Two names that map to the same file on a case-insensitive file system (Windows also drops
/// trailing dots and spaces) share this key.
fn collision_key(c: &str) -> String {
    c.trim_end_matches(['.', ' ']).to_lowercase()
}

/// The .torrent we hand to librqbit and to peers: just the info dictionary, byte for byte.
/// Dropping everything else (announce lists, web seeds, comments) keeps trackers out.
pub(crate) fn minimal_torrent(torrent: &[u8], info_span: Range<usize>) -> Vec<u8> {
    let info = &torrent[info_span];
    let mut out = Vec::with_capacity(info.len() + 32);
    out.push(b'd');
    bencode::put_bytes(&mut out, b"created by");
    bencode::put_bytes(&mut out, b"Hearth");
    bencode::put_bytes(&mut out, b"info");
    out.extend_from_slice(info);
    out.push(b'e');
    out
}

/// Size and modification time of a published original, to notice later changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FileStamp {
    pub size: u64,
    pub mtime_ns: u128,
}

impl FileStamp {
    pub(crate) fn of(path: &Path) -> std::io::Result<Self> {
        let md = std::fs::symlink_metadata(path)?;
        if !md.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        let mtime_ns = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Ok(Self {
            size: md.len(),
            mtime_ns,
        })
    }
}

/// A torrent we created for local content.
pub(crate) struct Built {
    pub torrent: Vec<u8>,
    pub meta: ValidatedMeta,
    /// The folder librqbit must use as its output folder so that it finds the data in place.
    pub output_folder: PathBuf,
    /// Absolute path and stamp of every file, in torrent order.
    pub stamps: Vec<(PathBuf, FileStamp)>,
}

/// Piece length for content of `total` bytes: 256 KiB, doubled until there are at most
/// 2048 pieces, capped at 16 MiB.
pub(crate) fn choose_piece_length(total: u64) -> u64 {
    let mut pl: u64 = 256 << 10;
    while total.div_ceil(pl) > 2048 && pl < (16 << 20) {
        pl *= 2;
    }
    pl
}

/// Hash a local file or folder into a torrent. Blocking; checks `cancel` between pieces.
#[cfg(test)]
pub(crate) fn build_torrent(path: &Path, cancel: &CancellationToken) -> Result<Built, String> {
    build_torrent_with(path, false, cancel)
}

/// [`build_torrent`]; with `no_follow` (files found in a shared folder), `path` must be the
/// real path: absolute, with no symbolic link anywhere on it. Anyone who can write to a shared
/// folder could otherwise swap a file for a link to any file the user can read between the
/// watcher's look and the publish. Every file is opened without following a link and
/// checked on the open handle (a regular file, and on Linux still at the path it was opened
/// by), so a swap during hashing is caught too.
pub(crate) fn build_torrent_with(
    path: &Path,
    no_follow: bool,
    cancel: &CancellationToken,
) -> Result<Built, String> {
    let given = path;
    let path = std::fs::canonicalize(path).map_err(|e| format!("cannot open it: {e}"))?;
    if no_follow && path != given {
        return Err(
            "it is (or is reached through) a symbolic link, which shared folders never follow"
                .into(),
        );
    }
    let md = std::fs::metadata(&path).map_err(|e| format!("cannot read it: {e}"))?;
    let name_os = path
        .file_name()
        .ok_or_else(|| "it has no file name".to_string())?;
    let name = name_os
        .to_str()
        .ok_or_else(|| "its name is not valid UTF-8".to_string())?
        .to_owned();
    check_component(name.as_bytes()).map_err(|p| format!("its name is not portable: {p}"))?;

    // (relative components, absolute path)
    let mut list: Vec<(Vec<String>, PathBuf)> = Vec::new();
    let output_folder;
    if md.is_file() {
        output_folder = path
            .parent()
            .ok_or_else(|| "it has no parent folder".to_string())?
            .to_path_buf();
        list.push((vec![name.clone()], path.clone()));
    } else if md.is_dir() {
        output_folder = path.clone();
        walk(&path, &mut Vec::new(), &mut list)?;
    } else {
        return Err("it is neither a regular file nor a folder".into());
    }
    if list.is_empty() {
        return Err("the folder contains no files".into());
    }

    let mut stamps = Vec::with_capacity(list.len());
    let mut total: u64 = 0;
    for (_, abs) in &list {
        let st = FileStamp::of(abs).map_err(|e| format!("cannot read {}: {e}", abs.display()))?;
        total = total
            .checked_add(st.size)
            .ok_or_else(|| "it is too large".to_string())?;
        stamps.push((abs.clone(), st));
    }
    if total == 0 {
        return Err("it is empty (0 bytes)".into());
    }
    if total > MAX_TOTAL_SIZE {
        return Err(format!(
            "it is {total} bytes; at most {MAX_TOTAL_SIZE} can be published"
        ));
    }
    let piece_length = choose_piece_length(total);

    // Hash the concatenated content, piece by piece.
    let mut pieces: Vec<u8> = Vec::with_capacity(total.div_ceil(piece_length) as usize * 20);
    let mut buf = vec![0u8; piece_length as usize];
    let mut filled = 0usize;
    for (abs, st) in &stamps {
        let mut f = open_no_follow(abs, st)?;
        let mut left = st.size;
        while left > 0 {
            if cancel.is_cancelled() {
                return Err("cancelled".into());
            }
            let want = ((buf.len() - filled) as u64).min(left) as usize;
            let n = f
                .read(&mut buf[filled..filled + want])
                .map_err(|e| format!("cannot read {}: {e}", abs.display()))?;
            if n == 0 {
                return Err(format!(
                    "{} shrank while it was being published",
                    abs.display()
                ));
            }
            filled += n;
            left -= n as u64;
            if filled == buf.len() {
                pieces.extend_from_slice(&Sha1::digest(&buf));
                filled = 0;
            }
        }
        let after =
            FileStamp::of(abs).map_err(|e| format!("cannot read {}: {e}", abs.display()))?;
        if &after != st {
            return Err(format!(
                "{} changed while it was being published",
                abs.display()
            ));
        }
    }
    if filled > 0 {
        pieces.extend_from_slice(&Sha1::digest(&buf[..filled]));
    }
    debug_assert_eq!(pieces.len() as u64, total.div_ceil(piece_length) * 20);

    // The info dictionary, keys in sorted order.
    let mut info = Vec::with_capacity(pieces.len() + 256);
    info.push(b'd');
    if md.is_dir() {
        bencode::put_bytes(&mut info, b"files");
        info.push(b'l');
        for ((comps, _), (_, st)) in list.iter().zip(&stamps) {
            info.push(b'd');
            bencode::put_bytes(&mut info, b"length");
            bencode::put_int(&mut info, st.size as i64);
            bencode::put_bytes(&mut info, b"path");
            info.push(b'l');
            for c in comps {
                bencode::put_bytes(&mut info, c.as_bytes());
            }
            info.push(b'e');
            info.push(b'e');
        }
        info.push(b'e');
    } else {
        bencode::put_bytes(&mut info, b"length");
        bencode::put_int(&mut info, total as i64);
    }
    bencode::put_bytes(&mut info, b"name");
    bencode::put_bytes(&mut info, name.as_bytes());
    bencode::put_bytes(&mut info, b"piece length");
    bencode::put_int(&mut info, piece_length as i64);
    bencode::put_bytes(&mut info, b"pieces");
    bencode::put_bytes(&mut info, &pieces);
    info.push(b'e');

    let mut torrent = Vec::with_capacity(info.len() + 32);
    torrent.push(b'd');
    bencode::put_bytes(&mut torrent, b"created by");
    bencode::put_bytes(&mut torrent, b"Hearth");
    bencode::put_bytes(&mut torrent, b"info");
    torrent.extend_from_slice(&info);
    torrent.push(b'e');

    // Our own output must pass our own validation (names, collisions, piece count).
    let meta = validate_metainfo(&torrent).map_err(|e| format!("it cannot be shared: {e}"))?;
    Ok(Built {
        torrent,
        meta,
        output_folder,
        stamps,
    })
}

/// Opens `abs` for hashing without following a symbolic link, and checks the open handle:
/// a regular file of the size stamped, reached by exactly this path (`abs` is canonical, so a
/// link anywhere on it now was swapped in).
pub(crate) fn open_no_follow(abs: &Path, st: &FileStamp) -> Result<File, String> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW);
    }
    let f = opts.open(abs).map_err(|e| {
        format!(
            "cannot open {} (a link is never followed): {e}",
            abs.display()
        )
    })?;
    let md = f
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", abs.display()))?;
    if !md.is_file() || md.len() != st.size {
        return Err(format!(
            "{} changed while it was being published",
            abs.display()
        ));
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let real = std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd()))
            .map_err(|e| format!("cannot check where {} is: {e}", abs.display()))?;
        if real != abs {
            return Err(format!(
                "{} was moved or replaced by a link while it was being published",
                abs.display()
            ));
        }
    }
    #[cfg(not(target_os = "linux"))]
    if std::fs::canonicalize(abs).ok().as_deref() != Some(abs) {
        return Err(format!(
            "{} was moved or replaced by a link while it was being published",
            abs.display()
        ));
    }
    Ok(f)
}

/// Collects regular files under `dir` in a stable (byte-wise sorted) order. Symbolic links and
/// special files are skipped: a published folder never reaches outside itself.
fn walk(
    dir: &Path,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, PathBuf)>,
) -> Result<(), String> {
    if prefix.len() >= MAX_PATH_DEPTH {
        return Err(format!("{} is nested too deeply", dir.display()));
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let ft = e
            .file_type()
            .map_err(|err| format!("cannot read {}: {err}", e.path().display()))?;
        if ft.is_symlink() || !(ft.is_file() || ft.is_dir()) {
            continue;
        }
        let fname = e.file_name();
        let Some(fname) = fname.to_str() else {
            return Err(format!(
                "{} has a name that is not valid UTF-8",
                e.path().display()
            ));
        };
        check_component(fname.as_bytes()).map_err(|p| {
            format!(
                "{} has a name that is not portable: {p}",
                e.path().display()
            )
        })?;
        prefix.push(fname.to_owned());
        if ft.is_dir() {
            walk(&e.path(), prefix, out)?;
        } else {
            if out.len() >= MAX_FILES {
                return Err(format!("it holds more than {MAX_FILES} files"));
            }
            out.push((prefix.clone(), e.path()));
        }
        prefix.pop();
    }
    Ok(())
}

/// `magnet:?xt=urn:btih:<hex>&dn=<name>&xl=<size>`
pub(crate) fn magnet_uri(info_hash: &str, name: &str, size: u64) -> String {
    format!(
        "magnet:?xt=urn:btih:{info_hash}&dn={}&xl={size}",
        percent_encode(name)
    )
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3).ok_or("truncated %-escape")?;
                let hex = std::str::from_utf8(hex).map_err(|_| "bad %-escape")?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad %-escape")?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

pub(crate) struct Magnet {
    pub info_hash: [u8; 20],
    #[cfg_attr(not(test), allow(dead_code))]
    pub name: Option<String>,
    /// `x.pe` peer addresses (IP literals only).
    pub peers: Vec<SocketAddr>,
}

/// Longest magnet URI accepted.
const MAX_MAGNET_LEN: usize = 16 << 10;
/// Most `x.pe` peers taken from one magnet.
const MAX_MAGNET_PEERS: usize = 64;

pub(crate) fn parse_magnet(s: &str) -> Result<Magnet, String> {
    if s.len() > MAX_MAGNET_LEN {
        return Err("the magnet link is too long".into());
    }
    let q = s
        .strip_prefix("magnet:?")
        .ok_or("it does not start with \"magnet:?\"")?;
    let mut info_hash = None;
    let mut name = None;
    let mut peers = Vec::new();
    for part in q.split('&') {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let v = percent_decode(v)?;
        match k {
            "xt" => {
                let v = String::from_utf8(v).map_err(|_| "xt is not text")?;
                if let Some(h) = v.strip_prefix("urn:btih:") {
                    if info_hash.is_none() {
                        info_hash = Some(parse_btih(h)?);
                    }
                }
            }
            "dn" => name = String::from_utf8(v).ok(),
            "x.pe" if peers.len() < MAX_MAGNET_PEERS => {
                if let Some(a) = std::str::from_utf8(&v).ok().and_then(|t| t.parse().ok()) {
                    peers.push(a);
                }
            }
            _ => {}
        }
    }
    Ok(Magnet {
        info_hash: info_hash.ok_or("it has no BitTorrent v1 info hash (xt=urn:btih:...)")?,
        name,
        peers,
    })
}

fn parse_btih(h: &str) -> Result<[u8; 20], String> {
    let mut out = [0u8; 20];
    if h.len() == 40 {
        hex::decode_to_slice(h, &mut out).map_err(|_| "the info hash is not valid hex")?;
        return Ok(out);
    }
    if h.len() == 32 {
        // RFC 4648 base32, no padding.
        let mut acc: u64 = 0;
        let mut bits = 0;
        let mut n = 0;
        for c in h.bytes() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a',
                b'2'..=b'7' => c - b'2' + 26,
                _ => return Err("the info hash is not valid base32".into()),
            };
            acc = (acc << 5) | v as u64;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out[n] = (acc >> bits) as u8;
                n += 1;
                acc &= (1 << bits) - 1;
            }
        }
        return Ok(out);
    }
    Err("the info hash must be 40 hex or 32 base32 characters".into())
}

/// Parses a 40-hex-digit info hash (either case) into lowercase hex.
pub(crate) fn normalize_hash(s: &str) -> Option<String> {
    let mut out = [0u8; 20];
    if s.len() != 40 {
        return None;
    }
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(hex::encode(out))
}
