//! Line splitting with a bound on line length, so that memory stays constant whatever the input
//! (a file with no newline at all must not be read into memory whole).

use std::io::{self, BufRead};

/// Lines longer than this are skipped with a [`crate::LineProblem::TooLong`]. Suricata alert
/// records with payloads run to tens of kilobytes; nothing legitimate comes near a mebibyte.
pub const MAX_LINE: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// A complete line is in [`LineBuf::line`].
    Line,
    /// A complete line was longer than the limit; its bytes were dropped.
    TooLong,
    /// No more bytes for now; an unterminated line may be held back.
    Eof,
}

#[derive(Debug)]
pub(crate) struct LineBuf {
    buf: Vec<u8>,
    limit: usize,
    /// The current line has passed the limit: drop bytes until its newline.
    discarding: bool,
    /// Bytes consumed since the last newline (the held-back partial line).
    pending: u64,
    /// Bytes the last complete line took, newline included.
    taken: u64,
    /// `buf` holds a finished line to clear before reading on.
    complete: bool,
}

impl LineBuf {
    pub fn new(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            limit,
            discarding: false,
            pending: 0,
            taken: 0,
            complete: false,
        }
    }

    pub fn next<R: BufRead>(&mut self, r: &mut R) -> io::Result<Next> {
        if self.complete {
            self.buf.clear();
            self.complete = false;
        }
        loop {
            let avail = match r.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok(Next::Eof);
            }
            if let Some(i) = memchr::memchr(b'\n', avail) {
                let too_long = self.discarding || self.buf.len() + i > self.limit;
                if !too_long {
                    self.buf.extend_from_slice(&avail[..i]);
                }
                r.consume(i + 1);
                self.taken = self.pending + i as u64 + 1;
                self.pending = 0;
                self.complete = true;
                if too_long {
                    self.discarding = false;
                    self.buf.clear();
                    return Ok(Next::TooLong);
                }
                return Ok(Next::Line);
            }
            let n = avail.len();
            if !self.discarding {
                if self.buf.len() + n > self.limit {
                    self.discarding = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(avail);
                }
            }
            r.consume(n);
            self.pending += n as u64;
        }
    }

    /// At the real end of an input (not a followed file): the unterminated rest, if any, as a
    /// last line.
    pub fn finish(&mut self) -> Option<Next> {
        if self.pending == 0 {
            return None;
        }
        self.taken = self.pending;
        self.pending = 0;
        self.complete = true;
        if self.discarding {
            self.discarding = false;
            self.buf.clear();
            return Some(Next::TooLong);
        }
        Some(Next::Line)
    }

    /// The last complete line, without its `\n` or `\r\n`.
    pub fn line(&self) -> &[u8] {
        self.buf.strip_suffix(b"\r").unwrap_or(&self.buf)
    }

    pub fn taken(&self) -> u64 {
        self.taken
    }

    pub fn pending(&self) -> u64 {
        self.pending
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Forgets any held-back bytes (the file they came from was truncated or replaced).
    pub fn reset(&mut self) {
        *self = Self::new(self.limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], limit: usize, cap: usize) -> Vec<(Next, Vec<u8>, u64)> {
        let mut r = io::BufReader::with_capacity(cap, input);
        let mut lb = LineBuf::new(limit);
        let mut out = Vec::new();
        loop {
            match lb.next(&mut r).unwrap() {
                Next::Eof => break,
                n => out.push((n, lb.line().to_vec(), lb.taken())),
            }
        }
        if let Some(n) = lb.finish() {
            out.push((n, lb.line().to_vec(), lb.taken()));
        }
        out
    }

    #[test]
    fn splits_and_counts_bytes() {
        for cap in [1, 2, 3, 64] {
            let got = all(b"ab\r\n\ncde\nfg", 10, cap);
            assert_eq!(
                got,
                vec![
                    (Next::Line, b"ab".to_vec(), 4),
                    (Next::Line, b"".to_vec(), 1),
                    (Next::Line, b"cde".to_vec(), 4),
                    (Next::Line, b"fg".to_vec(), 2),
                ],
                "capacity {cap}"
            );
        }
    }

    #[test]
    fn long_lines_are_dropped_not_buffered() {
        for cap in [1, 4, 64] {
            let got = all(b"0123456789ABC\nok\n0123456789ABC", 5, cap);
            assert_eq!(
                got,
                vec![
                    (Next::TooLong, b"".to_vec(), 14),
                    (Next::Line, b"ok".to_vec(), 3),
                    (Next::TooLong, b"".to_vec(), 13),
                ],
                "capacity {cap}"
            );
        }
    }

    #[test]
    fn partial_line_waits() {
        let mut lb = LineBuf::new(100);
        let mut r = io::Cursor::new(b"abc".to_vec());
        assert_eq!(lb.next(&mut r).unwrap(), Next::Eof);
        assert_eq!(lb.pending(), 3);
        let mut r = io::Cursor::new(b"def\n".to_vec());
        assert_eq!(lb.next(&mut r).unwrap(), Next::Line);
        assert_eq!(lb.line(), b"abcdef");
        assert_eq!(lb.taken(), 7);
    }
}
