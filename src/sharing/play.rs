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
