//! Image thumbnails: small JPEGs for resource records, and the check of thumbnails that
//! peers send us.
//!
//! Decoding is CPU-bound (a large photo takes tens of milliseconds or more): call these
//! functions from a blocking context (`tokio::task::spawn_blocking`), never directly on an
//! async worker.
//!
//! Untrusted input is decoded behind limits so that a decompression bomb (a tiny file whose
//! header claims a gigantic image) is refused from its header, before any pixel buffer is
//! allocated: a source image may be at most [`MAX_SOURCE_SIDE`] pixels a side and need at
//! most [`MAX_SOURCE_ALLOC`] bytes decoded; a thumbnail from a peer at most
//! [`MAX_PEER_THUMBNAIL_SIDE`] a side.

use std::io::{BufRead, Cursor, Seek};
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};

/// Hard upper bound of a thumbnail, ours or a peer's.
pub const MAX_THUMBNAIL_BYTES: usize = 16 * 1024;
/// Longest side of the thumbnails we make.
pub const THUMBNAIL_SIDE: u32 = 320;
/// Size we aim for; anything up to [`MAX_THUMBNAIL_BYTES`] is still accepted.
const TARGET_BYTES: usize = 12 * 1024;
/// Largest source image we decode, per side.
pub const MAX_SOURCE_SIDE: u32 = 20_000;
/// Most memory a source image may need once decoded.
pub const MAX_SOURCE_ALLOC: u64 = 512 * 1024 * 1024;
/// Largest thumbnail we accept from a peer, per side.
pub const MAX_PEER_THUMBNAIL_SIDE: u32 = 1024;
/// Most memory a peer's thumbnail may need once decoded (1024 x 1024 RGBA at 16 bits is 8 MiB).
const MAX_PEER_ALLOC: u64 = 16 * 1024 * 1024;

/// Source formats we make thumbnails of (the image crate is built with just these).
const SOURCE_FORMATS: &[ImageFormat] = &[
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::Gif,
    ImageFormat::WebP,
];
/// Formats a peer's thumbnail may use.
const PEER_FORMATS: &[ImageFormat] = &[ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::WebP];

/// Longest sides tried, largest first, until the JPEG fits.
const SIDES: &[u32] = &[THUMBNAIL_SIDE, 256, 200, 160, 128, 96, 64];
/// JPEG qualities tried at each side, best first.
const QUALITIES: &[u8] = &[80, 70, 60, 50, 40];

#[derive(thiserror::Error, Debug)]
pub enum ThumbnailError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not a supported image format")]
    UnsupportedFormat,
    #[error("image too large: {0}")]
    TooLarge(String),
    #[error("cannot decode image: {0}")]
    Decode(#[source] ImageError),
    #[error("cannot encode thumbnail: {0}")]
    Encode(#[source] ImageError),
    #[error("{0}")]
    Tool(String),
    #[error("thumbnail is empty")]
    Empty,
    #[error("thumbnail is {len} bytes, more than the {max} allowed")]
    TooManyBytes { len: usize, max: usize },
    #[error("cannot make a thumbnail that fits in {max} bytes")]
    CannotFit { max: usize },
}

/// JPEG thumbnail of an image file, longest side <= 320 px, at most MAX_THUMBNAIL_BYTES
/// (lower the quality/size until it fits; typical result well under 15 KB).
///
/// The format is recognised from the content (JPEG, PNG, GIF's first frame, WebP), not from
/// the file name. EXIF orientation is applied; transparency is flattened onto white.
pub fn image_thumbnail(path: &Path) -> Result<Vec<u8>, ThumbnailError> {
    let io_err = |source| ThumbnailError::Io {
        path: path.to_path_buf(),
        source,
    };
    let reader = ImageReader::open(path).map_err(io_err)?;
    let image = decode_limited(reader, &source_limits(), SOURCE_FORMATS).map_err(|e| match e {
        ThumbnailError::Decode(ImageError::IoError(source)) => io_err(source),
        other => other,
    })?;
    encode_thumbnail(image)
}

/// How long ffmpeg may take over one video's preview.
const FFMPEG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether `ffmpeg` and `ffprobe` can be run (looked up once).
pub fn ffmpeg_available() -> bool {
    static FOUND: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| {
        ["ffmpeg", "ffprobe"].iter().all(|tool| {
            std::process::Command::new(tool)
                .arg("-version")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    })
}

/// Runs a command to its end (killed after [`FFMPEG_TIMEOUT`]) and returns its stdout.
fn run_tool(cmd: &mut std::process::Command) -> Result<Vec<u8>, ThumbnailError> {
    use std::io::Read;
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| ThumbnailError::Tool(format!("cannot run {:?}: {e}", cmd.get_program())))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        // A preview frame is small; never hold more than this.
        let _ = (&mut stdout).take(64 * 1024 * 1024).read_to_end(&mut out);
        out
    });
    let started = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let out = reader.join().unwrap_or_default();
                return if status.success() {
                    Ok(out)
                } else {
                    Err(ThumbnailError::Tool(format!(
                        "{:?} failed ({status})",
                        cmd.get_program()
                    )))
                };
            }
            Ok(None) if started.elapsed() > FFMPEG_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ThumbnailError::Tool(format!(
                    "{:?} took too long",
                    cmd.get_program()
                )));
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(e) => return Err(ThumbnailError::Tool(e.to_string())),
        }
    }
}

