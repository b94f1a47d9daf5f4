//! What the line-oriented parsers share: splitting bytes into numbered lines, reading an address
//! or network, and reading the timestamps feeds write in their headers.

use std::net::IpAddr;

use ipnet::IpNet;
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use picket_model::{FeedMeta, Indicator};

use crate::LineError;

/// The feed being parsed: its registered name (put on every indicator) and the file it came from
/// (put on every error).
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub feed: &'a str,
    pub file: &'a str,
}

impl Origin<'_> {
    pub(crate) fn error(&self, line: usize, field: &str, reason: impl Into<String>) -> LineError {
        LineError {
            file: self.file.to_owned(),
            line,
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// What a parser read from one feed, before bogons and duplicates are dealt with.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFeed {
    pub meta: FeedMeta,
    pub indicators: Vec<Indicator>,
    pub errors: Vec<LineError>,
    /// Well-formed entries that are not address indicators (a STIX file hash, a MISP domain, a
    /// Zeek `Intel::URL`, a MISP attribute not flagged `to_ids`): not errors, not loaded.
    pub skipped: usize,
}

impl ParsedFeed {
    pub(crate) fn new(meta: FeedMeta) -> Self {
        Self {
            meta,
            indicators: Vec::new(),
            errors: Vec::new(),
            skipped: 0,
        }
    }
}

/// Numbered lines (1-based) without their line ending; a line that is not UTF-8 comes back as
/// `Err` so that the caller can report it and go on.
pub(crate) fn numbered_lines(input: &[u8]) -> impl Iterator<Item = (usize, Result<&str, ()>)> {
    let input = input.strip_prefix(b"\xef\xbb\xbf").unwrap_or(input);
    // A final newline does not start one more (empty) line, and an empty input has none.
    let body = input.strip_suffix(b"\n").unwrap_or(input);
    let empty = input.is_empty();
    body.split(|b| *b == b'\n')
        .enumerate()
        .filter(move |_| !empty)
        .map(|(i, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            (i + 1, std::str::from_utf8(raw).map_err(|_| ()))
        })
}

pub(crate) const NOT_UTF8: &str = "line is not UTF-8 text";

/// Reads an address (`192.0.2.1`, `2001:db8::1`) or a network (`192.0.2.0/24`). Host bits set
/// below the prefix (`192.0.2.1/24`) are cleared: the feed names the network they belong to.
pub(crate) fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty".to_owned());
    }
    if s.contains('/') {
        s.parse::<IpNet>()
            .map(|n| n.trunc())
            .map_err(|_| format!("{s:?} is not a CIDR network"))
    } else {
        s.parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("{s:?} is not an IP address"))
    }
}

/// `Mon Jun  1 04:30:09 UTC 2015`, as FireHOL's headers write it (the output of `date -u`).
pub(crate) fn parse_ctime_utc(s: &str) -> Result<Timestamp, String> {
    let words: Vec<&str> = s.split_whitespace().collect();
    let joined = words.join(" ");
    let (without_zone, zone_ok) = match words.as_slice() {
        [wd, mon, day, time, zone, year] => (
            format!("{wd} {mon} {day} {time} {year}"),
            matches!(*zone, "UTC" | "GMT"),
        ),
        _ => (String::new(), false),
    };
    if !zone_ok {
        return Err(format!(
            "{joined:?} is not a date like `Mon Jun  1 04:30:09 UTC 2015`"
        ));
    }
    DateTime::strptime("%a %b %d %H:%M:%S %Y", &without_zone)
        .and_then(|dt| TimeZone::UTC.to_timestamp(dt))
        .map_err(|e| format!("{joined:?}: {e}"))
}

/// `Tue, 30 Aug 2016 05:17:00 GMT` or `Sat, 22 Aug 2026 03:00:29 +0200` (RFC 2822).
pub(crate) fn parse_rfc2822(s: &str) -> Result<Timestamp, String> {
    jiff::fmt::rfc2822::parse(s.trim())
        .map(|z| z.timestamp())
        .map_err(|e| format!("{:?}: {e}", s.trim()))
}

