//! From a request or MIME body to JSON bytes: gzip detection, bounded decompression and a
//! nesting-depth check before any JSON parser runs.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use super::error::ReportError;

/// Default limit of a report's decompressed size: 20 MiB.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 20 * 1024 * 1024;

/// Deepest JSON nesting accepted. A TLS report nests five levels; 32 leaves room for
/// extensions and stays far below any stack limit.
pub const MAX_DEPTH: usize = 32;

/// How the body was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// gzip (`application/tlsrpt+gzip`).
    Gzip,
    /// Plain JSON (`application/tlsrpt+json`).
    Json,
}

impl Encoding {
    /// The RFC 8460 media type of this encoding.
    pub fn media_type(self) -> &'static str {
        match self {
            Encoding::Gzip => "application/tlsrpt+gzip",
            Encoding::Json => "application/tlsrpt+json",
        }
    }
}

/// A decoded body.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// What the body was, judged by its bytes (not by a declared media type).
    pub encoding: Encoding,
    /// The JSON text.
    pub json: Vec<u8>,
}

/// Decodes `body`: gzip by its magic bytes, otherwise JSON when it starts with `{` (after
/// whitespace and an optional UTF-8 byte-order mark). Decompression stops as soon as more
/// than `max_decompressed` bytes come out, so a gzip bomb costs at most that much memory.
pub fn decode(body: &[u8], max_decompressed: usize) -> Result<Decoded, ReportError> {
    let (encoding, json) = if body.starts_with(&[0x1f, 0x8b]) {
        let limit = u64::try_from(max_decompressed)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let mut out = Vec::new();
        MultiGzDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| ReportError::Gzip(e.to_string()))?;
        if out.len() > max_decompressed {
            return Err(ReportError::TooLarge {
                limit: max_decompressed,
            });
        }
        (Encoding::Gzip, out)
    } else {
        if body.len() > max_decompressed {
            return Err(ReportError::TooLarge {
                limit: max_decompressed,
            });
        }
        (Encoding::Json, body.to_vec())
    };
    let text = json.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&json);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        _ if encoding == Encoding::Gzip => {
            return Err(ReportError::Invalid("the gzip body is not JSON".into()));
        }
        _ => return Err(ReportError::NotAReport),
    }
    check_depth(text, MAX_DEPTH)?;
    Ok(Decoded {
        encoding,
        json: text.to_vec(),
    })
}

/// Refuses JSON nesting deeper than `max`, scanning bytes (strings and escapes skipped).
fn check_depth(json: &[u8], max: usize) -> Result<(), ReportError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Err(ReportError::TooDeep(max));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Compresses `data` with gzip, for storing raw reports that arrived as plain JSON.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    // Writing to a Vec cannot fail.
    if enc.write_all(data).is_err() {
        return Vec::new();
    }
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_gzip() {
        let json = br#" {"a": 1}"#;
        let d = decode(json, 1024).unwrap();
        assert_eq!(d.encoding, Encoding::Json);
        let d = decode(&gzip(json), 1024).unwrap();
        assert_eq!(d.encoding, Encoding::Gzip);
        assert_eq!(d.json, json);
    }

    #[test]
    fn garbage_is_not_a_report() {
        assert!(matches!(
            decode(b"hello", 1024),
            Err(ReportError::NotAReport)
        ));
        assert!(matches!(decode(b"", 1024), Err(ReportError::NotAReport)));
        assert!(matches!(
            decode(&[0x1f, 0x8b, 0, 1, 2], 1024),
            Err(ReportError::Gzip(_))
        ));
    }

    #[test]
    fn gzip_bomb_stops_at_the_limit() {
        // 64 MiB of zeros compress to about 64 KiB.
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&chunk).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 1 << 20);
        assert!(matches!(
            decode(&bomb, DEFAULT_MAX_DECOMPRESSED),
            Err(ReportError::TooLarge { .. })
        ));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert!(matches!(
            decode(deep.as_bytes(), 1 << 20),
            Err(ReportError::TooDeep(_))
        ));
        let brackets_in_strings = format!("{{\"a\":\"{}\"}}", "[".repeat(100));
        assert!(decode(brackets_in_strings.as_bytes(), 1 << 20).is_ok());
    }
}