/// The container of an audio or video file, from its first bytes, as the name of the ffmpeg
/// demuxer that reads it; `None` for anything else (playlists, HTML, scripts, SDP, text).
/// ffmpeg picks its demuxer by content, so a shared file named `.mp4` may be an HLS playlist
/// or an SDP description that makes it fetch addresses: it is run only on files this
/// recognises, with that demuxer pinned, reading local files only.
pub fn sniff_media(path: &Path) -> Option<&'static str> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let mut f = std::fs::File::open(path).ok()?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    sniff_media_bytes(&head[..n])
}

/// [`sniff_media`] on the first (up to 16) bytes of a file.
pub fn sniff_media_bytes(h: &[u8]) -> Option<&'static str> {
    let at = |i: usize, sig: &[u8]| h.get(i..i + sig.len()) == Some(sig);
    if at(4, b"ftyp") || at(4, b"moov") || at(4, b"mdat") || at(4, b"free") || at(4, b"wide") {
        Some("mov")
    } else if at(0, b"\x1a\x45\xdf\xa3") {
        Some("matroska")
    } else if at(0, b"RIFF") && at(8, b"AVI ") {
        Some("avi")
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        Some("wav")
    } else if at(0, b"OggS") {
        Some("ogg")
    } else if at(0, b"fLaC") {
        Some("flac")
    } else if at(0, b"FLV\x01") {
        Some("flv")
    } else if at(0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11") {
        Some("asf")
    } else if at(0, b"\0\0\x01\xba") {
        Some("mpeg")
    } else if at(0, b"ID3") {
        Some("mp3")
    } else if h.len() >= 2 && h[0] == 0xff && h[1] & 0xf6 == 0xf0 {
        Some("aac")
    } else if h.len() >= 2 && h[0] == 0xff && h[1] & 0xe0 == 0xe0 {
        Some("mp3")
    } else if h.first() == Some(&0x47) && h.len() >= 4 && h[1] & 0x80 == 0 {
        // MPEG transport stream sync byte (the next one is 188 bytes on; a playlist or text
        // file never starts with 'G' followed by this).
        Some("mpegts")
    } else {
        None
    }
}

/// The input arguments of ffmpeg and ffprobe for a local file sniffed as `format`: only the
/// `file` protocol, the demuxer pinned, and the path given as a `file:` URL (a name like
/// `concat:...` or `http:...` is never read as another protocol).
fn input_args(path: &Path, format: &str) -> Vec<std::ffi::OsString> {
    let mut url = std::ffi::OsString::from("file:");
    url.push(path.as_os_str());
    ["-protocol_whitelist", "file", "-f", format, "-i"]
        .into_iter()
        .map(Into::into)
        .chain([url])
        .collect()
}

fn sniffed(path: &Path) -> Result<&'static str, ThumbnailError> {
    sniff_media(path)
        .ok_or_else(|| ThumbnailError::Tool("not a recognised audio or video container".into()))
}

/// The play length of a video or audio file, by ffprobe.
pub fn media_duration_ms(path: &Path) -> Result<u64, ThumbnailError> {
    let format = sniffed(path)?;
    let out = run_tool(
        std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
            ])
            .args(input_args(path, format)),
    )?;
    let text = String::from_utf8_lossy(&out);
    let secs: f64 = text.trim().parse().map_err(|_| {
        ThumbnailError::Tool(format!("ffprobe gave no duration ({:?})", text.trim()))
    })?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(ThumbnailError::Tool("ffprobe gave no duration".into()));
    }
    Ok((secs * 1000.0).round() as u64)
}

