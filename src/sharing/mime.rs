//! What a file is, from its name: its MIME type and the resource kind that follows.

use crate::api::dto::ResourceKind;

/// The MIME type of a file, from its extension.
pub fn guess_mime(path: &std::path::Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "epub" => "application/epub+zip",
        "djvu" => "image/vnd.djvu",
        "ps" => "application/postscript",
        "tex" => "application/x-tex",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "odt" => "application/vnd.oasis.opendocument.text",
        "md" => "text/markdown",
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "tsv" => "text/tab-separated-values",
        "json" => "application/json",
        "jsonl" | "ndjson" => "application/x-ndjson",
        "parquet" => "application/vnd.apache.parquet",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "h5" | "hdf5" => "application/x-hdf5",
        "nc" => "application/x-netcdf",
        "sqlite" | "db" => "application/vnd.sqlite3",
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "mov" => "video/quicktime",
        "avi" => "video/x-msvideo",
        "ogv" => "video/ogg",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "flac" => "audio/flac",
        "wav" => "audio/wav",
        "m4a" => "audio/mp4",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "tif" | "tiff" => "image/tiff",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        _ => "application/octet-stream",
    }
}

/// The kind a MIME type suggests.
pub fn guess_kind(mime: &str) -> ResourceKind {
    let (top, sub) = mime.split_once('/').unwrap_or((mime, ""));
    match top {
        "video" => ResourceKind::Video,
        "audio" => ResourceKind::Audio,
        "image" if sub != "vnd.djvu" => ResourceKind::Image,
        _ => match mime {
            "application/pdf"
            | "application/epub+zip"
            | "image/vnd.djvu"
            | "application/postscript"
            | "application/x-tex"
            | "application/msword"
            | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            | "application/vnd.oasis.opendocument.text"
            | "text/markdown" => ResourceKind::Paper,
            "text/csv"
            | "text/tab-separated-values"
            | "application/json"
            | "application/x-ndjson"
            | "application/vnd.apache.parquet"
            | "application/vnd.ms-excel"
            | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            | "application/vnd.oasis.opendocument.spreadsheet"
            | "application/x-hdf5"
            | "application/x-netcdf"
            | "application/vnd.sqlite3" => ResourceKind::Dataset,
            _ => ResourceKind::Other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_guessed_from_file_names() {
        let k = |name: &str| guess_kind(guess_mime(std::path::Path::new(name)));
        assert_eq!(k("paper.PDF"), ResourceKind::Paper);
        assert_eq!(k("data.csv"), ResourceKind::Dataset);
        assert_eq!(k("talk.mp4"), ResourceKind::Video);
        assert_eq!(k("song.flac"), ResourceKind::Audio);
        assert_eq!(k("photo.jpeg"), ResourceKind::Image);
        assert_eq!(k("archive.bin"), ResourceKind::Other);
    }
}
