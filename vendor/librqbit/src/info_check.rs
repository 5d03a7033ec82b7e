// hearth: the whole file (patch 10 in HEARTH-PATCHES.md).
//! Checks the numbers of an info dictionary before anything computes lengths from them.
//!
//! `librqbit_core`'s `Lengths::new` divides by the piece length, sums the file lengths and
//! narrows the piece count to `u32` without checks: a piece length of 0 or a total near 2^64
//! panics in a debug build ("attempt to divide by zero", "attempt to subtract with overflow")
//! and wraps silently in a release build. Metadata comes from peers (magnet links) and from
//! .torrent files, so it is checked here first, with checked arithmetic only.

use librqbit_core::{constants::CHUNK_SIZE, torrent_metainfo::TorrentMetaV1Info};

/// Why an info dictionary's lengths were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InfoLengthsError {
    ZeroPieceLength,
    Empty,
    SizeOverflow,
    TooManyPieces(u64),
    PieceCountMismatch {
        expected: u64,
        actual_bytes: u64,
    },
    /// Refused by `librqbit_core`'s own `validate` (paths, names, file list).
    Invalid(String),
}

impl std::fmt::Display for InfoLengthsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid torrent metadata: ")?;
        match self {
            Self::ZeroPieceLength => f.write_str("the piece length is 0"),
            Self::Empty => f.write_str("it holds no data"),
            Self::SizeOverflow => f.write_str("the file sizes add up to more than 2^64 bytes"),
            Self::TooManyPieces(n) => {
                write!(f, "it would need {n} pieces, more than a torrent can have")
            }
            Self::PieceCountMismatch {
                expected,
                actual_bytes,
            } => write!(
                f,
                "its size needs {expected} piece hashes but it has {actual_bytes} bytes of hashes"
            ),
            Self::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for InfoLengthsError {}

/// The checks `Lengths::new` and the piece table rely on: a piece length above 0, a total
/// size that fits a `u64` and is not 0, a piece count (and chunk count) that fits a `u32`,
/// and exactly 20 bytes of hash per piece.
pub fn check_info_lengths<B: AsRef<[u8]>>(
    info: &TorrentMetaV1Info<B>,
) -> Result<(), InfoLengthsError> {
    let piece_length = u64::from(info.piece_length);
    if piece_length == 0 {
        return Err(InfoLengthsError::ZeroPieceLength);
    }
    let total = match (&info.length, &info.files) {
        (Some(len), _) => *len,
        (None, Some(files)) => files
            .iter()
            .try_fold(0u64, |acc, f| acc.checked_add(f.length))
            .ok_or(InfoLengthsError::SizeOverflow)?,
        (None, None) => 0,
    };
    if total == 0 {
        return Err(InfoLengthsError::Empty);
    }
    let pieces = total.div_ceil(piece_length);
    let chunks_per_piece = piece_length.div_ceil(u64::from(CHUNK_SIZE));
    let chunks = pieces
        .checked_mul(chunks_per_piece)
        .ok_or(InfoLengthsError::TooManyPieces(pieces))?;
    if pieces > u64::from(u32::MAX) || chunks > u64::from(u32::MAX) {
        return Err(InfoLengthsError::TooManyPieces(pieces));
    }
    let actual_bytes = info.pieces.as_ref().len() as u64;
    if pieces.checked_mul(20) != Some(actual_bytes) {
        return Err(InfoLengthsError::PieceCountMismatch {
            expected: pieces,
            actual_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use librqbit_core::torrent_metainfo::TorrentMetaV1File;

    fn info(piece_length: u32, lengths: &[u64], pieces: usize) -> TorrentMetaV1Info<Vec<u8>> {
        let files = lengths
            .iter()
            .map(|l| TorrentMetaV1File {
                length: *l,
                path: vec![b"f".to_vec()],
                attr: None,
                sha1: None,
                symlink_path: None,
            })
            .collect();
        TorrentMetaV1Info {
            name: Some(b"t".to_vec()),
            pieces: vec![0; pieces * 20],
            piece_length,
            length: None,
            attr: None,
            sha1: None,
            symlink_path: None,
            md5sum: None,
            files: Some(files),
            private: false,
        }
    }

    #[test]
    fn hostile_lengths_are_refused_without_panicking() {
        assert_eq!(
            check_info_lengths(&info(0, &[100], 1)),
            Err(InfoLengthsError::ZeroPieceLength)
        );
        assert_eq!(
            check_info_lengths(&info(16384, &[u64::MAX, 2], 1)),
            Err(InfoLengthsError::SizeOverflow)
        );
        assert!(matches!(
            check_info_lengths(&info(16384, &[1 << 62], 1)),
            Err(InfoLengthsError::TooManyPieces(_))
        ));
        assert!(matches!(
            check_info_lengths(&info(16384, &[3 * 16384], 2)),
            Err(InfoLengthsError::PieceCountMismatch { expected: 3, .. })
        ));
        assert_eq!(
            check_info_lengths(&info(16384, &[0], 0)),
            Err(InfoLengthsError::Empty)
        );
        assert_eq!(
            check_info_lengths(&info(16384, &[3 * 16384 + 1], 4)),
            Ok(())
        );
    }
}
