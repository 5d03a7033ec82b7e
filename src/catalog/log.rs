//! The feed log: every stored feed entry, once, in an append-only file.
//!
//! sled rewrites whole pages as it consolidates them, which for a million entries meant
//! gigabytes of log, a slow open and a large page table. Entries are written once and never
//! change, so they go to `entries.log` instead: each record is a little-endian `u32` length
//! and the zstd-compressed `payload \n sig` (a payload is JSON, which never holds a raw
//! newline). `index.log` lists, per stored entry, `(author number u32, seq u32, offset
//! u64)`; `authors.log` lists the authors in the order they got their numbers, one per
//! line. Opening reads only the index (16 bytes an entry) and keeps, per author, the
//! offsets by sequence number: 8 bytes an entry in memory.
//!
//! Writes are buffered and made durable by [`FeedLog::sync`] (the catalog's commit tick, and
//! before this node acknowledges its own entries). After a crash, index records whose entry
//! is not completely on disk are dropped, and the files are cut back to what is consistent.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::feed::{self, SignedEntry, MAX_ENTRY_BYTES};

/// zstd level of stored entries: fast, and JSON text shrinks to about a third.
const COMPRESSION: i32 = 3;
const INDEX_RECORD: usize = 16;

/// Feed log errors.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("feed log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("feed log {path} is damaged: {message}")]
    Corrupt { path: PathBuf, message: String },
}

struct Files {
    entries: BufWriter<File>,
    entries_len: u64,
    index: BufWriter<File>,
    authors: BufWriter<File>,
    /// Reads go through their own handles; they flush the writer first when needed.
    reader: File,
    index_reader: File,
    /// Entries stored: `index.log` holds this many records.
    count: u64,
    unflushed: bool,
}

struct Feeds {
    numbers: HashMap<String, u32>,
    /// Authors by number.
    names: Vec<String>,
    /// Per author number: offsets of its entries, `offsets[seq - 1]`.
    offsets: Vec<Vec<u64>>,
    /// Per author number: bytes its entries take in `entries.log`.
    bytes: Vec<u64>,
}

/// The append-only store of feed entries. Thread-safe.
pub struct FeedLog {
    dir: PathBuf,
    files: Mutex<Files>,
    feeds: Mutex<Feeds>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_owned(),
        source,
    }
}

impl FeedLog {
    /// Opens (or creates) the log in `dir`, repairing a torn tail.
    pub fn open(dir: &Path) -> Result<Self, LogError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let entries_path = dir.join("entries.log");
        let index_path = dir.join("index.log");
        let authors_path = dir.join("authors.log");
        let open = |p: &Path| {
            OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(p)
                .map_err(io(p))
        };
        let entries = open(&entries_path)?;
        let entries_len = entries.metadata().map_err(io(&entries_path))?.len();
        let index = open(&index_path)?;
        let authors = open(&authors_path)?;

        let mut names = String::new();
        (&authors)
            .read_to_string(&mut names)
            .map_err(io(&authors_path))?;
        let complete_names = names.rfind('\n').map_or(0, |i| i + 1);
        let author_list: Vec<String> = names[..complete_names].lines().map(str::to_owned).collect();
        if complete_names < names.len() {
            authors
                .set_len(complete_names as u64)
                .map_err(io(&authors_path))?;
        }

