//! Infrastructure: the plumbing every feature stands on, knowing no feature.
//!
//! - [`store`]: sled behind typed tables, sealed (encrypted) tables, the data-dir lock and
//!   schema version; the only code that touches sled.
//! - [`vault`]: the passphrase-wrapped data key that seals private records.
//! - [`events`]: the event bus (ids, replay buffer, bounded broadcast) features emit on.
//! - [`thumbnail`]: bounded image decoding: thumbnails we make (images, and videos through
//!   ffmpeg) and the check of thumbnails peers send. Here rather than in `sharing` because the
//!   catalog validates peers' thumbnails and `sharing` depends on the catalog.
//! - `fs` (atomic and private file writes), [`token`] (random tokens), [`logging`] (the
//!   binaries' tracing set-up).
//!
//! **Uses:** sled, argon2, chacha20poly1305, image and the like; of Hearth, only the DTOs of
//! `api::dto` (the events carry them; wire and UI types are to be separated). Everything else
//! may use `infra`.

pub mod events;
pub(crate) mod fs;
pub mod logging;
pub mod store;
pub mod thumbnail;
pub mod token;
pub mod vault;
