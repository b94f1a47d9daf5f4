//! Zeek Intel framework files: tab-separated, a `#fields` line names the columns (`indicator`,
//! `indicator_type`, `meta.source`, `meta.desc` ...), `-` is an unset field. `Intel::ADDR` and
//! `Intel::SUBNET` entries are read; other types (domains, URLs, hashes) are skipped.

use picket_model::{FeedFormat, FeedMeta, Indicator};

use crate::lines::{NOT_UTF8, numbered_lines, parse_net};
use crate::{Origin, ParsedFeed};

pub(crate) fn parse(origin: Origin<'_>, input: &[u8]) -> ParsedFeed {
    let mut out = ParsedFeed::new(FeedMeta::new(origin.feed, FeedFormat::ZeekIntel));
    let mut columns: Option<Columns> = None;
    for (no, line) in numbered_lines(input) {
        let Ok(line) = line else {
            out.errors.push(origin.error(no, "line", NOT_UTF8));
            continue;
        };
        if let Some(names) = line.strip_prefix("#fields") {
            columns = Columns::from_header(names);
            if columns.is_none() {
                out.errors.push(origin.error(
                    no,
                    "#fields",
                    "no `indicator` and `indicator_type` columns",
                ));
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some(cols) = &columns else {
            out.errors
                .push(origin.error(no, "#fields", "an entry before the #fields header"));
            continue;
        };
        let fields: Vec<&str> = line.split('\t').collect();
        let get = |i: Option<usize>| {
            i.and_then(|i| fields.get(i))
                .map(|f| f.trim())
                .filter(|f| !f.is_empty() && *f != "-")
        };
        match get(Some(cols.indicator_type)) {
            Some("Intel::ADDR" | "Intel::SUBNET") => {}
            Some(_) => {
                out.skipped += 1;
                continue;
            }
            None => {
                out.errors
                    .push(origin.error(no, "indicator_type", "missing"));
                continue;
            }
        }
        let network = match parse_net(get(Some(cols.indicator)).unwrap_or_default()) {
            Ok(n) => n,
            Err(reason) => {
                out.errors.push(origin.error(no, "indicator", reason));
                continue;
            }
        };
        let mut ind = Indicator::new(network, origin.feed);
        ind.comment = match (get(cols.source), get(cols.desc)) {
            (Some(source), Some(desc)) => Some(format!("{source}: {desc}")),
            (one, other) => one.or(other).map(str::to_owned),
        };
        out.indicators.push(ind);
    }
    out
}

struct Columns {
    indicator: usize,
    indicator_type: usize,
    source: Option<usize>,
    desc: Option<usize>,
}

impl Columns {
    fn from_header(names: &str) -> Option<Self> {
        // `#fields` is followed by the separator, then the names separated by it (a tab).
        let names: Vec<&str> = names
            .trim_start_matches([' ', '\t'])
            .split('\t')
            .map(str::trim)
            .collect();
        let find = |n: &str| names.iter().position(|c| *c == n);
        Some(Columns {
            indicator: find("indicator")?,
            indicator_type: find("indicator_type")?,
            source: find("meta.source"),
            desc: find("meta.desc"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_subnets() {
        let input = b"#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\n\
192.0.2.15\tIntel::ADDR\tsource1\tSending phishing email\thttp://source1.example/badhosts/192.0.2.15\n\
198.51.100.0/24\tIntel::SUBNET\tsource2\t-\t-\n\
evil.example\tIntel::DOMAIN\tsource1\t-\t-\n\
2001:db8::/48\tIntel::SUBNET\t-\tv6 block\t-\n\
999.1.1.1\tIntel::ADDR\tsource1\t-\t-\n\
1.2.3.4\n";
        let out = parse(
            Origin {
                feed: "zeek",
                file: "intel.dat",
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
                (
                    "192.0.2.15/32".to_owned(),
                    Some("source1: Sending phishing email")
                ),
                ("198.51.100.0/24".to_owned(), Some("source2")),
                ("2001:db8::/48".to_owned(), Some("v6 block")),
            ]
        );
        assert_eq!(out.skipped, 1);
        let errs: Vec<(usize, &str)> = out
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_str()))
            .collect();
        assert_eq!(errs, [(6, "indicator"), (7, "indicator_type")]);
    }

    #[test]
    fn entries_need_the_header() {
        let out = parse(
            Origin {
                feed: "zeek",
                file: "intel.dat",
            },
            b"1.2.3.4\tIntel::ADDR\n",
        );
        assert_eq!(out.errors[0].field, "#fields");
    }
}
