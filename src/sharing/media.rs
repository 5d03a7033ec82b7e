//! Byte ranges of a resource's file for the player, read from the torrent's streaming reader
//! (pieces just ahead of the reader are fetched first, so a video plays while it downloads).
//!
//! The API's `media` call answers one request with a [`Media`]; the headless HTTP route
//! (`/media/...`) and the desktop shell's `hearth:` protocol only turn the [`Media`] answer
//! into their response type. Ranges follow RFC 9110: one `bytes=` range (first-last,
//! first-, or -suffix) gets 206 with `Content-Range`; several ranges, or a header that is not
//! a byte range, get the whole file with 200; a range starting past the end gets 416.

use std::io::SeekFrom;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use tokio::io::{AsyncRead, AsyncSeekExt};
use tokio_util::io::ReaderStream;

/// `Cache-Control` of a thumbnail: it is asked for by its hash, so it never changes.
pub const THUMBNAIL_CACHE_CONTROL: &str = "private, max-age=31536000, immutable";

/// Read size of the body stream.
const CHUNK: usize = 256 * 1024;

/// An inclusive byte range of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// A `Range` header that no byte of the file satisfies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the range {header:?} is outside the file's {len} bytes")]
pub struct Unsatisfiable {
    pub header: String,
    pub len: u64,
}

/// The range a `Range` header asks of a file of `len` bytes: `Ok(None)` means the whole file
/// (no header, several ranges, or not a byte range, which RFC 9110 lets a server ignore).
pub fn parse_range(header: Option<&str>, len: u64) -> Result<Option<ByteRange>, Unsatisfiable> {
    let Some(h) = header.map(str::trim) else {
        return Ok(None);
    };
    let Some(spec) = h.strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        // More digits than u64 holds: past any end.
        Some(s.parse().unwrap_or(u64::MAX))
    };
    let unsatisfiable = || Unsatisfiable {
        header: h.to_owned(),
        len,
    };
    let range = match (a.is_empty(), b.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => {
            let Some(n) = number(b) else { return Ok(None) };
            if n == 0 || len == 0 {
                return Err(unsatisfiable());
            }
            ByteRange {
                first: len - n.min(len),
                last: len - 1,
            }
        }
        // bytes=N- and bytes=N-M
        (false, _) => {
            let Some(first) = number(a) else {
                return Ok(None);
            };
            let last = if b.is_empty() {
                u64::MAX
            } else {
                match number(b) {
                    Some(l) if l >= first => l,
                    _ => return Ok(None),
                }
            };
            if first >= len {
                return Err(unsatisfiable());
            }
            ByteRange {
                first,
                last: last.min(len - 1),
            }
        }
        (true, true) => return Ok(None),
    };
    Ok(Some(range))
}

/// The answer to a media request.
pub struct Media {
    /// 206 for a range, 200 for the whole file, 416 for a range outside it.
    pub status: u16,
    pub content_type: String,
    /// The file's length.
    pub total: u64,
    /// The bytes in `body` (the whole file for 200, possibly empty).
    pub range: Option<ByteRange>,
    /// Exactly `content_length()` bytes.
    pub body: MediaBody,
}

impl Media {
    pub fn content_length(&self) -> u64 {
        self.range.map_or(0, |r| r.len())
    }

    /// The response headers of this answer, the same on every transport.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("accept-ranges", "bytes".to_owned()),
            ("content-type", self.content_type.clone()),
            ("content-length", self.content_length().to_string()),
            ("cache-control", "no-store".to_owned()),
            ("x-content-type-options", "nosniff".to_owned()),
        ];
        if self.content_type == OPAQUE {
            // Not a media type: saved, never shown in the app's origin.
            h.push(("content-disposition", "attachment".to_owned()));
        }
        if let Some(cr) = self.content_range() {
            h.push(("content-range", cr));
        }
        h
    }

    /// `Content-Range` of a 206 or 416 answer.
    pub fn content_range(&self) -> Option<String> {
        match (self.status, self.range) {
            (206, Some(r)) => Some(format!("bytes {}-{}/{}", r.first, r.last, self.total)),
            (416, _) => Some(format!("bytes */{}", self.total)),
            _ => None,
        }
    }

    /// The answer to a range outside a file of `total` bytes.
    pub fn unsatisfiable(total: u64, content_type: String) -> Self {
        Self {
            status: 416,
            content_type,
            total,
            range: None,
            body: MediaBody::empty(),
        }
    }
}

