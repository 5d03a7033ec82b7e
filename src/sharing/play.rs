//! Playing while it streams: a byte range of a resource's file for a player, from the
//! engine's file stream (starting the download if needed). Range rules: [`super::media`].

use super::*;

impl Sharing {
    /// Bytes of file `index` of resource `id` (a checked content id) for a player, as the
    /// `Range` header asks. A
    /// resource not on this disk starts downloading (and then seeds, like any download); a
    /// paused one resumes. Ranges not downloaded yet arrive first. With `limit`, for
    /// transports that hold a body in memory, at most that many bytes are answered (206 with
    /// a shorter range, also when the whole file was asked; players ask on from there).
    pub async fn media(
        &self,
        id: &str,
        index: usize,
        range: Option<&str>,
        limit: Option<u64>,
    ) -> Result<crate::sharing::media::Media, SharingError> {
        use crate::sharing::media::{content_type, parse_range, ByteRange, Media, MediaBody};
        let record = self.inner.catalog.get(id)?;
        match self.inner.catalog.local_state(id) {
            LocalState::None => {
                if record.is_none() {
                    return Err(SharingError::NotInCatalog {
                        content_id: id.to_owned(),
                    });
                }
                match self
                    .start_download(DownloadRequest {
                        content_id: Some(id.to_owned()),
                        ..Default::default()
                    })
                    .await
                {
                    Ok(_) | Err(SharingError::AlreadyHere) => {}
                    Err(e) => return Err(e),
                }
            }
            LocalState::Downloading => {
                if self.download_rec(id).is_ok_and(|r| r.paused) {
                    self.resume(id).await?;
                }
            }
            LocalState::Published | LocalState::Complete => {}
        }
        let permit = self
            .inner
            .streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| SharingError::TooManyStreams)?;
        let (stream, len, path) = self.inner.transfer.stream(id, index).await?;
        let one_file = record.as_ref().is_some_and(|r| r.body.files.len() <= 1);
        let mime = record.as_ref().map(|r| r.body.mime.as_str()).unwrap_or("");
        let content_type = content_type(mime, &path, one_file);
        let Ok(asked) = parse_range(range, len) else {
            return Ok(Media::unsatisfiable(len, content_type));
        };
        let (mut status, mut span) = match asked {
            Some(r) => (206, Some(r)),
            None if len == 0 => (200, None),
            None => (
                200,
                Some(ByteRange {
                    first: 0,
                    last: len - 1,
                }),
            ),
        };
        if let (Some(limit), Some(r)) = (limit.filter(|l| *l > 0), span.as_mut()) {
            if r.len() > limit {
                r.last = r.first + limit - 1;
                status = 206;
            }
        }
        let (first, n) = span.map_or((0, 0), |r| (r.first, r.len()));
        let body = MediaBody::new(stream, first, n, Some(permit))
            .await
            .map_err(|e| {
                SharingError::Transfer(TransferError::Engine(format!("cannot read the file: {e}")))
            })?;
        Ok(Media {
            status,
            content_type,
            total: len,
            range: span,
            body,
        })
    }
}

/// What "open in the system's player" may hand the desktop: the file itself only when its
/// bytes sniff as audio or video ([`crate::infra::thumbnail::sniff_media`]); anything else (an
/// `.html` or `.desktop` file a peer described as a video, a folder) opens its folder, so a
/// peer's file never runs or renders through the desktop's default handler.
pub fn open_target(path: &std::path::Path) -> std::path::PathBuf {
    let is_file = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file());
    if is_file && crate::infra::thumbnail::sniff_media(path).is_some() {
        return path.to_path_buf();
    }
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        return path.to_path_buf();
    }
    path.parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::open_target;

    #[test]
    fn only_audio_and_video_open_in_the_player() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let write = |name: &str, bytes: &[u8]| {
            let p = d.join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let mp4 = write("film.mp4", b"\0\0\0\x18ftypisom\0\0\0\0");
        let ogg = write("song.ogg", b"OggS\0\x02\0\0");
        assert_eq!(open_target(&mp4), mp4);
        assert_eq!(open_target(&ogg), ogg);
        // Described as videos by a peer, but not media: the folder opens instead.
        for (name, bytes) in [
            ("film.html", &b"<html><script>"[..]),
            ("film.desktop", b"[Desktop Entry]\nExec=sh -c evil"),
            ("film.mp4.sh", b"#!/bin/sh\nrm -rf ~"),
            ("playlist.mp4", b"#EXTM3U\nhttp://x/"),
        ] {
            assert_eq!(open_target(&write(name, bytes)), d, "{name}");
        }
        // A link is never opened, even to a real video.
        let link = d.join("link.mp4");
        std::os::unix::fs::symlink(&mp4, &link).unwrap();
        assert_eq!(open_target(&link), d);
        // A folder (a torrent of several files) opens itself.
        let sub = d.join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert_eq!(open_target(&sub), sub);
    }
}
