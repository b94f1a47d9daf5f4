//! From a file to a feed ready for the table: detect the format, parse, put IPv4-mapped IPv6
//! entries back to IPv4, leave out bogon and private space, drop duplicates, and count it all.

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use ipnet::{IpNet, Ipv4Net};
use picket_model::{FeedFormat, FeedMeta, Indicator};
use serde::{Deserialize, Serialize};

use crate::bogon::{BogonCheck, check};
use crate::parse::parse;
use crate::{IntelError, LineError, Origin, ParsedFeed};

/// How much of a file [`FeedFormat::detect`] looks at.
const DETECT_BYTES: usize = 8192;

/// How a feed is loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The format, when the user named it; detected from the content otherwise.
    pub format: Option<FeedFormat>,
    /// Keep bogon and private ranges (they are left out by default).
    pub keep_bogons: bool,
    /// Fail on the first bad entry instead of counting and skipping it.
    pub strict: bool,
}

/// What happened to a feed's entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Indicators loaded.
    pub accepted: usize,
    /// Entries that repeated a network already listed by this feed.
    pub duplicates: usize,
    /// Entries left out because they lie entirely in bogon or private space.
    pub bogons_left_out: usize,
    /// Wider entries with bogon space inside, loaded as their public pieces only.
    pub bogons_trimmed: usize,
    /// Well-formed entries that are not address indicators (see [`ParsedFeed::skipped`]).
    pub skipped: usize,
    /// The entries that could not be read, with file, line and field.
    pub bad_lines: Vec<LineError>,
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "accepted {}", self.accepted)?;
        if self.duplicates > 0 {
            write!(f, ", {} duplicates", self.duplicates)?;
        }
        if self.bogons_left_out > 0 {
            write!(
                f,
                ", left out {} bogon/private entries",
                self.bogons_left_out
            )?;
        }
        if self.bogons_trimmed > 0 {
            write!(
                f,
                ", trimmed bogon space out of {} entries",
                self.bogons_trimmed
            )?;
        }
        if self.skipped > 0 {
            write!(f, ", skipped {} non-address entries", self.skipped)?;
        }
        match self.bad_lines.len() {
            0 => Ok(()),
            1 => write!(f, ", 1 bad line"),
            n => write!(f, ", {n} bad lines"),
        }
    }
}

/// A feed read and cleaned, ready for [`crate::IntelTable`].
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedFeed {
    pub meta: FeedMeta,
    pub indicators: Vec<Indicator>,
    pub report: LoadReport,
}

/// Reads a feed file and loads it under `name`.
pub fn load_file(name: &str, path: &Path, options: &LoadOptions) -> Result<LoadedFeed, IntelError> {
    let bytes = std::fs::read(path).map_err(|source| IntelError::Io {
        path: path.to_owned(),
        source,
    })?;
    load_bytes(name, &path.display().to_string(), &bytes, options)
}

/// Loads a feed from its bytes; `file` names it in errors and helps detect the format.
pub fn load_bytes(
    name: &str,
    file: &str,
    bytes: &[u8],
    options: &LoadOptions,
) -> Result<LoadedFeed, IntelError> {
    let format =
        match options.format {
            Some(f) => f,
            None => FeedFormat::detect(&bytes[..bytes.len().min(DETECT_BYTES)], file).ok_or_else(
                || IntelError::UnknownFormat {
                    file: file.to_owned(),
                    known: FeedFormat::ALL.map(FeedFormat::as_str).join(", "),
                },
            )?,
        };
    let parsed = parse(format, Origin { feed: name, file }, bytes)?;
    if options.strict
        && let Some(first) = parsed.errors.first()
    {
        return Err(IntelError::BadLine(first.clone()));
    }
    Ok(clean(parsed, options))
}

