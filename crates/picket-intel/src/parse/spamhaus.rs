//! Spamhaus DROP, as text (`CIDR ; SBLnnn` under `;` comments) and as JSON (one object a line with
//! `cidr`, `sblid`, `rir`, and a last line `{"type":"metadata",...}`). The SBL id is kept as the
//! indicator's comment: it is the reference a person looks up.

use picket_model::{FeedFormat, FeedMeta, Indicator};
use serde_json::{Map, Value};

use crate::lines::{NOT_UTF8, non_empty, numbered_lines, parse_epoch, parse_net, parse_rfc2822};
use crate::{Origin, ParsedFeed};

pub(crate) fn parse_text(origin: Origin<'_>, input: &[u8]) -> ParsedFeed {
    let mut out = ParsedFeed::new(FeedMeta::new(origin.feed, FeedFormat::SpamhausDrop));
    for (no, line) in numbered_lines(input) {
        let Ok(line) = line else {
            out.errors.push(origin.error(no, "line", NOT_UTF8));
            continue;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix(';') {
            let comment = comment.trim();
            if let Some(date) = comment.strip_prefix("Last-Modified:") {
                match parse_rfc2822(date) {
                    Ok(ts) => out.meta.file_date = Some(ts),
                    Err(reason) => out.errors.push(origin.error(no, "Last-Modified", reason)),
                }
            } else if comment.starts_with("https://") || comment.starts_with("http://") {
                out.meta
                    .source_url
                    .get_or_insert_with(|| comment.to_owned());
            } else if comment.starts_with("Spamhaus") && out.meta.description.is_none() {
                out.meta.description = Some(comment.to_owned());
            }
            continue;
        }
        let (cidr, sbl) = line.split_once(';').unwrap_or((line, ""));
        match parse_net(cidr) {
            Ok(network) => {
                let mut ind = Indicator::new(network, origin.feed);
                ind.comment = non_empty(sbl);
                out.indicators.push(ind);
            }
            Err(reason) => out.errors.push(origin.error(no, "cidr", reason)),
        }
    }
    out
}

pub(crate) fn parse_json(origin: Origin<'_>, input: &[u8]) -> ParsedFeed {
    let mut out = ParsedFeed::new(FeedMeta::new(origin.feed, FeedFormat::SpamhausJson));
    for (no, line) in numbered_lines(input) {
        let Ok(line) = line else {
            out.errors.push(origin.error(no, "line", NOT_UTF8));
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        let record: Map<String, Value> = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => {
                out.errors
                    .push(origin.error(no, "line", format!("not a JSON object: {e}")));
                continue;
            }
        };
        let text = |key: &str| record.get(key).and_then(Value::as_str);
        if text("type") == Some("metadata") {
            metadata(origin, no, &record, &mut out);
            continue;
        }
        let Some(cidr) = text("cidr") else {
            out.errors.push(origin.error(no, "cidr", "missing"));
            continue;
        };
        match parse_net(cidr) {
            Ok(network) => {
                let mut ind = Indicator::new(network, origin.feed);
                ind.comment = match (text("sblid"), text("rir")) {
                    (Some(sbl), Some(rir)) => Some(format!("{sbl} ({rir})")),
                    (Some(sbl), None) => Some(sbl.to_owned()),
                    (None, rir) => rir.map(|r| format!("({r})")),
                };
                out.indicators.push(ind);
            }
            Err(reason) => out.errors.push(origin.error(no, "cidr", reason)),
        }
    }
    out
}

/// `{"type":"metadata","timestamp":1715646034,"size":..., "records":1355,"copyright":...}`
fn metadata(origin: Origin<'_>, no: usize, record: &Map<String, Value>, out: &mut ParsedFeed) {
    match record.get("timestamp") {
        None => {}
        Some(Value::Number(n)) => match parse_epoch(&n.to_string()) {
            Ok(ts) => out.meta.file_date = Some(ts),
            Err(reason) => out.errors.push(origin.error(no, "timestamp", reason)),
        },
        Some(_) => {
            out.errors
                .push(origin.error(no, "timestamp", "expected a Unix time in seconds"))
        }
    }
    out.meta.stated_entries = record.get("records").and_then(Value::as_u64);
    if let Some(c) = record.get("copyright").and_then(Value::as_str) {
        out.meta.description = Some(c.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin<'static> {
        Origin {
            feed: "drop",
            file: "drop.txt",
        }
    }

    #[test]
    fn text_list() {
        let input = b"; Spamhaus DROP List 2016/08/30 - (c) 2016 The Spamhaus Project\n; https://www.spamhaus.org/drop/drop.txt\n; Last-Modified: Tue, 30 Aug 2016 05:17:00 GMT\n; Expires: Tue, 30 Aug 2016 09:03:35 GMT\n1.4.0.0/17 ; SBL256893\n1.10.16.0/20 ; SBL256894\n1.32.128.0/33 ; SBL286275\n";
        let out = parse_text(origin(), input);
        assert_eq!(
            out.meta.file_date.unwrap().to_string(),
            "2016-08-30T05:17:00Z"
        );
        assert_eq!(
            out.meta.source_url.as_deref(),
            Some("https://www.spamhaus.org/drop/drop.txt")
        );
        assert_eq!(
            out.meta.description.as_deref(),
            Some("Spamhaus DROP List 2016/08/30 - (c) 2016 The Spamhaus Project")
        );
        assert_eq!(out.indicators.len(), 2);
        assert_eq!(out.indicators[1].comment.as_deref(), Some("SBL256894"));
        assert_eq!(
            (out.errors[0].line, out.errors[0].field.as_str()),
            (7, "cidr")
        );
    }

    #[test]
    fn json_lines_and_metadata() {
        let input = br#"{"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}
{"cidr":"2001:db8::/33","sblid":"SBL1"}
{"sblid":"SBL2"}
{"cidr":
{"type":"metadata","timestamp":1715646034,"size":72645,"records":1355,"copyright":"(c) 2024 The Spamhaus Project SLU","terms":"https://www.spamhaus.org/drop/terms/"}
"#;
        let out = parse_json(origin(), input);
        assert_eq!(out.indicators.len(), 2);
        assert_eq!(
            out.indicators[0].comment.as_deref(),
            Some("SBL256894 (apnic)")
        );
        assert_eq!(out.meta.stated_entries, Some(1355));
        assert_eq!(
            out.meta.file_date.unwrap().to_string(),
            "2024-05-14T00:20:34Z"
        );
        let errs: Vec<(usize, &str)> = out
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_str()))
            .collect();
        assert_eq!(errs, [(3, "cidr"), (4, "line")]);
    }
}
