//! Plain lists: one address or CIDR a line; `#` and `;` start comments, on their own line or after
//! the entry (the text after an entry is kept as its comment).

use ipnet::IpNet;
use picket_model::{FeedFormat, FeedMeta, Indicator};

use crate::lines::{NOT_UTF8, non_empty, numbered_lines, parse_net};
use crate::{Origin, ParsedFeed};

pub(crate) fn parse(origin: Origin<'_>, input: &[u8]) -> ParsedFeed {
    let mut out = ParsedFeed::new(FeedMeta::new(origin.feed, FeedFormat::Plain));
    for (no, line) in numbered_lines(input) {
        let Ok(line) = line else {
            out.errors.push(origin.error(no, "line", NOT_UTF8));
            continue;
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        match parse_entry(trimmed) {
            Ok((network, comment)) => {
                let mut ind = Indicator::new(network, origin.feed);
                ind.comment = comment;
                out.indicators.push(ind);
            }
            Err(reason) => out.errors.push(origin.error(no, "address", reason)),
        }
    }
    out
}

/// One entry: the address or network up to the first blank or comment sign, and what follows
/// it as a comment.
pub(crate) fn parse_entry(line: &str) -> Result<(IpNet, Option<String>), String> {
    let line = line.trim();
    let end = line
        .find(|c: char| c.is_whitespace() || c == '#' || c == ';')
        .unwrap_or(line.len());
    let (token, rest) = line.split_at(end);
    let network = parse_net(token)?;
    let comment = non_empty(
        rest.trim_start_matches(|c: char| c.is_whitespace() || c == '#' || c == ';' || c == '-'),
    );
    Ok((network, comment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_with_and_without_comments() {
        let input = b"# list\n; also a comment\n\n192.0.2.1\n198.51.100.0/24 # scanner\n2001:db8::/32;v6\n203.0.113.7 - Suspicious Address\nnope\n";
        let out = parse(
            Origin {
                feed: "p",
                file: "p.txt",
            },
            input,
        );
        let got: Vec<(String, Option<&str>)> = out
            .indicators
            .iter()
            .map(|i| (i.network.to_string(), i.comment.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("192.0.2.1/32".to_owned(), None),
                ("198.51.100.0/24".to_owned(), Some("scanner")),
                ("2001:db8::/32".to_owned(), Some("v6")),
                ("203.0.113.7/32".to_owned(), Some("Suspicious Address")),
            ]
        );
        assert_eq!(out.errors.len(), 1);
        assert_eq!(
            (out.errors[0].line, out.errors[0].field.as_str()),
            (8, "address")
        );
    }
}
