//! The escaped text form of raw service responses: `ServiceInfo::raw` uses it, and signature
//! test responses are written in it, so a `raw` string from a scan can be pasted into a test.

use std::fmt::Write;

/// How many response bytes `ServiceInfo::raw` keeps.
pub const RAW_LIMIT: usize = 200;

/// Escapes bytes: printable ASCII and space as is, `\\`, `\r`, `\n`, `\t`, else `\xHH`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

/// The inverse of [`escape`]; also accepts `\0`. Any other character stands for its UTF-8
/// bytes. Returns why, when an escape is malformed.
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('\\') => out.push(b'\\'),
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('0') => out.push(0),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                let byte = u8::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 2)
                    .ok_or_else(|| format!("bad escape \\x{hex}"))?;
                out.push(byte);
            }
            Some(other) => return Err(format!("unknown escape \\{other}")),
            None => return Err("trailing backslash".to_owned()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_controls_and_binary() {
        assert_eq!(escape(b"SSH-2.0-x\r\n"), "SSH-2.0-x\\r\\n");
        assert_eq!(escape(b"\x00\xff\\a\t"), "\\x00\\xff\\\\a\\t");
        assert_eq!(unescape("a\\0\\x4a\\r").unwrap(), b"a\x00J\r");
        assert!(unescape("\\x4").is_err());
        assert!(unescape("\\q").is_err());
        assert!(unescape("\\").is_err());
        assert!(unescape("\\xzz").is_err());
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(unescape(&escape(&bytes)).unwrap(), bytes);
        }

        #[test]
        fn unescape_never_panics(s in "\\PC{0,60}") {
            let _ = unescape(&s);
        }
    }
}
