//! From a file to a feed ready for the table: detect the format, parse, put IPv4-mapped IPv6
//! entries back to IPv4, leave out bogon and private space and networks too wide to be one
//! threat, drop duplicates, and count it all. [`LoadedFeed::intake`] tells the caller whether the
//! result may replace the feed it has stored.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use ipnet::IpNet;
use picket_model::{FeedFormat, FeedMeta, Indicator, Intake, canonical_net, unfinished_last_line};
use serde::{Deserialize, Serialize};

use crate::bogon::{BogonCheck, check};
use crate::parse::parse;
use crate::{IntelError, LineError, Origin, ParsedFeed};

/// How much of a file [`FeedFormat::detect`] looks at.
const DETECT_BYTES: usize = 8192;

/// The widest IPv4 network a feed entry may list (a /8, as FireHOL level1 lists some): a wider
/// one (`0.0.0.0/0`) would make every outside client "listed" and blockable.
pub const WIDEST_IPV4_PREFIX: u8 = 8;
/// The widest IPv6 network a feed entry may list (a regional registry's allocation is a /12).
pub const WIDEST_IPV6_PREFIX: u8 = 12;

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
    /// Entries left out because they are wider than [`WIDEST_IPV4_PREFIX`] / [`WIDEST_IPV6_PREFIX`].
    pub too_wide: usize,
    /// Entries in the file, good or bad (what a FireHOL `# Entries` header counts).
    pub entries: usize,
    /// The file ends inside a line that could not be read: the download was cut short.
    pub cut_off: bool,
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
        if self.too_wide > 0 {
            write!(
                f,
                ", left out {} entries wider than /{WIDEST_IPV4_PREFIX} (IPv4) or /{WIDEST_IPV6_PREFIX} (IPv6)",
                self.too_wide
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

impl LoadedFeed {
    /// What was read, for [`Intake::check`] against the feed stored under the same name.
    pub fn intake(&self) -> Intake {
        Intake {
            accepted: self.report.accepted,
            present: self.report.entries,
            rejected: self.report.bad_lines.len(),
            declared: self
                .meta
                .stated_entries
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            cut_off: self.report.cut_off,
        }
    }
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
    let cut_off = unfinished_last_line(bytes)
        .is_some_and(|last| parsed.errors.iter().any(|e| e.line == last));
    let mut feed = clean(parsed, options);
    feed.report.cut_off = cut_off;
    Ok(feed)
}

/// Applies the feed-wide category, canonical addresses, the bogon and width filters and
/// de-duplication.
pub fn clean(parsed: ParsedFeed, options: &LoadOptions) -> LoadedFeed {
    let ParsedFeed {
        meta,
        indicators,
        errors,
        skipped,
    } = parsed;
    let mut report = LoadReport {
        entries: indicators.len() + skipped + errors.len(),
        skipped,
        bad_lines: errors,
        ..LoadReport::default()
    };
    // Filtered in place: a million indicators are not held twice. The few entries that bogon
    // space splits into pieces get their other pieces inserted after them afterwards.
    let mut indicators = indicators;
    let mut seen = HashSet::with_capacity(indicators.len());
    let mut more: Vec<(usize, Vec<IpNet>)> = Vec::new();
    let mut kept_so_far = 0usize;
    indicators.retain_mut(|ind| {
        // `::ffff:192.0.2.1` is 192.0.2.1: listed either way, it matches the same connections.
        ind.network = canonical_net(ind.network);
        if ind.category.is_none() {
            ind.category.clone_from(&meta.category);
        }
        let bogons = check(ind.network);
        if !options.keep_bogons && bogons == BogonCheck::Bogon {
            report.bogons_left_out += 1;
            return false;
        }
        // After the bogon check: a wide bogon (224.0.0.0/3) is counted as bogon space.
        if too_wide(ind.network) {
            report.too_wide += 1;
            return false;
        }
        let pieces = match (options.keep_bogons, bogons) {
            (false, BogonCheck::Trimmed(pieces)) => {
                report.bogons_trimmed += 1;
                Some(pieces)
            }
            _ => None,
        };
        if !seen.insert(ind.network) {
            report.duplicates += 1;
            return false;
        }
        if let Some(pieces) = pieces {
            let mut pieces = pieces.into_iter();
            let Some(first) = pieces.next() else {
                return false;
            };
            ind.network = first;
            let rest: Vec<IpNet> = pieces.collect();
            if !rest.is_empty() {
                more.push((kept_so_far, rest));
            }
        }
        kept_so_far += 1;
        true
    });
    let kept = if more.is_empty() {
        indicators
    } else {
        let extra: usize = more.iter().map(|(_, rest)| rest.len()).sum();
        let mut kept = Vec::with_capacity(indicators.len() + extra);
        let mut more = more.into_iter().peekable();
        for (i, ind) in indicators.into_iter().enumerate() {
            let rest = more.next_if(|(at, _)| *at == i).map(|(_, rest)| rest);
            if let Some(rest) = rest {
                let copies: Vec<Indicator> = rest
                    .into_iter()
                    .map(|network| Indicator {
                        network,
                        ..ind.clone()
                    })
                    .collect();
                kept.push(ind);
                kept.extend(copies);
            } else {
                kept.push(ind);
            }
        }
        kept
    };
    report.accepted = kept.len();
    LoadedFeed {
        meta,
        indicators: kept,
        report,
    }
}

fn too_wide(network: IpNet) -> bool {
    match network {
        IpNet::V4(n) => n.prefix_len() < WIDEST_IPV4_PREFIX,
        IpNet::V6(n) => n.prefix_len() < WIDEST_IPV6_PREFIX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_model::IntakeError;

    const KEEP_BOGONS: LoadOptions = LoadOptions {
        format: None,
        keep_bogons: true,
        strict: false,
    };

    fn load(input: &str, options: &LoadOptions) -> LoadedFeed {
        load_bytes("t", "t.txt", input.as_bytes(), options).unwrap()
    }

    fn networks(feed: &LoadedFeed) -> Vec<String> {
        feed.indicators
            .iter()
            .map(|i| i.network.to_string())
            .collect()
    }

    #[test]
    fn bogons_duplicates_and_mapped_addresses() {
        let input = "8.8.8.8\n10.1.2.3\n8.8.8.8\n::ffff:1.1.1.1\n1.1.1.1\n100.0.0.0/8\nfe80::1\n";
        let out = load(input, &LoadOptions::default());
        assert_eq!(
            networks(&out),
            ["8.8.8.8/32", "1.1.1.1/32", "100.0.0.0/10", "100.128.0.0/9"]
        );
        assert_eq!(out.report.bogons_left_out, 2);
        assert_eq!(out.report.bogons_trimmed, 1);
        // The pieces of a trimmed entry stand where it stood.
        let middle = load("8.8.8.8\n100.0.0.0/8\n9.9.9.9\n", &LoadOptions::default());
        assert_eq!(
            networks(&middle),
            ["8.8.8.8/32", "100.0.0.0/10", "100.128.0.0/9", "9.9.9.9/32"]
        );
        assert_eq!(out.report.duplicates, 2);
        assert_eq!(out.report.accepted, 4);
        assert_eq!(
            out.report.to_string(),
            "accepted 4, 2 duplicates, left out 2 bogon/private entries, trimmed bogon space out of 1 entries"
        );

        let kept = load(input, &KEEP_BOGONS);
        assert_eq!(kept.report.bogons_left_out, 0);
        assert_eq!(kept.report.accepted, 5);
    }

    #[test]
    fn wide_prefixes_never_list_the_whole_internet() {
        let input = "0.0.0.0/0\n::/0\n2000::/3\n1.0.0.0/7\n102.0.0.0/8\n2a00::/12\n224.0.0.0/3\n";
        let out = load(input, &LoadOptions::default());
        assert_eq!(networks(&out), ["102.0.0.0/8", "2a00::/12"]);
        assert_eq!(out.report.too_wide, 4);
        assert_eq!(out.report.bogons_left_out, 1);
        assert_eq!(
            out.report.to_string(),
            "accepted 2, left out 1 bogon/private entries, left out 4 entries wider than /8 (IPv4) or /12 (IPv6)"
        );
        let kept = load(input, &KEEP_BOGONS);
        assert_eq!(kept.report.too_wide, 5);
    }

    #[test]
    fn intake_of_empty_bad_cut_and_header_contradicting_feeds_is_refused() {
        let check = |bytes: &[u8], format: FeedFormat| {
            let options = LoadOptions {
                format: Some(format),
                ..LoadOptions::default()
            };
            load_bytes("feodo", "feodo.ipset", bytes, &options)
                .unwrap()
                .intake()
                .check("feodo.ipset", Some(4), false)
        };
        let header = "# feodo\n# Entries : 4 unique IPs\n";
        let full = format!("{header}8.8.8.8\n8.8.4.4\n1.1.1.1\n1.0.0.1\n");
        assert_eq!(check(full.as_bytes(), FeedFormat::Firehol), Ok(()));
        let half = format!("{header}8.8.8.8\n8.8.4.4\n");
        assert!(matches!(
            check(half.as_bytes(), FeedFormat::Firehol),
            Err(IntakeError::ContradictsHeader {
                declared: 4,
                present: 2,
                ..
            })
        ));
        assert!(matches!(
            check(b"", FeedFormat::Firehol),
            Err(IntakeError::Empty { .. })
        ));
        assert!(matches!(
            check(&[0x9f, 0x00, 0xff, b'\n', 0x12], FeedFormat::Plain),
            Err(IntakeError::Empty { .. })
        ));
        let noisy = "8.8.8.8\n8.8.4.4\n1.1.1.1\n1.0.0.1\nbad\n";
        assert!(matches!(
            check(noisy.as_bytes(), FeedFormat::Plain),
            Err(IntakeError::MostlyBad {
                rejected: 1,
                present: 5,
                ..
            })
        ));
        let cut = "8.8.8.8\n8.8.4.4\n1.1.1.1\n1.0.0.1\n".repeat(3) + "9.9.9.";
        assert!(matches!(
            check(cut.as_bytes(), FeedFormat::Plain),
            Err(IntakeError::CutOff { .. })
        ));
        assert!(matches!(
            check(b"8.8.8.8\n", FeedFormat::Plain),
            Err(IntakeError::Shrinks { .. })
        ));
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
