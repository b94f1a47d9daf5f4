//! Third-party text (feed headers, scanner reports, banners, log lines, a `--reason`) must reach
//! a terminal as text, never as commands: an escape sequence can retitle the window, clear the
//! screen or hide lines, and a newline inside a cell can forge a table row. Everything Picket
//! prints passes through here once, at render time:
//!
//! - [`terminal_safe`] for one field that is shown inside a line (a table cell): every control
//!   character, newlines included, becomes a visible escape such as `\u{1b}`;
//! - [`SafeWriter`] around the whole output stream: control characters other than newline and
//!   tab become visible escapes, whatever renderer wrote them;
//! - [`elide`] caps one message (a bad line quoted in an error) at a length a person can read.

use std::borrow::Cow;
use std::io::{self, Write};

/// How many characters of one message [`elide`] keeps by default.
pub const MAX_MESSAGE_CHARS: usize = 400;

/// Whether `c` must not reach a terminal inside a field: C0 and C1 controls, DEL, and the
/// bidirectional overrides that reorder what is shown.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control character (newline included) and bidi override escaped (`\u{1b}`).
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if is_unsafe(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// `s` cut to about `max` characters: its start and end kept, the middle replaced by a count.
pub fn elide(s: &str, max: usize) -> Cow<'_, str> {
    let total = s.chars().count();
    if total <= max {
        return Cow::Borrowed(s);
    }
    let head: String = s.chars().take(max * 3 / 4).collect();
    let tail_len = max / 4;
    let tail: String = s.chars().skip(total - tail_len).collect();
    Cow::Owned(format!(
        "{head} [... {} characters left out ...] {tail}",
        total - head.chars().count() - tail_len
    ))
}

/// A writer that passes text through with its control characters made visible, except newline
/// and tab (which the renderers use for layout). C0 controls and DEL are single bytes that never
/// occur inside a UTF-8 sequence; C1 controls are `0xC2 0x80..=0x9F`, recognised across writes.
pub struct SafeWriter<W: Write> {
    inner: W,
    /// The last byte written was 0xC2, held back until the next byte says what it starts.
    held_c2: bool,
}

impl<W: Write> SafeWriter<W> {
    pub fn new(inner: W) -> Self {
        SafeWriter {
            inner,
            held_c2: false,
        }
    }
}

/// Whether [`SafeWriter`] must escape or hold back `b`: a C0 control other than tab and newline,
/// DEL, or 0xC2 (which may start a C1 control).
fn is_stop(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0b..=0x1f | 0x7f | 0xc2)
}

/// Whether no byte of `buf` is a stop byte: a word of eight bytes is let through at once when
/// the exact "has a byte below 0x20" and "has a zero byte" tests clear it of every candidate
/// (tab and newline are candidates, then looked at one by one).
fn plain(buf: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut words = buf.chunks_exact(8);
    for word in &mut words {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let x = u64::from_le_bytes(eight);
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        if (below_space | zero(x ^ (ONES * 0x7f)) | zero(x ^ (ONES * 0xc2))) != 0
            && word.iter().any(|&b| is_stop(b))
        {
            return false;
        }
    }
    !words.remainder().iter().any(|&b| is_stop(b))
}

impl<W: Write> Write for SafeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The common case, plain text: passed through without a copy.
        if !self.held_c2 && plain(buf) {
            self.inner.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut out = Vec::with_capacity(buf.len() + 1);
        for &b in buf {
            if std::mem::take(&mut self.held_c2) {
                if (0x80..=0x9f).contains(&b) {
                    out.extend_from_slice(format!("\\u{{{b:x}}}").as_bytes());
                    continue;
                }
                out.push(0xc2);
            }
            match b {
                b'\n' | b'\t' => out.push(b),
                0x00..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{{{b:x}}}").as_bytes()),
                0xc2 => self.held_c2 = true,
                _ => out.push(b),
            }
        }
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if std::mem::take(&mut self.held_c2) {
            self.inner.write_all(&[0xc2])?;
        }
        self.inner.flush()
    }
}

/// One message as it may be printed inside a line (a skipped entry, an error): terminal-safe and
/// elided past [`MAX_MESSAGE_CHARS`] (a bad line quoted in full can be megabytes).
pub fn shown(text: &str) -> String {
    terminal_safe(&elide(text, MAX_MESSAGE_CHARS)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_newlines_in_fields_are_shown_not_obeyed() {
        assert_eq!(terminal_safe("openssh"), "openssh");
        assert_eq!(
            terminal_safe("evil\x1b]0;pwned\x07\x1b[2J"),
            "evil\\u{1b}]0;pwned\\u{7}\\u{1b}[2J"
        );
        assert_eq!(
            terminal_safe("x\n1.2.3.4/32  forged"),
            "x\\u{a}1.2.3.4/32  forged"
        );
        assert_eq!(terminal_safe("a\u{9b}b\u{202e}c"), "a\\u{9b}b\\u{202e}c");
        assert_eq!(terminal_safe("Zürich ✓"), "Zürich ✓");
    }

    #[test]
    fn safe_writer_escapes_controls_but_keeps_layout() {
        let mut out = SafeWriter::new(Vec::new());
        out.write_all("a\tb\n\x1b[2J\r".as_bytes()).unwrap();
        // A C1 control split across two writes, then a two-byte letter split the same way.
        out.write_all(&[b'x', 0xc2]).unwrap();
        out.write_all(&[0x9b, 0xc2]).unwrap();
        out.write_all(&[0xa9, b'.']).unwrap();
        out.flush().unwrap();
        assert_eq!(
            String::from_utf8(out.inner).unwrap(),
            "a\tb\n\\u{1b}[2J\\u{d}x\\u{9b}©."
        );
    }

    proptest::proptest! {
        /// The word test lets a buffer through exactly when no byte of it is a stop byte,
        /// wherever in a word the byte sits.
        #[test]
        fn plain_is_no_stop_byte(
            mut buf in proptest::collection::vec(0x20u8..0x7f, 0..40),
            at in 0usize..40,
            byte in proptest::prelude::any::<u8>(),
        ) {
            if !buf.is_empty() {
                let i = at % buf.len();
                buf[i] = byte;
            }
            proptest::prop_assert_eq!(plain(&buf), !buf.iter().any(|&b| is_stop(b)));
        }
    }

    #[test]
    fn long_messages_are_elided_in_the_middle() {
        assert_eq!(elide("short", 10), "short");
        let line = format!("{}END", "x".repeat(50_000_000));
        let shown = elide(&line, MAX_MESSAGE_CHARS);
        assert!(shown.len() < 500, "{}", shown.len());
        assert!(shown.starts_with("xxx"));
        assert!(shown.ends_with("END"));
        assert!(shown.contains("characters left out"), "{shown}");
    }
}