/// A JPEG thumbnail (as [`image_thumbnail`]) of a frame a tenth of the way into a video (at
/// most 10 s in), by ffmpeg.
pub fn video_thumbnail(path: &Path, duration_ms: Option<u64>) -> Result<Vec<u8>, ThumbnailError> {
    let format = sniffed(path)?;
    let at_ms = duration_ms.map_or(0, |d| (d / 10).min(10_000));
    let frame = run_tool(
        std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-ss"])
            .arg(format!("{}.{:03}", at_ms / 1000, at_ms % 1000))
            .args(input_args(path, format))
            .args([
                "-frames:v",
                "1",
                "-vf",
                "scale=640:-2",
                "-f",
                "image2pipe",
                "-c:v",
                "png",
                "-",
            ]),
    )?;
    if frame.is_empty() {
        return Err(ThumbnailError::Tool("ffmpeg gave no frame".into()));
    }
    from_image_bytes(&frame)
}

/// Like [`image_thumbnail`], from the bytes of an image file.
pub fn from_image_bytes(bytes: &[u8]) -> Result<Vec<u8>, ThumbnailError> {
    let image = decode_limited(
        ImageReader::new(Cursor::new(bytes)),
        &source_limits(),
        SOURCE_FORMATS,
    )?;
    encode_thumbnail(image)
}

/// Check untrusted thumbnail bytes from a peer: size <= MAX, and it decodes as JPEG/PNG/WebP
/// with sane dimensions (<= 1024 px a side).
pub fn validate(bytes: &[u8]) -> Result<(), ThumbnailError> {
    if bytes.is_empty() {
        return Err(ThumbnailError::Empty);
    }
    if bytes.len() > MAX_THUMBNAIL_BYTES {
        return Err(ThumbnailError::TooManyBytes {
            len: bytes.len(),
            max: MAX_THUMBNAIL_BYTES,
        });
    }
    let limits = DecodeLimits {
        max_side: MAX_PEER_THUMBNAIL_SIDE,
        max_alloc: MAX_PEER_ALLOC,
    };
    // The JPEG decoder is lenient and fills in a truncated scan: require the end-of-image
    // marker, which every complete JPEG (and ours) ends with.
    if image::guess_format(bytes).ok() == Some(ImageFormat::Jpeg) && !bytes.ends_with(&[0xFF, 0xD9])
    {
        return Err(ThumbnailError::Decode(ImageError::Decoding(
            image::error::DecodingError::new(
                image::error::ImageFormatHint::Exact(ImageFormat::Jpeg),
                "truncated JPEG (no end-of-image marker)",
            ),
        )));
    }
    decode_limited(ImageReader::new(Cursor::new(bytes)), &limits, PEER_FORMATS)?;
    Ok(())
}

struct DecodeLimits {
    max_side: u32,
    max_alloc: u64,
}

fn source_limits() -> DecodeLimits {
    DecodeLimits {
        max_side: MAX_SOURCE_SIDE,
        max_alloc: MAX_SOURCE_ALLOC,
    }
}

/// Decodes one image of an allowed format, refusing from the header anything bigger than
/// `limits` (before the pixel buffer is allocated).
fn decode_limited<R: BufRead + Seek>(
    reader: ImageReader<R>,
    limits: &DecodeLimits,
    allowed: &[ImageFormat],
) -> Result<DynamicImage, ThumbnailError> {
    let mut reader = reader
        .with_guessed_format()
        .map_err(|e| ThumbnailError::Decode(ImageError::IoError(e)))?;
    match reader.format() {
        Some(format) if allowed.contains(&format) => {}
        _ => return Err(ThumbnailError::UnsupportedFormat),
    }
    let mut image_limits = Limits::default();
    image_limits.max_image_width = Some(limits.max_side);
    image_limits.max_image_height = Some(limits.max_side);
    image_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(image_limits);

    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    // The decoders check the limits themselves; check again here, since `into_decoder`
    // does not reserve the output buffer against `max_alloc` and not every decoder checks
    // every limit.
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(ThumbnailError::Decode(ImageError::Limits(
            image::error::LimitError::from_kind(image::error::LimitErrorKind::DimensionError),
        )));
    }
    if width > limits.max_side || height > limits.max_side {
        return Err(ThumbnailError::TooLarge(format!(
            "{width}x{height} pixels, at most {} a side allowed",
            limits.max_side
        )));
    }
    if decoder.total_bytes() > limits.max_alloc {
        return Err(ThumbnailError::TooLarge(format!(
            "{width}x{height} pixels need {} bytes decoded, at most {} allowed",
            decoder.total_bytes(),
            limits.max_alloc
        )));
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    image.apply_orientation(orientation);
    Ok(image)
}