/// Bytes of a file from the torrent's streaming reader, in chunks; waits for pieces that are
/// still on their way.
pub struct MediaBody {
    inner: Option<ReaderStream<tokio::io::Take<Box<dyn AsyncRead + Send + Unpin>>>>,
    /// A place among the streams open at once, given back when the body is dropped.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl MediaBody {
    /// `len` bytes of `reader` from `first`.
    pub async fn new<R>(
        mut reader: R,
        first: u64,
        len: u64,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> std::io::Result<Self>
    where
        R: AsyncRead + tokio::io::AsyncSeek + Send + Unpin + 'static,
    {
        if first > 0 {
            reader.seek(SeekFrom::Start(first)).await?;
        }
        let boxed: Box<dyn AsyncRead + Send + Unpin> = Box::new(reader);
        Ok(Self {
            inner: Some(ReaderStream::with_capacity(
                tokio::io::AsyncReadExt::take(boxed, len),
                CHUNK,
            )),
            _permit: permit,
        })
    }
}

impl MediaBody {
    /// No bytes.
    pub fn empty() -> Self {
        Self {
            inner: None,
            _permit: None,
        }
    }
}

impl Stream for MediaBody {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.inner {
            Some(inner) => Pin::new(inner).poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

/// The MIME type a player needs for a file, from its name (what the record says is used for
/// one-file resources), limited to [`safe_media_type`]: a peer's record names any type it
/// likes, and `text/html` or `image/svg+xml` served from this origin would run its scripts.
pub fn content_type(record_mime: &str, path: &str, one_file: bool) -> String {
    let mime = if one_file && !record_mime.is_empty() {
        record_mime.to_owned()
    } else {
        super::mime::guess_mime(std::path::Path::new(path)).to_owned()
    };
    safe_media_type(&mime)
}

/// Sent for anything not a media type, with `Content-Disposition: attachment`.
pub const OPAQUE: &str = "application/octet-stream";

/// `mime` if it is a type the app shows or plays and that cannot script this origin
/// (`audio/*`, `video/*`, `image/*` but SVG, PDF, plain text), lowercased and without
/// parameters; otherwise [`OPAQUE`].
pub fn safe_media_type(mime: &str) -> String {
    let essence = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some((top, sub)) = essence.split_once('/') else {
        return OPAQUE.into();
    };
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    if !token(top) || !token(sub) {
        return OPAQUE.into();
    }
    let ok = match top {
        "audio" | "video" => true,
        "image" => !sub.starts_with("svg"),
        "application" => matches!(sub, "pdf" | "ogg"),
        "text" => sub == "plain",
        _ => false,
    };
    if ok {
        essence
    } else {
        OPAQUE.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(first: u64, last: u64) -> Option<ByteRange> {
        Some(ByteRange { first, last })
    }

    #[test]
    fn only_media_types_are_served_as_themselves() {
        for ok in [
            "video/mp4",
            "audio/ogg",
            "image/png",
            "image/jpeg",
            "application/pdf",
            "text/plain",
        ] {
            assert_eq!(safe_media_type(ok), ok);
        }
        assert_eq!(safe_media_type("Video/MP4; codecs=x"), "video/mp4");
        for bad in [
            "text/html",
            "image/svg+xml",
            "application/xhtml+xml",
            "application/javascript",
            "text/xml",
            "application/x-desktop",
            "",
            "video",
            "video/mp4\r\nset-cookie: x",
            "video/<script>",
        ] {
            assert_eq!(safe_media_type(bad), OPAQUE, "{bad:?}");
        }
        assert_eq!(content_type("text/html", "a.html", true), OPAQUE);
        assert_eq!(content_type("", "page.html", false), OPAQUE);
        assert_eq!(content_type("video/webm", "a.webm", true), "video/webm");
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        let len = 1000;
        assert_eq!(parse_range(None, len), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-99"), len), Ok(r(0, 99)));
        assert_eq!(parse_range(Some("bytes=500-"), len), Ok(r(500, 999)));
        assert_eq!(parse_range(Some("bytes=-100"), len), Ok(r(900, 999)));
        assert_eq!(parse_range(Some("bytes=-5000"), len), Ok(r(0, 999)));
        assert_eq!(parse_range(Some("bytes=990-5000"), len), Ok(r(990, 999)));
        assert_eq!(parse_range(Some("bytes=999-999"), len), Ok(r(999, 999)));
        assert_eq!(parse_range(Some(" bytes= 5 - 9 "), len), Ok(r(5, 9)));
        // Past the end: 416.
        assert!(parse_range(Some("bytes=1000-"), len).is_err());
        assert!(parse_range(Some("bytes=1000-2000"), len).is_err());
        assert!(parse_range(Some("bytes=99999999999999999999999-"), len).is_err());
        assert!(parse_range(Some("bytes=-0"), len).is_err());
        assert!(parse_range(Some("bytes=0-"), 0).is_err());
        // Not a usable single byte range: the whole file.
        for ignored in [
            "bytes=0-1,5-9",
            "items=0-9",
            "bytes=9-1",
            "bytes=-",
            "bytes=a-b",
            "bytes=1",
            "bytes=+1-2",
        ] {
            assert_eq!(parse_range(Some(ignored), len), Ok(None), "{ignored}");
        }
    }

    #[tokio::test]
    async fn the_body_is_exactly_the_range() {
        use futures::StreamExt;
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut body = MediaBody::new(std::io::Cursor::new(data.clone()), 123_456, 600_000, None)
            .await
            .unwrap();
        let mut got = Vec::new();
        while let Some(chunk) = body.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, &data[123_456..723_456]);
    }
}