        let mut raw = Vec::new();
        (&index).read_to_end(&mut raw).map_err(io(&index_path))?;
        let mut offsets: Vec<Vec<u64>> = vec![Vec::new(); author_list.len()];
        let mut reader = entries.try_clone().map_err(io(&entries_path))?;
        let mut valid = 0usize;
        for rec in raw.chunks_exact(INDEX_RECORD) {
            let (author, seq, offset) = index_record(rec);
            let author = author as usize;
            // Entries of a feed are stored in order, so each record extends its feed by one.
            let in_order = offsets
                .get(author)
                .is_some_and(|o| o.len() as u64 + 1 == u64::from(seq));
            if !in_order || offset >= entries_len {
                break;
            }
            offsets[author].push(offset);
            valid += 1;
        }
        // The last entry must be whole (its length prefix and bytes on disk).
        let mut cut_entries = entries_len;
        while valid > 0 {
            let (author, _, offset) =
                index_record(&raw[(valid - 1) * INDEX_RECORD..valid * INDEX_RECORD]);
            match read_record(&mut reader, offset, entries_len) {
                Some(end) => {
                    cut_entries = end;
                    break;
                }
                None => {
                    offsets[author as usize].pop();
                    valid -= 1;
                    cut_entries = offset;
                }
            }
        }
        if valid == 0 {
            cut_entries = 0;
        }
        // Each record runs to the next one's offset (entries are appended in index order).
        let mut bytes = vec![0u64; offsets.len()];
        for i in 0..valid {
            let (author, _, offset) = index_record(&raw[i * INDEX_RECORD..(i + 1) * INDEX_RECORD]);
            let end = if i + 1 < valid {
                index_record(&raw[(i + 1) * INDEX_RECORD..(i + 2) * INDEX_RECORD]).2
            } else {
                cut_entries
            };
            bytes[author as usize] += end.saturating_sub(offset);
        }
        index
            .set_len((valid * INDEX_RECORD) as u64)
            .map_err(io(&index_path))?;
        entries.set_len(cut_entries).map_err(io(&entries_path))?;
        let numbers = author_list
            .iter()
            .enumerate()
            .map(|(i, a)| (a.clone(), i as u32))
            .collect();
        let names = author_list;
        let index_reader = index.try_clone().map_err(io(&index_path))?;
        Ok(Self {
            dir: dir.to_owned(),
            files: Mutex::new(Files {
                entries: BufWriter::new(entries),
                entries_len: cut_entries,
                index: BufWriter::new(index),
                authors: BufWriter::new(authors),
                reader,
                index_reader,
                count: valid as u64,
                unflushed: false,
            }),
            feeds: Mutex::new(Feeds {
                numbers,
                names,
                offsets,
                bytes,
            }),
        })
    }

    fn files(&self) -> std::sync::MutexGuard<'_, Files> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn feeds(&self) -> std::sync::MutexGuard<'_, Feeds> {
        self.feeds.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The number of entries stored for `author` (its head's sequence number).
    pub fn len(&self, author: &str) -> u64 {
        let feeds = self.feeds();
        feeds
            .numbers
            .get(author)
            .map_or(0, |n| feeds.offsets[*n as usize].len() as u64)
    }

    /// The number `author` has in this log (stable: numbers are only ever added).
    pub fn number(&self, author: &str) -> Option<u32> {
        self.feeds().numbers.get(author).copied()
    }

    /// The author with number `n`.
    pub fn author(&self, n: u32) -> Option<String> {
        self.feeds().names.get(n as usize).cloned()
    }

    /// Every author with at least one entry.
    pub fn authors(&self) -> Vec<String> {
        let feeds = self.feeds();
        feeds
            .numbers
            .iter()
            .filter(|(_, n)| !feeds.offsets[**n as usize].is_empty())
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// Appends the next entry of `author`'s feed (`seq` must be its length + 1).
    pub fn append(&self, author: &str, seq: u64, entry: &SignedEntry) -> Result<(), LogError> {
        let mut raw = Vec::with_capacity(entry.payload.len() + entry.sig.len() + 1);
        raw.extend_from_slice(entry.payload.as_bytes());
        raw.push(b'\n');
        raw.extend_from_slice(entry.sig.as_bytes());
        let packed =
            zstd::bulk::compress(&raw, COMPRESSION).map_err(io(&self.path("entries.log")))?;
        let mut feeds = self.feeds();
        let number = match feeds.numbers.get(author) {
            Some(n) => *n,
            None => {
                let n = feeds.offsets.len() as u32;
                let mut files = self.files();
                files
                    .authors
                    .write_all(format!("{author}\n").as_bytes())
                    .map_err(io(&self.path("authors.log")))?;
                drop(files);
                feeds.numbers.insert(author.to_owned(), n);
                feeds.names.push(author.to_owned());
                feeds.offsets.push(Vec::new());
                feeds.bytes.push(0);
                n
            }
        };
        let have = feeds.offsets[number as usize].len() as u64;
        if seq != have + 1 || seq > u32::MAX as u64 {
            return Err(LogError::Corrupt {
                path: self.path("index.log"),
                message: format!("entry {seq} of {author} does not follow entry {have}"),
            });
        }
        let mut files = self.files();
        let offset = files.entries_len;
        let len = packed.len() as u32;
        files
            .entries
            .write_all(&len.to_le_bytes())
            .and_then(|_| files.entries.write_all(&packed))
            .map_err(io(&self.path("entries.log")))?;
        files.entries_len += 4 + packed.len() as u64;
        let mut rec = [0u8; INDEX_RECORD];
        rec[0..4].copy_from_slice(&number.to_le_bytes());
        rec[4..8].copy_from_slice(&(seq as u32).to_le_bytes());
        rec[8..16].copy_from_slice(&offset.to_le_bytes());
        files
            .index
            .write_all(&rec)
            .map_err(io(&self.path("index.log")))?;
        files.count += 1;
        files.unflushed = true;
        feeds.offsets[number as usize].push(offset);
        feeds.bytes[number as usize] += 4 + packed.len() as u64;
        Ok(())
    }

    /// Bytes `author`'s entries take on disk.
    pub fn bytes_of(&self, author: &str) -> u64 {
        let feeds = self.feeds();
        feeds
            .numbers
            .get(author)
            .map_or(0, |n| feeds.bytes[*n as usize])
    }

    /// Bytes of every entry stored.
    pub fn total_bytes(&self) -> u64 {
        self.files().entries_len
    }

    /// The number of entries stored. Each has a position, `0..count()`, in the order they
    /// were stored.
    pub fn count(&self) -> u64 {
        self.files().count
    }

    /// `(author number, seq)` of up to `limit` entries from position `from` on, in order.
    pub fn positions(&self, from: u64, limit: usize) -> Result<Vec<(u32, u64)>, LogError> {
        let path = self.path("index.log");
        let mut files = self.files();
        let n = files.count.saturating_sub(from).min(limit as u64) as usize;
        if n == 0 {
            return Ok(Vec::new());
        }
        if files.unflushed {
            files.index.flush().map_err(io(&path))?;
        }
        let mut raw = vec![0u8; n * INDEX_RECORD];
        files
            .index_reader
            .seek(SeekFrom::Start(from * INDEX_RECORD as u64))
            .and_then(|_| files.index_reader.read_exact(&mut raw))
            .map_err(io(&path))?;
        Ok(raw
            .chunks_exact(INDEX_RECORD)
            .map(|rec| {
                let (author, seq, _) = index_record(rec);
                (author, u64::from(seq))
            })
            .collect())
    }

    /// Entry `seq` of `author`'s feed.
    pub fn get(&self, author: &str, seq: u64) -> Result<Option<SignedEntry>, LogError> {
        match self.number(author) {
            Some(n) => self.get_numbered(n, seq),
            None => Ok(None),
        }
    }

    /// Entry `seq` of the feed of the author with number `n`.
    pub fn get_numbered(&self, n: u32, seq: u64) -> Result<Option<SignedEntry>, LogError> {
        let offset = {
            let feeds = self.feeds();
            let offset = seq.checked_sub(1).and_then(|i| {
                feeds
                    .offsets
                    .get(n as usize)?
                    .get(usize::try_from(i).ok()?)
                    .copied()
            });
            match offset {
                Some(o) => o,
                None => return Ok(None),
            }
        };
        self.read(offset).map(Some)
    }

    /// Up to `limit` entries of `author`'s feed after `after`, in order.
    pub fn after(
        &self,
        author: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SignedEntry>, LogError> {
        let offsets: Vec<u64> = {
            let feeds = self.feeds();
            let Some(n) = feeds.numbers.get(author) else {
                return Ok(Vec::new());
            };
            feeds.offsets[*n as usize]
                .iter()
                .skip(after.min(usize::MAX as u64) as usize)
                .take(limit)
                .copied()
                .collect()
        };
        offsets.into_iter().map(|o| self.read(o)).collect()
    }

    fn read(&self, offset: u64) -> Result<SignedEntry, LogError> {
        let path = self.path("entries.log");
        let corrupt = |message: String| LogError::Corrupt {
            path: path.clone(),
            message,
        };
        let mut files = self.files();
        if files.unflushed {
            files.entries.flush().map_err(io(&path))?;
        }
        let mut len = [0u8; 4];
        files
            .reader
            .seek(SeekFrom::Start(offset))
            .and_then(|_| files.reader.read_exact(&mut len))
            .map_err(io(&path))?;
        let len = u32::from_le_bytes(len) as usize;
        if len > 2 * MAX_ENTRY_BYTES {
            return Err(corrupt(format!("record at {offset} claims {len} bytes")));
        }
        let mut packed = vec![0u8; len];
        files.reader.read_exact(&mut packed).map_err(io(&path))?;
        drop(files);
        let raw = zstd::bulk::decompress(&packed, MAX_ENTRY_BYTES)
            .map_err(|e| corrupt(format!("record at {offset}: {e}")))?;
        let text =
            String::from_utf8(raw).map_err(|e| corrupt(format!("record at {offset}: {e}")))?;
        let (payload, sig) = text
            .rsplit_once('\n')
            .ok_or_else(|| corrupt(format!("record at {offset} has no signature")))?;
        Ok(SignedEntry {
            payload: payload.to_owned(),
            sig: sig.to_owned(),
        })
    }

    /// Makes every append so far durable: entries first, then the index that points at them.
    pub fn sync(&self) -> Result<(), LogError> {
        let mut files = self.files();
        if !files.unflushed {
            return Ok(());
        }
        let (e, i, a) = (
            self.path("entries.log"),
            self.path("index.log"),
            self.path("authors.log"),
        );
        files.authors.flush().map_err(io(&a))?;
        files.authors.get_ref().sync_data().map_err(io(&a))?;
        files.entries.flush().map_err(io(&e))?;
        files.entries.get_ref().sync_data().map_err(io(&e))?;
        files.index.flush().map_err(io(&i))?;
        files.index.get_ref().sync_data().map_err(io(&i))?;
        files.unflushed = false;
        Ok(())
    }

    /// The hash of `author`'s last entry, with its sequence number.
    pub fn head(&self, author: &str) -> Result<Option<feed::Head>, LogError> {
        let seq = self.len(author);
        if seq == 0 {
            return Ok(None);
        }
        Ok(self.get(author, seq)?.map(|e| feed::Head {
            seq,
            hash: feed::hash_of(&e),
        }))
    }
}

/// An `index.log` record: author number, seq, offset of the entry in `entries.log`.
fn index_record(rec: &[u8]) -> (u32, u32, u64) {
    let word = |i: usize| u32::from_le_bytes([rec[i], rec[i + 1], rec[i + 2], rec[i + 3]]);
    let offset = u64::from(word(8)) | (u64::from(word(12)) << 32);
    (word(0), word(4), offset)
}

/// The end offset of the whole record at `offset`, if it is whole.
fn read_record(file: &mut File, offset: u64, file_len: u64) -> Option<u64> {
    let mut len = [0u8; 4];
    file.seek(SeekFrom::Start(offset)).ok()?;
    file.read_exact(&mut len).ok()?;
    let end = offset + 4 + u32::from_le_bytes(len) as u64;
    (end <= file_len).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32) -> SignedEntry {
        SignedEntry {
            payload: format!("{{\"n\":{n},\"text\":\"some words\"}}"),
            sig: format!("sig{n}"),
        }
    }

    #[test]
    fn entries_come_back_in_order_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = FeedLog::open(dir.path()).unwrap();
            for seq in 1..=100u32 {
                log.append("alice", seq as u64, &entry(seq)).unwrap();
                if seq <= 50 {
                    log.append("bob", seq as u64, &entry(1000 + seq)).unwrap();
                }
            }
            assert_eq!(
                log.get("alice", 7).unwrap(),
                Some(entry(7)),
                "readable before sync"
            );
            log.sync().unwrap();
            assert!(
                log.append("alice", 5, &entry(5)).is_err(),
                "only the next seq"
            );
        }
        let log = FeedLog::open(dir.path()).unwrap();
        assert_eq!(log.len("alice"), 100);
        assert_eq!(log.len("bob"), 50);
        assert_eq!(log.get("bob", 50).unwrap(), Some(entry(1050)));
        assert_eq!(log.get("bob", 51).unwrap(), None);
        let after: Vec<SignedEntry> = log.after("alice", 95, 10).unwrap();
        assert_eq!(after, (96..=100).map(entry).collect::<Vec<_>>());
        assert_eq!(log.head("alice").unwrap().unwrap().seq, 100);
        // Positions list the entries in the order they were stored.
        assert_eq!(log.count(), 150);
        let first = log.positions(0, 4).unwrap();
        assert_eq!(first, vec![(0, 1), (1, 1), (0, 2), (1, 2)]);
        let last = log.positions(148, 10).unwrap();
        assert_eq!(last, vec![(0, 99), (0, 100)]);
        assert!(log.positions(150, 10).unwrap().is_empty());
        log.append("bob", 51, &entry(1051)).unwrap();
        assert_eq!(
            log.positions(150, 10).unwrap(),
            vec![(1, 51)],
            "before sync too"
        );
    }

    #[test]
    fn a_torn_tail_is_cut_back_to_whole_entries() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = FeedLog::open(dir.path()).unwrap();
            for seq in 1..=10u64 {
                log.append("alice", seq, &entry(seq as u32)).unwrap();
            }
            log.sync().unwrap();
        }
        // A crash mid-write: the last entry's bytes are cut short, the index has a half record.
        let entries = dir.path().join("entries.log");
        let len = std::fs::metadata(&entries).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&entries)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let mut index = OpenOptions::new()
            .append(true)
            .open(dir.path().join("index.log"))
            .unwrap();
        index.write_all(&[1, 2, 3]).unwrap();
        drop(index);

        let log = FeedLog::open(dir.path()).unwrap();
        assert_eq!(log.len("alice"), 9);
        assert_eq!(log.count(), 9);
        assert_eq!(log.get("alice", 9).unwrap(), Some(entry(9)));
        log.append("alice", 10, &entry(10)).unwrap();
        log.sync().unwrap();
        drop(log);
        let log = FeedLog::open(dir.path()).unwrap();
        assert_eq!(log.get("alice", 10).unwrap(), Some(entry(10)));
    }
}