/// Applies the feed-wide category, canonical addresses, the bogon filter and de-duplication.
pub fn clean(parsed: ParsedFeed, options: &LoadOptions) -> LoadedFeed {
    let ParsedFeed {
        meta,
        indicators,
        errors,
        skipped,
    } = parsed;
    let mut report = LoadReport {
        skipped,
        bad_lines: errors,
        ..LoadReport::default()
    };
    let mut seen = HashSet::with_capacity(indicators.len());
    let mut kept = Vec::with_capacity(indicators.len());
    for mut ind in indicators {
        ind.network = unmap_ipv4(ind.network);
        if ind.category.is_none() {
            ind.category.clone_from(&meta.category);
        }
        let pieces = match (options.keep_bogons, check(ind.network)) {
            (true, _) | (false, BogonCheck::Clean) => None,
            (false, BogonCheck::Bogon) => {
                report.bogons_left_out += 1;
                continue;
            }
            (false, BogonCheck::Trimmed(pieces)) => {
                report.bogons_trimmed += 1;
                Some(pieces)
            }
        };
        if !seen.insert(ind.network) {
            report.duplicates += 1;
            continue;
        }
        match pieces {
            None => kept.push(ind),
            Some(pieces) => kept.extend(pieces.into_iter().map(|network| Indicator {
                network,
                ..ind.clone()
            })),
        }
    }
    report.accepted = kept.len();
    LoadedFeed {
        meta,
        indicators: kept,
        report,
    }
}

/// `::ffff:192.0.2.1` is the IPv4 address 192.0.2.1: listed either way, it must match the same
/// connections, and lookups see IPv4.
fn unmap_ipv4(network: IpNet) -> IpNet {
    match network {
        IpNet::V6(n) if n.prefix_len() >= 96 => match IpAddr::V6(n.network()).to_canonical() {
            IpAddr::V4(a) => Ipv4Net::new(a, n.prefix_len() - 96).map_or(network, IpNet::V4),
            IpAddr::V6(_) => network,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(input: &str, options: &LoadOptions) -> LoadedFeed {
        load_bytes("t", "t.txt", input.as_bytes(), options).unwrap()
    }

    #[test]
    fn bogons_duplicates_and_mapped_addresses() {
        let input = "8.8.8.8\n10.1.2.3\n8.8.8.8\n::ffff:1.1.1.1\n1.1.1.1\n8.0.0.0/6\nfe80::1\n";
        let out = load(input, &LoadOptions::default());
        let nets: Vec<String> = out
            .indicators
            .iter()
            .map(|i| i.network.to_string())
            .collect();
        assert_eq!(
            nets,
            ["8.8.8.8/32", "1.1.1.1/32", "8.0.0.0/7", "11.0.0.0/8"]
        );
        assert_eq!(out.report.bogons_left_out, 2);
        assert_eq!(out.report.bogons_trimmed, 1);
        assert_eq!(out.report.duplicates, 2);
        assert_eq!(out.report.accepted, 4);
        assert_eq!(
            out.report.to_string(),
            "accepted 4, 2 duplicates, left out 2 bogon/private entries, trimmed bogon space out of 1 entries"
        );

        let kept = load(
            input,
            &LoadOptions {
                keep_bogons: true,
                ..LoadOptions::default()
            },
        );
        assert_eq!(kept.report.bogons_left_out, 0);
        assert_eq!(kept.report.accepted, 5);
    }

    #[test]
    fn strict_loading_stops_at_the_first_bad_line() {
        let options = LoadOptions {
            strict: true,
            ..LoadOptions::default()
        };
        match load_bytes("t", "t.txt", b"8.8.8.8\nbad\n", &options) {
            Err(IntelError::BadLine(e)) => assert_eq!((e.line, e.file.as_str()), (2, "t.txt")),
            other => panic!("{other:?}"),
        }
        let lenient = load("8.8.8.8\nbad\n", &LoadOptions::default());
        assert_eq!(lenient.report.bad_lines.len(), 1);
        assert_eq!(lenient.report.to_string(), "accepted 1, 1 bad line");
    }

    #[test]
    fn unknown_content_names_the_formats() {
        let err = load_bytes("t", "notes.txt", b"hello\n", &LoadOptions::default()).unwrap_err();
        assert!(err.to_string().contains("firehol, spamhaus-drop"), "{err}");
    }
}
