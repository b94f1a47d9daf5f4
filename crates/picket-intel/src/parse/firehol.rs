//! FireHOL `.netset` / `.ipset`: a `#` header of `Key : value` lines, then one address or CIDR
//! a line. The header is kept: it says when the list was made and how many entries it should hold.

use picket_model::{FeedFormat, FeedMeta};

use super::plain::parse_entry;
use crate::lines::{NOT_UTF8, non_empty, numbered_lines, parse_ctime_utc};
use crate::{Origin, ParsedFeed};

pub(crate) fn parse(origin: Origin<'_>, input: &[u8]) -> ParsedFeed {
    let mut out = ParsedFeed::new(FeedMeta::new(origin.feed, FeedFormat::Firehol));
    let mut header = Header::default();
    for (no, line) in numbered_lines(input) {
        let Ok(line) = line else {
            out.errors.push(origin.error(no, "line", NOT_UTF8));
            continue;
        };
        if let Some(comment) = line.trim_start().strip_prefix('#') {
            header.line(origin, no, comment, &mut out);
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        match parse_entry(line) {
            Ok((network, comment)) => {
                let mut ind = picket_model::Indicator::new(network, origin.feed);
                ind.comment = comment;
                out.indicators.push(ind);
            }
            Err(reason) => out.errors.push(origin.error(no, "address", reason)),
        }
    }
    if !header.description.is_empty() {
        out.meta.description = Some(header.description.join(" "));
    }
    out
}

/// Where we are in the header: its layout is name, type line, description paragraph, keys.
#[derive(Default)]
struct Header {
    seen_type_line: bool,
    description_done: bool,
    description: Vec<String>,
}

impl Header {
    fn line(&mut self, origin: Origin<'_>, no: usize, comment: &str, out: &mut ParsedFeed) {
        let text = comment.trim();
        let meta = &mut out.meta;
        if text.is_empty() {
            if !self.description.is_empty() {
                self.description_done = true;
            }
            return;
        }
        if let Some((key, value)) = text.split_once(':')
            && let Some(field) = Key::parse(key.trim())
        {
            self.description_done = true;
            let value = value.trim();
            match field {
                Key::SourceUrl => meta.source_url = non_empty(value),
                Key::Category => meta.category = non_empty(value),
                Key::Maintainer => meta.maintainer = non_empty(value),
                Key::MaintainerUrl => meta.maintainer_url = non_empty(value),
                Key::UpdateFrequency => meta.update_frequency = non_empty(value),
                Key::Version => meta.version = non_empty(value),
                Key::FileDate | Key::SourceFileDate if value.is_empty() => {}
                Key::FileDate | Key::SourceFileDate => match parse_ctime_utc(value) {
                    Ok(ts) if field == Key::FileDate => meta.file_date = Some(ts),
                    Ok(ts) => meta.source_file_date = Some(ts),
                    Err(reason) => out.errors.push(origin.error(no, field.name(), reason)),
                },
                Key::Entries => match parse_entries(value) {
                    Some((entries, unique)) => {
                        meta.stated_entries = Some(entries);
                        meta.stated_unique_ips = unique;
                    }
                    None => out.errors.push(origin.error(
                        no,
                        field.name(),
                        format!("{value:?} is not like `6273 subnets, 680864624 unique IPs`"),
                    )),
                },
            }
            return;
        }
        if meta.header_name.is_none() && !text.contains(char::is_whitespace) {
            meta.header_name = Some(text.to_owned());
        } else if text.contains(" hash:") && text.ends_with("ipset") {
            self.seen_type_line = true;
        } else if self.seen_type_line && !self.description_done {
            self.description.push(text.to_owned());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    SourceUrl,
    FileDate,
    SourceFileDate,
    Category,
    Maintainer,
    MaintainerUrl,
    UpdateFrequency,
    Version,
    Entries,
}

impl Key {
    fn parse(key: &str) -> Option<Self> {
        Some(match key.to_ascii_lowercase().as_str() {
            "source url" | "list source url" => Key::SourceUrl,
            "this file date" => Key::FileDate,
            "source file date" => Key::SourceFileDate,
            "category" => Key::Category,
            "maintainer" => Key::Maintainer,
            "maintainer url" => Key::MaintainerUrl,
            "update frequency" => Key::UpdateFrequency,
            "version" => Key::Version,
            "entries" => Key::Entries,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Key::SourceUrl => "Source URL",
            Key::FileDate => "This File Date",
            Key::SourceFileDate => "Source File Date",
            Key::Category => "Category",
            Key::Maintainer => "Maintainer",
            Key::MaintainerUrl => "Maintainer URL",
            Key::UpdateFrequency => "Update Frequency",
            Key::Version => "Version",
            Key::Entries => "Entries",
        }
    }
}

/// `6273 subnets, 680864624 unique IPs` (a netset) or `2191 unique IPs` (an ipset, where each
/// entry is one address): the number of entries, and of addresses when stated.
fn parse_entries(value: &str) -> Option<(u64, Option<u64>)> {
    let mut entries = None;
    let mut unique = None;
    for part in value.split(',') {
        let mut words = part.split_whitespace();
        let n = words.next()?.parse::<u64>().ok()?;
        match words
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase()
            .as_str()
        {
            "subnets" => entries = Some(n),
            "unique ips" => unique = Some(n),
            _ => return None,
        }
    }
    Some((entries.or(unique)?, unique))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "#\n# feodo\n#\n# ipv4 hash:ip ipset\n#\n# [Abuse.ch Feodo tracker] \n# trojan list\n#\n# Maintainer      : Abuse.ch\n# List source URL : https://feodotracker.abuse.ch/blocklist/?download=ipblocklist\n# Source File Date: Fri Oct 23 13:45:29 UTC 2015\n#\n# Category        : malware\n#\n# This File Date  : Fri Oct 23 13:45:29 UTC 2015\n# Entries         : 235 unique IPs\n#\n";

    fn origin() -> Origin<'static> {
        Origin {
            feed: "feodo",
            file: "feodo.ipset",
        }
    }

    #[test]
    fn keeps_the_header() {
        let input = format!("{HEAD}2.50.11.28\n5.39.222.0/24\n");
        let out = parse(origin(), input.as_bytes());
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let m = &out.meta;
        assert_eq!(m.header_name.as_deref(), Some("feodo"));
        assert_eq!(m.category.as_deref(), Some("malware"));
        assert_eq!(m.maintainer.as_deref(), Some("Abuse.ch"));
        assert_eq!(
            m.description.as_deref(),
            Some("[Abuse.ch Feodo tracker] trojan list")
        );
        assert_eq!(
            m.source_url.as_deref(),
            Some("https://feodotracker.abuse.ch/blocklist/?download=ipblocklist")
        );
        assert_eq!(m.file_date.unwrap().to_string(), "2015-10-23T13:45:29Z");
        assert_eq!(m.stated_entries, Some(235));
        assert_eq!(m.stated_unique_ips, Some(235));
        let nets: Vec<String> = out
            .indicators
            .iter()
            .map(|i| i.network.to_string())
            .collect();
        assert_eq!(nets, ["2.50.11.28/32", "5.39.222.0/24"]);
        assert!(out.indicators.iter().all(|i| i.feed == "feodo"));
    }

    #[test]
    fn bad_lines_and_bad_header_values_are_reported_with_their_line() {
        let input = "# firehol_x\n# Entries : lots\n# This File Date : yesterday\n1.2.3.4\nnot-an-ip\n1.2.3.0/40\n";
        let out = parse(origin(), input.as_bytes());
        let got: Vec<(usize, &str)> = out
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (2, "Entries"),
                (3, "This File Date"),
                (5, "address"),
                (6, "address")
            ]
        );
        assert_eq!(out.indicators.len(), 1);
        assert_eq!(out.errors[2].file, "feodo.ipset");
    }

    #[test]
    fn entries_statements() {
        assert_eq!(
            parse_entries("6273 subnets, 680864624 unique IPs"),
            Some((6273, Some(680864624)))
        );
        assert_eq!(parse_entries("977 unique IPs"), Some((977, Some(977))));
        assert_eq!(parse_entries("some"), None);
    }
}