/// `2016-10-30 09:05:30`, a UTC date and time without a zone (Tor's exit lists).
pub(crate) fn parse_utc_datetime(s: &str) -> Result<Timestamp, String> {
    DateTime::strptime("%Y-%m-%d %H:%M:%S", s.trim())
        .and_then(|dt| TimeZone::UTC.to_timestamp(dt))
        .map_err(|e| format!("{:?}: {e}", s.trim()))
}

/// An RFC 3339 instant (`2016-01-20T12:31:12.123Z`), or one with a space instead of the `T`.
pub(crate) fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
    s.trim()
        .parse::<Timestamp>()
        .map_err(|e| format!("{:?}: {e}", s.trim()))
}

/// Seconds since the Unix epoch, as a number or a string of digits.
pub(crate) fn parse_epoch(s: &str) -> Result<Timestamp, String> {
    s.trim()
        .parse::<i64>()
        .ok()
        .and_then(|secs| Timestamp::from_second(secs).ok())
        .ok_or_else(|| format!("{:?} is not a Unix time in seconds", s.trim()))
}

/// `Some(text)` unless the text is empty (after trimming).
pub(crate) fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// 1-based line and column of a byte offset, for errors in JSON documents.
pub(crate) fn line_col(input: &[u8], offset: usize) -> (usize, usize) {
    let before = &input[..offset.min(input.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = offset
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_from_one_and_lose_their_endings() {
        let got: Vec<_> = numbered_lines(b"a\r\nb\n\xff\nc").collect();
        assert_eq!(
            got,
            vec![(1, Ok("a")), (2, Ok("b")), (3, Err(())), (4, Ok("c"))]
        );
        assert_eq!(numbered_lines(b"a\n").count(), 1);
        assert_eq!(numbered_lines(b"").count(), 0);
        assert_eq!(numbered_lines(b"\n\n").count(), 2);
    }

    #[test]
    fn networks_and_addresses() {
        assert_eq!(parse_net("192.0.2.1").unwrap().to_string(), "192.0.2.1/32");
        assert_eq!(
            parse_net("192.0.2.9/24").unwrap().to_string(),
            "192.0.2.0/24"
        );
        assert_eq!(
            parse_net("2001:db8::1").unwrap().to_string(),
            "2001:db8::1/128"
        );
        assert!(parse_net("192.0.2.0/33").is_err());
        assert!(parse_net("300.1.1.1").is_err());
        assert!(parse_net("").is_err());
    }

    #[test]
    fn header_dates() {
        assert_eq!(
            parse_ctime_utc("Mon Jun  1 04:30:09 UTC 2015")
                .unwrap()
                .to_string(),
            "2015-06-01T04:30:09Z"
        );
        assert!(parse_ctime_utc("Mon Jun  1 04:30:09 CEST 2015").is_err());
        assert_eq!(
            parse_rfc2822("Sat, 22 Aug 2026 03:00:29 +0200")
                .unwrap()
                .to_string(),
            "2026-08-22T01:00:29Z"
        );
        assert_eq!(
            parse_rfc2822("Tue, 30 Aug 2016 05:17:00 GMT")
                .unwrap()
                .to_string(),
            "2016-08-30T05:17:00Z"
        );
        assert_eq!(
            parse_utc_datetime("2016-10-30 09:05:30")
                .unwrap()
                .to_string(),
            "2016-10-30T09:05:30Z"
        );
        assert_eq!(
            parse_epoch("1617875568").unwrap().to_string(),
            "2021-04-08T09:52:48Z"
        );
    }

    #[test]
    fn offsets_to_line_and_column() {
        assert_eq!(line_col(b"ab\ncd", 0), (1, 1));
        assert_eq!(line_col(b"ab\ncd", 4), (2, 2));
    }
}
