//! Coordinates piece download state by wrapping ChunkTracker with inflight piece tracking.
//!
//! This module provides the [`PieceTracker`] type which encapsulates the relationship between
//! queued pieces (in ChunkTracker) and in-flight pieces (being downloaded by a peer).
//!
//! The key invariant maintained is: a piece is in exactly one state at any time:
//! - HAVE (completed)
//! - QUEUED (available to download)
//! - IN_FLIGHT (currently being downloaded)
//! - NOT_NEEDED (not selected for download)

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use buffers::ByteBuf;
use librqbit_core::lengths::ValidPieceIndex;
use peer_binary_protocol::Piece;

use crate::{
    chunk_tracker::{ChunkMarkingResult, ChunkTracker},
    file_info::FileInfo,
    type_aliases::{BS, FileInfos, FilePriorities, PeerHandle},
};

// hearth: how many live peers have each piece, for rarest-first piece selection.
// Kept by the peer table (torrent_state/live/peers): a peer's bitfield is added when it
// arrives, HAVEs add one piece, and the whole bitfield is removed when the peer leaves the
// live state. Atomics, so that updating it never takes the torrent lock.
#[derive(Default)]
pub(crate) struct PieceAvailability {
    counts: Box<[AtomicU32]>,
}

impl PieceAvailability {
    pub fn new(total_pieces: u32) -> Self {
        Self {
            counts: (0..total_pieces).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// Live peers known to have `piece` (0 for an index out of range).
    pub fn get(&self, piece: usize) -> u32 {
        self.counts
            .get(piece)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// A peer announced `piece` (HAVE) that it did not have before.
    pub fn add_piece(&self, piece: usize) {
        if let Some(c) = self.counts.get(piece) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every piece set in a peer's bitfield (bits past the last piece are ignored).
    pub fn add_bitfield(&self, bitfield: &BS) {
        for i in bitfield.iter_ones() {
            self.add_piece(i);
        }
    }

    pub fn remove_bitfield(&self, bitfield: &BS) {
        for i in bitfield.iter_ones() {
            if let Some(c) = self.counts.get(i) {
                // Saturating: a count never wraps even if an update was missed.
                let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(v.saturating_sub(1))
                });
            }
        }
    }
}

/// Tracks a piece currently being downloaded.
#[derive(Debug, Clone)]
pub struct InflightPiece {
    pub peer: PeerHandle,
    pub started: Instant,
}

/// Result of attempting to acquire a piece.
#[derive(Debug)]
pub enum AcquireResult {
    /// A new piece was reserved from the queue.
    Reserved(ValidPieceIndex),
    /// A piece was stolen from a slower peer.
    Stolen {
        piece: ValidPieceIndex,
        from_peer: PeerHandle,
    },
    /// No pieces are available for this peer.
    NoneAvailable,
}

/// Parameters for acquiring a piece.
pub struct AcquireRequest<'a, I, P, S>
where
    I: Iterator<Item = ValidPieceIndex>,
    P: Fn(ValidPieceIndex) -> bool,
    S: Fn(ValidPieceIndex) -> bool,
{
    /// The peer requesting a piece.
    pub peer: PeerHandle,
    /// The peer's average piece download time (for steal calculations).
    pub peer_avg_time: Option<Duration>,
    /// Priority pieces to check first (e.g., for streaming).
    pub priority_pieces: I,
    /// File download priority ordering.
    pub file_priorities: &'a FilePriorities,
    /// File metadata for iterating pieces.
    pub file_infos: &'a FileInfos,
    /// Returns true if the peer has the given piece.
    pub peer_has_piece: P,
    /// Returns true if the piece can be stolen (e.g., not locked for writing).
    pub can_steal: S,
}

/// Coordinates piece download state.
///
/// Wraps a [`ChunkTracker`] with tracking of which pieces are currently being downloaded
/// (in-flight) and by which peer. This ensures that:
///
/// - A piece is only assigned to one peer at a time (unless stolen)
/// - Pieces are properly requeued when a peer dies
/// - State transitions maintain invariants
pub struct PieceTracker {
    chunks: ChunkTracker,
    inflight: HashMap<ValidPieceIndex, InflightPiece>,
    // hearth: set for live torrents (rarest-first); None keeps the upstream file order.
    availability: Option<Arc<PieceAvailability>>,
}

impl PieceTracker {
    // === CONSTRUCTION ===

    /// Create a new PieceTracker wrapping the given ChunkTracker.
    pub fn new(chunks: ChunkTracker) -> Self {
        Self {
            chunks,
            inflight: HashMap::new(),
            availability: None,
        }
    }

    // hearth: pick queued pieces rarest first, using these per-piece peer counts.
    pub(crate) fn with_availability(mut self, availability: Arc<PieceAvailability>) -> Self {
        self.availability = Some(availability);
        self
    }

    /// Read-only access to the underlying ChunkTracker.
    pub fn chunks(&self) -> &ChunkTracker {
        &self.chunks
    }

    /// Consume the PieceTracker, requeuing any in-flight pieces.
    ///
    /// This is used when pausing a torrent - any pieces that were being downloaded
    /// need to be put back in the queue so they can be re-downloaded on resume.
    pub fn into_chunks(mut self) -> ChunkTracker {
        // Requeue all in-flight pieces so they'll be re-downloaded on resume
        for piece in self.inflight.into_keys() {
            self.chunks.mark_piece_broken_if_not_have(piece);
        }
        self.chunks
    }

    // === PIECE ACQUISITION ===

    /// Attempt to acquire a piece for the requesting peer.
    ///
    /// The acquisition strategy is:
    /// 1. Try to steal a piece from a peer that's 10x slower
    /// 2. Try to reserve a piece from the queue (priority pieces first)
    /// 3. Try to steal a piece from a peer that's 3x slower
    ///
    /// If `Stolen` is returned, the caller MUST call `peers.on_steal()` to notify
    /// the old peer and update counters.
    pub fn acquire_piece<I, P, S>(&mut self, mut req: AcquireRequest<I, P, S>) -> AcquireResult
    where
        I: Iterator<Item = ValidPieceIndex>,
        P: Fn(ValidPieceIndex) -> bool,
        S: Fn(ValidPieceIndex) -> bool,
    {
        // 1. Try steal with 10x threshold (very slow peer)
        if let Some(result) = self.try_steal(&req, 10.0) {
            return result;
        }

        // 2. Try reserve from priority_pieces then queued pieces
        // First check priority pieces that aren't already downloaded or in-flight
        for piece in &mut req.priority_pieces {
            if !self.chunks.is_piece_have(piece)
                && !self.inflight.contains_key(&piece)
                && (req.peer_has_piece)(piece)
            {
                return self.reserve_piece(piece, req.peer);
            }
        }

        // hearth: rarest first instead of file order when peer counts are known.
        if let Some(availability) = &self.availability {
            if let Some(piece) = self.pick_rarest(availability, &req) {
                return self.reserve_piece(piece, req.peer);
            }
            if let Some(result) = self.try_steal(&req, 3.0) {
                return result;
            }
            return AcquireResult::NoneAvailable;
        }

        // Then check naturally ordered queued pieces
        // Note: iter_queued_pieces only returns pieces in queue_pieces (not in-flight)
        let queued: Vec<_> = self
            .chunks
            .iter_queued_pieces(req.file_priorities, req.file_infos)
            .collect();

        for piece in queued {
            if (req.peer_has_piece)(piece) {
                return self.reserve_piece(piece, req.peer);
            }
        }

        // 3. Try steal with 3x threshold (moderately slow peer)
        if let Some(result) = self.try_steal(&req, 3.0) {
            return result;
        }

        AcquireResult::NoneAvailable
    }

    // hearth: the queued piece (needed, not in flight) this peer has that the fewest live
    // peers have. Ties go to the earlier file in `file_priorities`, then to a random piece:
    // each file is scanned from a random position, wrapping around. A piece only this peer
    // has (count 1) cannot be beaten, so the scan stops at the first one. Files we already
    // have are skipped as in iter_queued_pieces(); unselected pieces are never queued.
    fn pick_rarest<I, P, S>(
        &self,
        availability: &PieceAvailability,
        req: &AcquireRequest<I, P, S>,
    ) -> Option<ValidPieceIndex>
    where
        I: Iterator<Item = ValidPieceIndex>,
        P: Fn(ValidPieceIndex) -> bool,
        S: Fn(ValidPieceIndex) -> bool,
    {
        let queue = self.chunks.queued_pieces();
        let have_bytes = self.chunks.per_file_have_bytes();
        let lengths = self.chunks.get_lengths();
        let mut best: Option<(u32, ValidPieceIndex)> = None;
        for &file_id in req.file_priorities {
            let Some(fi) = req.file_infos.get(file_id) else {
                continue;
            };
            if have_bytes.get(file_id) == Some(&fi.len) {
                continue;
            }
            let range = fi.piece_range_usize();
            let Some(bits) = queue.get(range.clone()) else {
                continue;
            };
            if bits.not_any() {
                continue;
            }
            let start = rand::random_range(0..bits.len());
            let (before, after) = bits.split_at(start);
            for i in after
                .iter_ones()
                .map(|i| i + start)
                .chain(before.iter_ones())
            {
                let Some(piece) = u32::try_from(range.start + i)
                    .ok()
                    .and_then(|p| lengths.validate_piece_index(p))
                else {
                    continue;
                };
                if !(req.peer_has_piece)(piece) {
                    continue;
                }
                let count = availability.get(piece.get_usize());
                if best.is_none_or(|(c, _)| count < c) {
                    if count <= 1 {
                        return Some(piece);
                    }
                    best = Some((count, piece));
                }
            }
        }
        best.map(|(_, piece)| piece)
    }

    /// Reserve a piece: remove from queue, add to inflight.
    fn reserve_piece(&mut self, piece: ValidPieceIndex, peer: PeerHandle) -> AcquireResult {
        self.chunks.reserve_needed_piece(piece);
        self.inflight.insert(
            piece,
            InflightPiece {
                peer,
                started: Instant::now(),
            },
        );
        AcquireResult::Reserved(piece)
    }

    /// Try to steal a piece from a slower peer.
    fn try_steal<I, P, S>(
        &mut self,
        req: &AcquireRequest<I, P, S>,
        threshold: f64,
    ) -> Option<AcquireResult>
    where
        I: Iterator<Item = ValidPieceIndex>,
        P: Fn(ValidPieceIndex) -> bool,
        S: Fn(ValidPieceIndex) -> bool,
    {
        let my_avg = req.peer_avg_time?;
        let min_elapsed = Duration::from_secs_f64(my_avg.as_secs_f64() * threshold);

        // Find the slowest piece from another peer that exceeds threshold
        // and that the stealing peer actually has (can download)
        let (piece, old_peer, _) = self
            .inflight
            .iter()
            .filter(|(_, info)| info.peer != req.peer)
            .filter(|(p, _)| (req.peer_has_piece)(**p))
            .map(|(p, info)| (*p, info.peer, info.started.elapsed()))
            .filter(|(_, _, elapsed)| *elapsed >= min_elapsed)
            .max_by_key(|(_, _, elapsed)| *elapsed)?;

        // Check can_steal (e.g., per_piece_lock)
        if !(req.can_steal)(piece) {
            return None;
        }

        // Update ownership (piece stays in inflight, just changes owner)
        let info = self.inflight.get_mut(&piece)?;
        info.peer = req.peer;
        info.started = Instant::now();

        Some(AcquireResult::Stolen {
            piece,
            from_peer: old_peer,
        })
    }

    // === PIECE COMPLETION ===

    /// Remove piece from inflight tracking (e.g., after all chunks received).
    ///
    /// Returns download duration if piece was in-flight.
    /// Note: Does NOT mark the piece as downloaded - caller should do hash check
    /// and then call `mark_piece_hash_ok` or `mark_piece_hash_failed`.
    pub fn take_inflight(&mut self, piece: ValidPieceIndex) -> Option<Duration> {
        let inflight = self.inflight.remove(&piece)?;
        Some(inflight.started.elapsed())
    }

    /// Mark piece as downloaded after successful hash verification.
    pub fn mark_piece_hash_ok(&mut self, piece: ValidPieceIndex) {
        self.chunks.mark_piece_downloaded(piece);
    }

    /// Mark piece as failed after hash verification failure - requeues the piece.
    pub fn mark_piece_hash_failed(&mut self, piece: ValidPieceIndex) {
        self.chunks.mark_piece_broken_if_not_have(piece);
    }

    /// Release all pieces owned by a peer (on peer death).
    ///
    /// Moves all pieces owned by the peer from IN_FLIGHT back to QUEUED.
    /// Returns the number of pieces released.
    pub fn release_pieces_owned_by(&mut self, peer: PeerHandle) -> usize {
        // Collect pieces to release (can't modify while iterating)
        let pieces_to_release: Vec<_> = self
            .inflight
            .iter()
            .filter(|(_, info)| info.peer == peer)
            .map(|(p, _)| *p)
            .collect();

        let count = pieces_to_release.len();
        for piece in pieces_to_release {
            self.inflight.remove(&piece);
            self.chunks.mark_piece_broken_if_not_have(piece);
        }
        count
    }

    // === QUERIES ===

    /// Get the inflight info for a piece, if it's currently being downloaded.
    pub fn get_inflight(&self, piece: ValidPieceIndex) -> Option<&InflightPiece> {
        self.inflight.get(&piece)
    }

    /// Check if a piece is currently in-flight.
    #[allow(dead_code)]
    pub fn is_inflight(&self, piece: ValidPieceIndex) -> bool {
        self.inflight.contains_key(&piece)
    }

    /// Get the number of pieces currently in-flight.
    #[allow(dead_code)]
    pub fn inflight_count(&self) -> usize {
        self.inflight.len()
    }

    // === PASS-THROUGH METHODS ===

    /// Mark a chunk as downloaded. Returns the result indicating if the piece is complete.
    pub fn mark_chunk_downloaded(
        &mut self,
        piece: &Piece<ByteBuf<'_>>,
    ) -> Option<ChunkMarkingResult> {
        self.chunks.mark_chunk_downloaded(piece)
    }

    /// Update which files are selected for download.
    pub fn update_only_files(
        &mut self,
        file_infos: &FileInfos,
        new_only_files: &HashSet<usize>,
    ) -> anyhow::Result<crate::chunk_tracker::HaveNeededSelected> {
        self.chunks.update_only_files(file_infos, new_only_files)
    }

    /// Update per-file have bytes when a piece completes. Returns remaining bytes for the file.
    pub fn update_file_have_on_piece_completed(
        &mut self,
        piece_id: ValidPieceIndex,
        file_id: usize,
        file_info: &FileInfo,
    ) -> u64 {
        self.chunks
            .update_file_have_on_piece_completed(piece_id, file_id, file_info)
    }

    /// Flush the have pieces bitfield to disk.
    pub fn flush_have_pieces(&mut self, flush_async: bool) -> anyhow::Result<()> {
        self.chunks.get_have_pieces_mut().flush(flush_async)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{bitv::BitV as BitVTrait, type_aliases::BF};
    use librqbit_core::lengths::Lengths;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    fn peer(id: u8) -> PeerHandle {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, id)), 6881)
    }