fn decode_error(e: ImageError) -> ThumbnailError {
    match e {
        ImageError::Limits(limit) => ThumbnailError::TooLarge(limit.to_string()),
        ImageError::Unsupported(_) => ThumbnailError::UnsupportedFormat,
        other => ThumbnailError::Decode(other),
    }
}

/// Scales to fit [`THUMBNAIL_SIDE`], flattens transparency onto white and encodes as JPEG,
/// lowering quality, then size, until the result fits.
fn encode_thumbnail(image: DynamicImage) -> Result<Vec<u8>, ThumbnailError> {
    let base = flatten(fit_within(image, THUMBNAIL_SIDE));
    let mut smallest: Option<Vec<u8>> = None;
    let mut previous_side = None;
    for &side in SIDES {
        let scaled;
        let current = if base.width().max(base.height()) <= side {
            &base
        } else {
            scaled = DynamicImage::ImageRgb8(base.clone())
                .resize(side, side, FilterType::Triangle)
                .into_rgb8();
            &scaled
        };
        let longest = current.width().max(current.height());
        if previous_side == Some(longest) {
            continue; // the same picture as the last round: nothing new to try
        }
        previous_side = Some(longest);
        for &quality in QUALITIES {
            let jpeg = encode_jpeg(current, quality)?;
            if jpeg.len() <= TARGET_BYTES {
                return Ok(jpeg);
            }
            if smallest.as_ref().is_none_or(|s| jpeg.len() < s.len()) {
                smallest = Some(jpeg);
            }
        }
        // Within the hard limit at this side beats anything smaller.
        if let Some(best) = smallest.take_if(|s| s.len() <= MAX_THUMBNAIL_BYTES) {
            return Ok(best);
        }
    }
    Err(ThumbnailError::CannotFit {
        max: MAX_THUMBNAIL_BYTES,
    })
}

/// The image scaled down (never up) so that its longest side is at most `side`.
fn fit_within(image: DynamicImage, side: u32) -> DynamicImage {
    if image.width() <= side && image.height() <= side {
        return image;
    }
    // `thumbnail` averages every source pixel into exactly one target pixel: fast on huge
    // images and free of the aliasing of nearest-neighbour sampling.
    image.thumbnail(side, side)
}