    /// Create a simple ChunkTracker for testing.
    /// Creates a torrent with the specified number of pieces, all selected.
    fn make_test_chunk_tracker(num_pieces: u32) -> ChunkTracker {
        // Create a simple single-file torrent
        let piece_length = 16384u32; // 16KB pieces
        let total_length = piece_length as u64 * num_pieces as u64;

        let lengths = Lengths::new(total_length, piece_length).unwrap();

        let bf_len = lengths.piece_bitfield_bytes();

        // No pieces downloaded yet (empty have)
        let have = BF::from_boxed_slice(vec![0u8; bf_len].into_boxed_slice());

        // All pieces selected
        let mut selected = BF::from_boxed_slice(vec![0u8; bf_len].into_boxed_slice());
        for i in 0..num_pieces as usize {
            selected.set(i, true);
        }

        // Single file spanning all pieces
        let file_infos = vec![crate::file_info::FileInfo {
            relative_filename: "test.dat".into(),
            offset_in_torrent: 0,
            len: total_length,
            piece_range: 0..num_pieces,
            attrs: Default::default(),
        }];

        ChunkTracker::new(have.into_dyn(), selected, lengths, &file_infos).unwrap()
    }

    fn make_test_file_infos(num_pieces: u32) -> FileInfos {
        let piece_length = 16384u64;
        vec![crate::file_info::FileInfo {
            relative_filename: "test.dat".into(),
            offset_in_torrent: 0,
            len: piece_length * num_pieces as u64,
            piece_range: 0..num_pieces,
            attrs: Default::default(),
        }]
    }

    fn make_default_file_priorities(file_infos: &FileInfos) -> FilePriorities {
        (0..file_infos.len()).collect()
    }

    #[test]
    fn test_new_piece_tracker() {
        let chunks = make_test_chunk_tracker(10);
        let tracker = PieceTracker::new(chunks);
        assert_eq!(tracker.inflight_count(), 0);
    }

    #[test]
    fn test_reserve_piece_from_queue() {
        let chunks = make_test_chunk_tracker(5);
        let mut tracker = PieceTracker::new(chunks);

        let file_infos = make_test_file_infos(5);
        let file_priorities = make_default_file_priorities(&file_infos);

        let result = tracker.acquire_piece(AcquireRequest {
            peer: peer(1),
            peer_avg_time: None,
            priority_pieces: std::iter::empty(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |_| true, // Peer has all pieces
            can_steal: |_| true,
        });

        // Should reserve piece 0 (first in queue)
        match result {
            AcquireResult::Reserved(piece) => {
                assert_eq!(piece.get(), 0);
                assert!(tracker.is_inflight(piece));
                assert_eq!(tracker.inflight_count(), 1);
            }
            _ => panic!("Expected Reserved, got {:?}", result),
        }
    }

    #[test]
    fn test_reserve_filters_by_peer_has_piece() {
        let chunks = make_test_chunk_tracker(5);
        let mut tracker = PieceTracker::new(chunks);

        let file_infos = make_test_file_infos(5);
        let file_priorities = make_default_file_priorities(&file_infos);

        // Peer only has piece 2 and later
        // Note: iter_queued_pieces iterates in order: first, last, middle
        // So for 0..5: 0, 4, 1, 2, 3
        // With filter >= 2, we get 4 first (skips 0, takes 4)
        let result = tracker.acquire_piece(AcquireRequest {
            peer: peer(1),
            peer_avg_time: None,
            priority_pieces: std::iter::empty(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |p| p.get() >= 2,
            can_steal: |_| true,
        });

        match result {
            AcquireResult::Reserved(piece) => {
                // Got piece 4 (first one peer has in iteration order)
                assert!(piece.get() >= 2, "Should have gotten a piece >= 2");
            }
            _ => panic!("Expected Reserved, got {:?}", result),
        }
    }

    #[test]
    fn test_complete_piece() {
        let chunks = make_test_chunk_tracker(5);
        let mut tracker = PieceTracker::new(chunks);

        let file_infos = make_test_file_infos(5);
        let file_priorities = make_default_file_priorities(&file_infos);

        // Reserve a piece first
        let result = tracker.acquire_piece(AcquireRequest {
            peer: peer(1),
            peer_avg_time: None,
            priority_pieces: std::iter::empty(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |_| true,
            can_steal: |_| true,
        });

        let piece = match result {
            AcquireResult::Reserved(p) => p,
            _ => panic!("Expected Reserved"),
        };

        // Complete the piece (take_inflight + hash check + mark_piece_hash_ok)
        let duration = tracker.take_inflight(piece);
        assert!(duration.is_some());
        assert!(!tracker.is_inflight(piece));
        // Simulate successful hash check
        tracker.mark_piece_hash_ok(piece);
        assert!(tracker.chunks().is_piece_have(piece));
    }

    #[test]
    fn test_fail_piece_requeues() {
        let chunks = make_test_chunk_tracker(5);
        let mut tracker = PieceTracker::new(chunks);

        let file_infos = make_test_file_infos(5);
        let file_priorities = make_default_file_priorities(&file_infos);

        // Reserve piece 0
        let result = tracker.acquire_piece(AcquireRequest {
            peer: peer(1),
            peer_avg_time: None,
            priority_pieces: std::iter::empty(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |_| true,
            can_steal: |_| true,
        });

        let piece = match result {
            AcquireResult::Reserved(p) => p,
            _ => panic!("Expected Reserved"),
        };

        assert!(tracker.is_inflight(piece));

        // Fail the piece (take_inflight + hash check fails + mark_piece_hash_failed)
        let duration = tracker.take_inflight(piece);
        assert!(duration.is_some());
        // Simulate failed hash check
        tracker.mark_piece_hash_failed(piece);

        // Should no longer be in-flight
        assert!(!tracker.is_inflight(piece));
        // Should not be in have
        assert!(!tracker.chunks().is_piece_have(piece));
        // Should be back in queue - verify by trying to reserve it again
        let result2 = tracker.acquire_piece(AcquireRequest {
            peer: peer(2),
            peer_avg_time: None,
            priority_pieces: std::iter::empty(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |p| p == piece, // Only has the failed piece
            can_steal: |_| true,
        });

        match result2 {
            AcquireResult::Reserved(p) => assert_eq!(p, piece),
            _ => panic!("Expected piece to be re-reservable after fail"),
        }
    }

    #[test]
    fn test_release_pieces_owned_by_peer() {
        let chunks = make_test_chunk_tracker(5);
        let mut tracker = PieceTracker::new(chunks);

        let file_infos = make_test_file_infos(5);
        let file_priorities = make_default_file_priorities(&file_infos);

        let peer_a = peer(1);
        let peer_b = peer(2);

        // Peer A reserves first two pieces (order: 0, 4, 1, 2, 3)
        // So peer A gets pieces 0 and 4
        let piece_a1 = match tracker.acquire_piece(AcquireRequest {
            peer: peer_a,
            peer_avg_time: None,
            priority_pieces: std::iter::empty(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |_| true,
            can_steal: |_| true,
        }) {
            AcquireResult::Reserved(p) => p,
            _ => panic!("Expected Reserved"),
        };
        let piece_a2 = match tracker.acquire_piece(AcquireRequest {
            peer: peer_a,
            peer_avg_time: None,
            priority_pieces: std::iter::empty(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |_| true,
            can_steal: |_| true,
        }) {
            AcquireResult::Reserved(p) => p,
            _ => panic!("Expected Reserved"),
        };

        // Peer B reserves next piece
        let piece_b = match tracker.acquire_piece(AcquireRequest {
            peer: peer_b,
            peer_avg_time: None,
            priority_pieces: std::iter::empty(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |_| true,
            can_steal: |_| true,
        }) {
            AcquireResult::Reserved(p) => p,
            _ => panic!("Expected Reserved"),
        };

        assert_eq!(tracker.inflight_count(), 3);
        assert!(tracker.is_inflight(piece_a1));
        assert!(tracker.is_inflight(piece_a2));
        assert!(tracker.is_inflight(piece_b));

        // Peer A dies
        let released = tracker.release_pieces_owned_by(peer_a);
        assert_eq!(released, 2);
        assert_eq!(tracker.inflight_count(), 1); // Only peer B's piece remains

        // Verify peer B's piece is still in-flight
        assert!(tracker.is_inflight(piece_b));
        // Verify peer A's pieces are no longer in-flight
        assert!(!tracker.is_inflight(piece_a1));
        assert!(!tracker.is_inflight(piece_a2));
    }

    #[test]
    fn test_into_chunks_requeues_inflight() {
        let chunks = make_test_chunk_tracker(5);
        let mut tracker = PieceTracker::new(chunks);

        let file_infos = make_test_file_infos(5);
        let file_priorities = make_default_file_priorities(&file_infos);

        // Reserve pieces 0 and 1
        tracker.acquire_piece(AcquireRequest {
            peer: peer(1),
            peer_avg_time: None,
            priority_pieces: std::iter::empty(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |_| true,
            can_steal: |_| true,
        });
        tracker.acquire_piece(AcquireRequest {
            peer: peer(1),
            peer_avg_time: None,
            priority_pieces: std::iter::empty(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |_| true,
            can_steal: |_| true,
        });

        assert_eq!(tracker.inflight_count(), 2);

        // Convert back to chunks (simulates pause)
        let chunks = tracker.into_chunks();

        // Create a new tracker and verify pieces are back in queue
        let mut new_tracker = PieceTracker::new(chunks);
        let result = new_tracker.acquire_piece(AcquireRequest {
            peer: peer(2),
            peer_avg_time: None,
            priority_pieces: std::iter::empty(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |_| true,
            can_steal: |_| true,
        });

        // Should get piece 0 again (was requeued)
        match result {
            AcquireResult::Reserved(p) => assert_eq!(p.get(), 0),
            _ => panic!("Expected to reserve piece 0 after into_chunks"),
        }
    }

    #[test]
    fn test_priority_pieces_checked_first() {
        let chunks = make_test_chunk_tracker(5);
        let mut tracker = PieceTracker::new(chunks);

        let file_infos = make_test_file_infos(5);
        let file_priorities = make_default_file_priorities(&file_infos);

        // Priority pieces: piece 3, then piece 2
        let piece3 = tracker
            .chunks()
            .get_lengths()
            .validate_piece_index(3)
            .unwrap();
        let piece2 = tracker
            .chunks()
            .get_lengths()
            .validate_piece_index(2)
            .unwrap();
        let priority = vec![piece3, piece2];

        let result = tracker.acquire_piece(AcquireRequest {
            peer: peer(1),
            peer_avg_time: None,
            priority_pieces: priority.into_iter(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |_| true,
            can_steal: |_| true,
        });

        // Should get piece 3 (first priority piece)
        match result {
            AcquireResult::Reserved(p) => assert_eq!(p.get(), 3),
            _ => panic!("Expected Reserved(3), got {:?}", result),
        }
    }

    #[test]
    fn test_none_available_when_no_pieces() {
        let chunks = make_test_chunk_tracker(5);
        let mut tracker = PieceTracker::new(chunks);

        let file_infos = make_test_file_infos(5);
        let file_priorities = make_default_file_priorities(&file_infos);

        // Peer has no pieces
        let result = tracker.acquire_piece(AcquireRequest {
            peer: peer(1),
            peer_avg_time: None,
            priority_pieces: std::iter::empty(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |_| false, // Peer has nothing
            can_steal: |_| true,
        });

        match result {
            AcquireResult::NoneAvailable => {}
            _ => panic!("Expected NoneAvailable, got {:?}", result),
        }
    }

    #[test]
    fn test_take_inflight_nonexistent_piece_returns_none() {
        let chunks = make_test_chunk_tracker(5);
        let mut tracker = PieceTracker::new(chunks);
        let piece = tracker
            .chunks()
            .get_lengths()
            .validate_piece_index(0)
            .unwrap();

        // Try to take a piece that's not in-flight
        let result = tracker.take_inflight(piece);
        assert!(result.is_none());
    }

    #[test]
    fn test_steal_only_pieces_peer_has() {
        // This test verifies the fix for a bug where try_steal didn't check
        // if the stealing peer actually has the piece in their bitfield.
        // Without this check, a peer could "steal" a piece they can't download,
        // leaving it stuck in inflight forever.

        let chunks = make_test_chunk_tracker(5);
        let mut tracker = PieceTracker::new(chunks);

        let file_infos = make_test_file_infos(5);
        let file_priorities = make_default_file_priorities(&file_infos);

        let peer_a = peer(1);
        let peer_b = peer(2);

        // Peer A reserves pieces 0 and 4 (first two in iteration order)
        let piece_0 = match tracker.acquire_piece(AcquireRequest {
            peer: peer_a,
            peer_avg_time: None,
            priority_pieces: std::iter::empty(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |_| true,
            can_steal: |_| true,
        }) {
            AcquireResult::Reserved(p) => {
                assert_eq!(p.get(), 0);
                p
            }
            _ => panic!("Expected Reserved"),
        };

        let piece_4 = match tracker.acquire_piece(AcquireRequest {
            peer: peer_a,
            peer_avg_time: None,
            priority_pieces: std::iter::empty(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |_| true,
            can_steal: |_| true,
        }) {
            AcquireResult::Reserved(p) => {
                assert_eq!(p.get(), 4);
                p
            }
            _ => panic!("Expected Reserved"),
        };

        // Sleep briefly so pieces become stealable
        std::thread::sleep(Duration::from_millis(5));

        // Peer B tries to acquire with:
        // - Very short avg_time (1ms) so 3x threshold = 3ms < 5ms elapsed
        // - peer_has_piece returns true ONLY for piece 4, NOT piece 0
        let result = tracker.acquire_piece(AcquireRequest {
            peer: peer_b,
            peer_avg_time: Some(Duration::from_millis(1)),
            priority_pieces: std::iter::empty(),
            file_priorities: &file_priorities,
            file_infos: &file_infos,
            peer_has_piece: |p| p.get() == 4, // Peer B only has piece 4
            can_steal: |_| true,
        });

        // Should steal piece 4 (which peer B has), NOT piece 0 (which peer B doesn't have)
        match result {
            AcquireResult::Stolen { piece, from_peer } => {
                assert_eq!(piece, piece_4, "Should steal piece 4 (the one peer B has)");
                assert_eq!(from_peer, peer_a);
                // Verify piece 0 is still owned by peer A (wasn't stolen)
                assert_eq!(tracker.get_inflight(piece_0).unwrap().peer, peer_a);
            }
            _ => panic!("Expected Stolen, got {:?}", result),
        }
    }

    // hearth: rarest-first selection.

    fn availability(counts: &[u32]) -> Arc<PieceAvailability> {
        let a = PieceAvailability::new(u32::try_from(counts.len()).unwrap());
        for (piece, &n) in counts.iter().enumerate() {
            for _ in 0..n {
                a.add_piece(piece);
            }
        }
        Arc::new(a)
    }

    /// One file, all pieces selected, `counts[i]` live peers having piece i.
    fn rarest_tracker(counts: &[u32]) -> (PieceTracker, FileInfos) {
        let n = u32::try_from(counts.len()).unwrap();
        let tracker =
            PieceTracker::new(make_test_chunk_tracker(n)).with_availability(availability(counts));
        (tracker, make_test_file_infos(n))
    }

    fn acquire_with(
        tracker: &mut PieceTracker,
        file_infos: &FileInfos,
        file_priorities: &FilePriorities,
        priority: &[u32],
        has: &dyn Fn(u32) -> bool,
    ) -> Option<u32> {
        let lengths = *tracker.chunks().get_lengths();
        let priority = priority
            .iter()
            .map(|p| lengths.validate_piece_index(*p).unwrap());
        match tracker.acquire_piece(AcquireRequest {
            peer: peer(1),
            peer_avg_time: None,
            priority_pieces: priority,
            file_priorities,
            file_infos,
            peer_has_piece: |p| has(p.get()),
            can_steal: |_| true,
        }) {
            AcquireResult::Reserved(p) => Some(p.get()),
            AcquireResult::NoneAvailable => None,
            r => panic!("unexpected {r:?}"),
        }
    }

    /// The next piece for a peer that has everything; files in their natural order.
    fn next(tracker: &mut PieceTracker, file_infos: &FileInfos) -> Option<u32> {
        let file_priorities = make_default_file_priorities(file_infos);
        acquire_with(tracker, file_infos, &file_priorities, &[], &|_| true)
    }

    #[test]
    fn test_rarest_first_picks_fewest_peers_with_random_ties() {
        let mut firsts = HashSet::new();
        for _ in 0..200 {
            let (mut tracker, file_infos) = rarest_tracker(&[3, 2, 4, 2, 3, 2]);
            let got: Vec<u32> = std::iter::from_fn(|| next(&mut tracker, &file_infos)).collect();
            // The three pieces 2 peers have, then the two with 3, then the one with 4.
            let mut sorted = got.clone();
            sorted[..3].sort_unstable();
            sorted[3..5].sort_unstable();
            assert_eq!(sorted, vec![1, 3, 5, 0, 4, 2], "order {got:?}");
            firsts.insert(got[0]);
        }
        assert_eq!(
            firsts.len(),
            3,
            "ties must go to a random piece: {firsts:?}"
        );
    }

    #[test]
    fn test_rarest_first_only_among_pieces_the_peer_has() {
        let (mut tracker, file_infos) = rarest_tracker(&[3, 1, 2, 3, 3]);
        let fp = make_default_file_priorities(&file_infos);
        // Piece 1 is the rarest, but this peer does not have it.
        let got = acquire_with(&mut tracker, &file_infos, &fp, &[], &|p| p != 1);
        assert_eq!(got, Some(2));
        let got = acquire_with(&mut tracker, &file_infos, &fp, &[], &|_| false);
        assert_eq!(got, None);
    }

    #[test]
    fn test_rarest_first_priority_pieces_stay_first_in_order() {
        let (mut tracker, file_infos) = rarest_tracker(&[3, 3, 3, 3, 1]);
        let fp = make_default_file_priorities(&file_infos);
        let got: Vec<Option<u32>> = (0..3)
            .map(|_| acquire_with(&mut tracker, &file_infos, &fp, &[2, 0], &|_| true))
            .collect();
        assert_eq!(got, vec![Some(2), Some(0), Some(4)]);
    }

    #[test]
    fn test_rarest_first_skips_have_and_inflight() {
        let (mut tracker, file_infos) = rarest_tracker(&[1, 1, 5, 5]);
        let lengths = *tracker.chunks().get_lengths();
        let (p0, p1) = (
            lengths.validate_piece_index(0).unwrap(),
            lengths.validate_piece_index(1).unwrap(),
        );
        tracker.reserve_piece(p0, peer(2));
        tracker.reserve_piece(p1, peer(2));
        tracker.take_inflight(p1);
        tracker.mark_piece_hash_ok(p1);
        let got = next(&mut tracker, &file_infos);
        assert!(matches!(got, Some(2 | 3)), "got {got:?}");
    }

    /// Two files of 4 pieces each: "a" (pieces 0..4) and "b" (4..8).
    fn two_files(only_b: bool, counts: &[u32; 8]) -> (PieceTracker, FileInfos) {
        let piece_length = 16384u32;
        let lengths = Lengths::new(piece_length as u64 * 8, piece_length).unwrap();
        let file = |name: &str, pieces: std::ops::Range<u32>| crate::file_info::FileInfo {
            relative_filename: name.into(),
            offset_in_torrent: pieces.start as u64 * piece_length as u64,
            len: pieces.len() as u64 * piece_length as u64,
            piece_range: pieces,
            attrs: Default::default(),
        };
        let file_infos = vec![file("a", 0..4), file("b", 4..8)];
        let have = BF::from_boxed_slice(vec![0u8; 1].into_boxed_slice());
        let selected = crate::chunk_tracker::compute_selected_pieces(
            &lengths,
            |id| !only_b || id == 1,
            &file_infos,
        );
        let chunks = ChunkTracker::new(have.into_dyn(), selected, lengths, &file_infos).unwrap();
        let tracker = PieceTracker::new(chunks).with_availability(availability(counts));
        (tracker, file_infos)
    }

    #[test]
    fn test_rarest_first_ties_go_to_the_first_file_in_priority_order() {
        // Equally rare everywhere: the file first in priority order ("b") goes first.
        let (mut tracker, file_infos) = two_files(false, &[2; 8]);
        let got: Vec<u32> = (0..4)
            .filter_map(|_| acquire_with(&mut tracker, &file_infos, &vec![1, 0], &[], &|_| true))
            .collect();
        assert!(got.len() == 4 && got.iter().all(|p| *p >= 4), "{got:?}");
        // A rarer piece wins over file order.
        let (mut tracker, file_infos) = two_files(false, &[2, 2, 1, 2, 2, 2, 2, 2]);
        let got = acquire_with(&mut tracker, &file_infos, &vec![1, 0], &[], &|_| true);
        assert_eq!(got, Some(2));
    }

    #[test]
    fn test_rarest_first_only_selected_files() {
        // Only file "b" is selected: the rarer pieces of "a" are never asked for.
        let (mut tracker, file_infos) = two_files(true, &[1, 1, 1, 1, 3, 3, 3, 3]);
        let mut got: Vec<u32> = std::iter::from_fn(|| next(&mut tracker, &file_infos)).collect();
        got.sort_unstable();
        assert_eq!(got, vec![4, 5, 6, 7]);
    }

    #[test]
    fn test_availability_counts() {
        let a = PieceAvailability::new(3);
        let mut bf = BF::from_boxed_slice(vec![0u8; 1].into_boxed_slice());
        bf.set(0, true);
        bf.set(2, true);
        bf.set(7, true); // past the last piece: ignored
        a.add_bitfield(&bf);
        a.add_piece(2);
        a.add_piece(99);
        assert_eq!((a.get(0), a.get(1), a.get(2), a.get(99)), (1, 0, 2, 0));
        // Removing more than was added stops at 0.
        a.remove_bitfield(&bf);
        a.remove_bitfield(&bf);
        assert_eq!((a.get(0), a.get(1), a.get(2)), (0, 0, 0));
    }

    /// Cost of one selection in a 100k-piece torrent, half of it already fetched. Worst case:
    /// no piece is unique to the peer (every count is 2), so every queued piece is looked at.
    /// `cargo test --release --lib rarest_first_cost -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn rarest_first_cost_100k_pieces() {
        let n = 100_000usize;
        for (name, count) in [("every count 2 (full scan)", 2u32), ("every count 1", 1)] {
            let (mut tracker, file_infos) = rarest_tracker(&vec![count; n]);
            for _ in 0..n / 2 {
                next(&mut tracker, &file_infos).unwrap();
            }
            let rounds = 2000;
            let t = Instant::now();
            for _ in 0..rounds {
                next(&mut tracker, &file_infos).unwrap();
            }
            println!("{name}: {:?} per acquire", t.elapsed() / rounds);
        }
        // Upstream's file order, for comparison (it collects the queue on every call).
        let mut tracker = PieceTracker::new(make_test_chunk_tracker(u32::try_from(n).unwrap()));
        let file_infos = make_test_file_infos(u32::try_from(n).unwrap());
        for _ in 0..n / 2 {
            next(&mut tracker, &file_infos).unwrap();
        }
        let rounds = 2000;
        let t = Instant::now();
        for _ in 0..rounds {
            next(&mut tracker, &file_infos).unwrap();
        }
        println!(
            "upstream file order: {:?} per acquire",
            t.elapsed() / rounds
        );
    }
}