/// RGB8 with any transparency composited onto a white background (JPEG has no alpha).
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(src[3]);
        for c in 0..3 {
            dst[c] = ((u32::from(src[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}

fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, ThumbnailError> {
    let mut out = Vec::with_capacity(TARGET_BYTES);
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(image)
        .map_err(ThumbnailError::Encode)?;
    Ok(out)
}

/// Side of a profile picture, in pixels (it is square).
pub const AVATAR_SIDE: u32 = 256;
/// Hard upper bound of a profile picture, ours or a peer's.
pub const MAX_AVATAR_BYTES: usize = 64 * 1024;
/// Largest image file the user may give as a profile picture.
pub const MAX_AVATAR_SOURCE_BYTES: usize = 10 * 1024 * 1024;

/// A profile picture from the bytes of an image file (JPEG, PNG, GIF's first frame, WebP):
/// decoded behind the same limits as thumbnails, cropped to its centre square, scaled to
/// [`AVATAR_SIDE`] and encoded as JPEG of at most [`MAX_AVATAR_BYTES`].
pub fn avatar_from_image_bytes(bytes: &[u8]) -> Result<Vec<u8>, ThumbnailError> {
    if bytes.is_empty() {
        return Err(ThumbnailError::Empty);
    }
    if bytes.len() > MAX_AVATAR_SOURCE_BYTES {
        return Err(ThumbnailError::TooManyBytes {
            len: bytes.len(),
            max: MAX_AVATAR_SOURCE_BYTES,
        });
    }
    let image = decode_limited(
        ImageReader::new(Cursor::new(bytes)),
        &source_limits(),
        SOURCE_FORMATS,
    )?;
    let side = image.width().min(image.height());
    let square = image.crop_imm(
        (image.width() - side) / 2,
        (image.height() - side) / 2,
        side,
        side,
    );
    let scaled = if side > AVATAR_SIDE {
        square.resize_exact(AVATAR_SIDE, AVATAR_SIDE, FilterType::Triangle)
    } else {
        square
    };
    let rgb = flatten(scaled);
    for &quality in &[85u8, 75, 65, 50, 35] {
        let jpeg = encode_jpeg(&rgb, quality)?;
        if jpeg.len() <= MAX_AVATAR_BYTES {
            return Ok(jpeg);
        }
    }
    Err(ThumbnailError::CannotFit {
        max: MAX_AVATAR_BYTES,
    })
}

/// Check untrusted profile picture bytes from a peer: size <= [`MAX_AVATAR_BYTES`], and it
/// decodes as JPEG/PNG/WebP of at most 1024 px a side.
pub fn validate_avatar(bytes: &[u8]) -> Result<(), ThumbnailError> {
    if bytes.len() > MAX_AVATAR_BYTES {
        return Err(ThumbnailError::TooManyBytes {
            len: bytes.len(),
            max: MAX_AVATAR_BYTES,
        });
    }
    if bytes.is_empty() {
        return Err(ThumbnailError::Empty);
    }
    decode_limited(
        ImageReader::new(Cursor::new(bytes)),
        &DecodeLimits {
            max_side: MAX_PEER_THUMBNAIL_SIDE,
            max_alloc: MAX_PEER_ALLOC,
        },
        PEER_FORMATS,
    )?;
    Ok(())
}

/// The image type of a stored picture (JPEG, PNG or WebP), from its bytes.
pub fn image_mime(bytes: &[u8]) -> &'static str {
    match image::guess_format(bytes) {
        Ok(ImageFormat::Png) => "image/png",
        Ok(ImageFormat::WebP) => "image/webp",
        _ => "image/jpeg",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};

    /// Deterministic pseudo-random bytes (xorshift), for noisy test images.
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> u8 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 24) as u8
        }
    }

    /// A photo-like picture: smooth gradients plus some noise.
    fn photo(width: u32, height: u32) -> RgbImage {
        let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
        RgbImage::from_fn(width, height, |x, y| {
            let n = noise.next() / 8;
            Rgb([
                ((x * 255 / width) as u8).saturating_add(n),
                ((y * 255 / height) as u8).saturating_add(n),
                (((x + y) * 127 / (width + height)) as u8).saturating_add(n),
            ])
        })
    }

    /// Pure noise: the worst case for JPEG size.
    fn noise_image(width: u32, height: u32) -> RgbImage {
        let mut noise = Noise(42);
        RgbImage::from_fn(width, height, |_, _| {
            Rgb([noise.next(), noise.next(), noise.next()])
        })
    }

    fn png_bytes(image: &DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    fn jpeg_bytes(image: &RgbImage, quality: u8) -> Vec<u8> {
        encode_jpeg(image, quality).unwrap()
    }

    fn decoded(bytes: &[u8]) -> (ImageFormat, DynamicImage) {
        let format = image::guess_format(bytes).unwrap();
        (format, image::load_from_memory(bytes).unwrap())
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A valid PNG whose IHDR claims `width` x `height` (the pixel data is that of a 1x1
    /// image, so the file is tiny: a decompression bomb's header).
    fn png_claiming(width: u32, height: u32, color_type: u8) -> Vec<u8> {
        let mut png = png_bytes(&DynamicImage::ImageRgba8(RgbaImage::new(1, 1)));
        // signature (8) + length (4) + "IHDR" (4) + data (13) + crc (4)
        assert_eq!(&png[12..16], b"IHDR");
        png[16..20].copy_from_slice(&width.to_be_bytes());
        png[20..24].copy_from_slice(&height.to_be_bytes());
        png[24] = 8; // bit depth
        png[25] = color_type;
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        png
    }

    #[test]
    fn png_file_is_scaled_to_320_and_fits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("landscape.png");
        DynamicImage::ImageRgb8(photo(1200, 800))
            .save_with_format(&path, ImageFormat::Png)
            .unwrap();
        let thumb = image_thumbnail(&path).unwrap();
        assert!(thumb.len() <= MAX_THUMBNAIL_BYTES, "{} bytes", thumb.len());
        assert!(
            thumb.len() < 15_000,
            "typical thumbnail {} bytes",
            thumb.len()
        );
        let (format, image) = decoded(&thumb);
        assert_eq!(format, ImageFormat::Jpeg);
        assert_eq!((image.width(), image.height()), (320, 213));
        validate(&thumb).unwrap();
    }

    #[test]
    fn jpeg_file_portrait_keeps_aspect_ratio() {
        let dir = tempfile::tempdir().unwrap();
        // The name says PNG, the content is JPEG: the content wins.
        let path = dir.path().join("portrait.png");
        std::fs::write(&path, jpeg_bytes(&photo(600, 1000), 90)).unwrap();
        let thumb = image_thumbnail(&path).unwrap();
        assert!(thumb.len() <= MAX_THUMBNAIL_BYTES);
        let (format, image) = decoded(&thumb);
        assert_eq!(format, ImageFormat::Jpeg);
        assert_eq!((image.width(), image.height()), (192, 320));
    }

    #[test]
    fn small_image_is_not_enlarged() {
        let thumb = from_image_bytes(&png_bytes(&DynamicImage::ImageRgb8(photo(100, 50)))).unwrap();
        let (_, image) = decoded(&thumb);
        assert_eq!((image.width(), image.height()), (100, 50));
    }

    #[test]
    fn gif_and_webp_sources_work() {
        let source = DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(photo(400, 300)).to_rgba8());
        for format in [ImageFormat::Gif, ImageFormat::WebP] {
            let mut bytes = Vec::new();
            source
                .write_to(&mut Cursor::new(&mut bytes), format)
                .unwrap();
            let thumb = from_image_bytes(&bytes).unwrap();
            let (_, image) = decoded(&thumb);
            assert_eq!((image.width(), image.height()), (320, 240), "{format:?}");
        }
    }

    #[test]
    fn transparency_is_flattened_onto_white() {
        let mut rgba = RgbaImage::from_pixel(400, 400, Rgba([0, 0, 0, 0]));
        for x in 150..250 {
            for y in 150..250 {
                rgba.put_pixel(x, y, Rgba([200, 0, 0, 255]));
            }
        }
        let thumb = from_image_bytes(&png_bytes(&DynamicImage::ImageRgba8(rgba))).unwrap();
        let image = decoded(&thumb).1.into_rgb8();
        assert_eq!(image.dimensions(), (320, 320));
        let corner = image.get_pixel(5, 5);
        assert!(corner.0.iter().all(|&c| c > 240), "corner {corner:?}");
        let centre = image.get_pixel(160, 160);
        assert!(centre[0] > 150 && centre[1] < 60, "centre {centre:?}");
    }

    #[test]
    fn worst_case_noise_still_fits() {
        let thumb = from_image_bytes(&png_bytes(&DynamicImage::ImageRgb8(noise_image(
            1500, 1500,
        ))))
        .unwrap();
        assert!(thumb.len() <= MAX_THUMBNAIL_BYTES, "{} bytes", thumb.len());
        let (_, image) = decoded(&thumb);
        assert!(image.width() <= THUMBNAIL_SIDE && image.width() == image.height());
        validate(&thumb).unwrap();
    }

    #[test]
    fn exif_orientation_is_applied() {
        // A 300x100 JPEG with an EXIF orientation of 6 (rotate 90° clockwise) shows 100x300.
        let jpeg = jpeg_bytes(&photo(300, 100), 90);
        let exif: &[u8] = &[
            b'E', b'x', b'i', b'f', 0, 0, // Exif header
            b'M', b'M', 0, 42, 0, 0, 0, 8, // TIFF header, big endian, IFD at 8
            0, 1, // one entry
            0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, // Orientation, SHORT, 1, value 6
            0, 0, 0, 0, // no next IFD
        ];
        let mut with_exif = jpeg[..2].to_vec(); // SOI
        with_exif.extend_from_slice(&[0xFF, 0xE1]);
        with_exif.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        with_exif.extend_from_slice(exif);
        with_exif.extend_from_slice(&jpeg[2..]);
        let thumb = from_image_bytes(&with_exif).unwrap();
        let (_, image) = decoded(&thumb);
        assert_eq!((image.width(), image.height()), (100, 300));
    }

    #[test]
    fn truncated_garbage_missing_and_empty_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let png = png_bytes(&DynamicImage::ImageRgb8(photo(200, 200)));
        let truncated = dir.path().join("truncated.png");
        std::fs::write(&truncated, &png[..png.len() / 2]).unwrap();
        assert!(
            matches!(
                image_thumbnail(&truncated),
                Err(ThumbnailError::Decode(_) | ThumbnailError::Io { .. })
            ),
            "{:?}",
            image_thumbnail(&truncated)
        );

        let jpeg = jpeg_bytes(&photo(200, 200), 80);
        assert!(from_image_bytes(&jpeg[..40]).is_err());

        let garbage = dir.path().join("garbage.jpg");
        std::fs::write(&garbage, b"this is not an image at all, just some text").unwrap();
        assert!(image_thumbnail(&garbage).is_err());
        assert!(from_image_bytes(&[0u8; 1000]).is_err());

        let empty = dir.path().join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        assert!(image_thumbnail(&empty).is_err());

        assert!(matches!(
            image_thumbnail(&dir.path().join("missing.png")),
            Err(ThumbnailError::Io { .. })
        ));
    }

    #[test]
    fn decompression_bomb_headers_are_refused() {
        // Wider than MAX_SOURCE_SIDE.
        let wide = png_claiming(MAX_SOURCE_SIDE + 1, 10, 6);
        let err = from_image_bytes(&wide).unwrap_err();
        assert!(matches!(err, ThumbnailError::TooLarge(_)), "{err:?}");

        // Within the side limit but 19000 x 19000 RGBA needs 1.4 GB.
        let big = png_claiming(19_000, 19_000, 6);
        let err = from_image_bytes(&big).unwrap_err();
        assert!(matches!(err, ThumbnailError::TooLarge(_)), "{err:?}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.png");
        std::fs::write(&path, &big).unwrap();
        let err = image_thumbnail(&path).unwrap_err();
        assert!(matches!(err, ThumbnailError::TooLarge(_)), "{err:?}");

        // A JPEG header claiming 65500 x 65500.
        let mut jpeg = jpeg_bytes(&photo(16, 16), 80);
        let sof = jpeg
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("baseline SOF0");
        jpeg[sof + 5..sof + 7].copy_from_slice(&65_500u16.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&65_500u16.to_be_bytes());
        let err = from_image_bytes(&jpeg).unwrap_err();
        assert!(matches!(err, ThumbnailError::TooLarge(_)), "{err:?}");
    }

    #[test]
    fn validate_accepts_thumbnails_and_small_images() {
        validate(&from_image_bytes(&png_bytes(&DynamicImage::ImageRgb8(photo(800, 600)))).unwrap())
            .unwrap();
        validate(&png_bytes(&DynamicImage::ImageRgb8(photo(64, 64)))).unwrap();
        let mut webp = Vec::new();
        DynamicImage::ImageRgb8(photo(64, 64))
            .write_to(&mut Cursor::new(&mut webp), ImageFormat::WebP)
            .unwrap();
        validate(&webp).unwrap();
        // Exactly 1024 a side is allowed.
        let mut flat = Vec::new();
        image::codecs::png::PngEncoder::new(&mut flat)
            .write_image(
                &vec![0u8; 1024 * 1024],
                1024,
                1024,
                image::ExtendedColorType::L8,
            )
            .unwrap();
        assert!(flat.len() <= MAX_THUMBNAIL_BYTES);
        validate(&flat).unwrap();
    }

    #[test]
    fn validate_rejects_garbage_oversize_and_wrong_formats() {
        assert!(matches!(validate(b""), Err(ThumbnailError::Empty)));
        assert!(validate(b"definitely not an image").is_err());
        assert!(validate(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F']).is_err());

        // Too many bytes, even though it is a fine image.
        let noisy = png_bytes(&DynamicImage::ImageRgb8(noise_image(200, 200)));
        assert!(noisy.len() > MAX_THUMBNAIL_BYTES);
        assert!(matches!(
            validate(&noisy),
            Err(ThumbnailError::TooManyBytes { .. })
        ));

        // Few bytes but too many pixels.
        let mut wide = Vec::new();
        image::codecs::png::PngEncoder::new(&mut wide)
            .write_image(&vec![0u8; 2000], 2000, 1, image::ExtendedColorType::L8)
            .unwrap();
        assert!(wide.len() <= MAX_THUMBNAIL_BYTES);
        assert!(matches!(validate(&wide), Err(ThumbnailError::TooLarge(_))));
        assert!(matches!(
            validate(&png_claiming(50_000, 50_000, 6)),
            Err(ThumbnailError::TooLarge(_))
        ));

        // GIF is a source format, not a thumbnail format.
        let mut gif = Vec::new();
        DynamicImage::ImageRgba8(RgbaImage::new(8, 8))
            .write_to(&mut Cursor::new(&mut gif), ImageFormat::Gif)
            .unwrap();
        assert!(matches!(
            validate(&gif),
            Err(ThumbnailError::UnsupportedFormat)
        ));

        // Thumbnails cut short.
        let thumb =
            from_image_bytes(&png_bytes(&DynamicImage::ImageRgb8(photo(400, 400)))).unwrap();
        assert!(matches!(
            validate(&thumb[..thumb.len() / 3]),
            Err(ThumbnailError::Decode(_))
        ));
        let png = png_bytes(&DynamicImage::ImageRgb8(photo(64, 64)));
        assert!(png.len() <= MAX_THUMBNAIL_BYTES);
        assert!(matches!(
            validate(&png[..png.len() - 20]),
            Err(ThumbnailError::Decode(_))
        ));
    }

    /// An HLS playlist named `.mp4` in a shared folder: ffmpeg and ffprobe must not fetch
    /// what it points at (here a TCP listener of the test's, which must see no connection).
    #[test]
    fn a_playlist_named_mp4_makes_no_connection() {
        if !ffmpeg_available() {
            eprintln!("ffmpeg is not installed: skipped");
            return;
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("holiday.mp4");
        std::fs::write(
            &path,
            format!(
                "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n\
                 #EXTINF:10.0,\nhttp://127.0.0.1:{port}/seg0.ts\n#EXTINF:10.0,\n\
                 tcp://127.0.0.1:{port}\n#EXT-X-ENDLIST\n"
            ),
        )
        .unwrap();
        let duration = media_duration_ms(&path);
        let thumb = video_thumbnail(&path, None);
        let connected = listener.accept().is_ok();
        assert!(
            !connected,
            "ffmpeg or ffprobe connected to the playlist's address"
        );
        assert!(
            duration.is_err() && thumb.is_err(),
            "a playlist is not a video"
        );
        assert!(sniff_media(&path).is_none());
    }

    #[test]
    fn ffmpeg_reads_local_files_only_with_the_demuxer_pinned() {
        let args: Vec<String> = input_args(Path::new("/shared/concat:x.mp4"), "mov")
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "-protocol_whitelist",
                "file",
                "-f",
                "mov",
                "-i",
                "file:/shared/concat:x.mp4"
            ]
        );
    }

    #[test]
    fn media_containers_are_sniffed_from_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"\0\0\0\x18ftypisom\0\0\0\0", Some("mov")),
            (b"\x1a\x45\xdf\xa3\x01\0\0\0", Some("matroska")),
            (b"RIFF\0\0\0\0AVI LIST", Some("avi")),
            (b"RIFF\0\0\0\0WAVEfmt ", Some("wav")),
            (b"OggS\0\x02\0\0", Some("ogg")),
            (b"fLaC\0\0\0\x22", Some("flac")),
            (b"ID3\x04\0\0\0\0", Some("mp3")),
            (b"#EXTM3U\n#EXTINF:1,\nhttp://x/", None),
            (b"<html><body>", None),
            (b"[Desktop Entry]\nExec=sh", None),
            (b"", None),
        ];
        for (i, (bytes, want)) in cases.iter().enumerate() {
            let p = dir.path().join(format!("f{i}.mp4"));
            std::fs::write(&p, bytes).unwrap();
            assert_eq!(sniff_media(&p), *want, "case {i}");
        }
    }

    #[test]
    fn avatar_is_a_centred_square_of_256_under_the_cap() {
        let png = png_bytes(&DynamicImage::ImageRgb8(noise_image(1600, 900)));
        let avatar = avatar_from_image_bytes(&png).unwrap();
        assert!(avatar.len() <= MAX_AVATAR_BYTES, "{} bytes", avatar.len());
        let (format, image) = decoded(&avatar);
        assert_eq!(format, ImageFormat::Jpeg);
        assert_eq!((image.width(), image.height()), (AVATAR_SIDE, AVATAR_SIDE));
        validate_avatar(&avatar).unwrap();
        assert_eq!(image_mime(&avatar), "image/jpeg");
        // A small picture is not scaled up.
        let small = png_bytes(&DynamicImage::ImageRgb8(photo(40, 30)));
        let (_, image) = decoded(&avatar_from_image_bytes(&small).unwrap());
        assert_eq!((image.width(), image.height()), (30, 30));
    }

    #[test]
    fn avatar_refuses_bombs_garbage_and_huge_files() {
        let bomb = png_claiming(100_000, 100_000, 6);
        assert!(matches!(
            avatar_from_image_bytes(&bomb),
            Err(ThumbnailError::TooLarge(_))
        ));
        assert!(matches!(
            avatar_from_image_bytes(b"not an image at all"),
            Err(ThumbnailError::UnsupportedFormat)
        ));
        let huge = vec![0u8; MAX_AVATAR_SOURCE_BYTES + 1];
        assert!(matches!(
            avatar_from_image_bytes(&huge),
            Err(ThumbnailError::TooManyBytes { .. })
        ));
        assert!(matches!(
            avatar_from_image_bytes(&[]),
            Err(ThumbnailError::Empty)
        ));
        assert!(validate_avatar(&vec![0u8; MAX_AVATAR_BYTES + 1]).is_err());
        assert!(validate_avatar(b"garbage").is_err());
    }
}
