//! The Tor project's `exit-addresses`: records of `ExitNode FINGERPRINT`, `Published DATE`,
//! `LastStatus DATE` and one or more `ExitAddress IP DATE` (when the address was seen exiting).
//! Each exit address is an indicator whose `last_seen` is that date and whose comment names the
//! relay.

use picket_model::{FeedFormat, FeedMeta, Indicator};

use crate::lines::{NOT_UTF8, numbered_lines, parse_net, parse_utc_datetime};
use crate::{Origin, ParsedFeed};

pub(crate) fn parse(origin: Origin<'_>, input: &[u8]) -> ParsedFeed {
    let mut meta = FeedMeta::new(origin.feed, FeedFormat::TorExits);
    meta.category = Some("anonymizers".to_owned());
    let mut out = ParsedFeed::new(meta);
    let mut relay: Option<String> = None;
    for (no, line) in numbered_lines(input) {
        let Ok(line) = line else {
            out.errors.push(origin.error(no, "line", NOT_UTF8));
            continue;
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('@') || line.starts_with('#') {
            continue;
        }
        let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
        match keyword {
            "ExitNode" => relay = Some(rest.trim().to_owned()),
            "Published" | "LastStatus" => {
                if let Err(reason) = parse_utc_datetime(rest) {
                    out.errors.push(origin.error(no, keyword, reason));
                }
            }
            "ExitAddress" => {
                let (addr, date) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
                let network = match parse_net(addr) {
                    Ok(n) => n,
                    Err(reason) => {
                        out.errors.push(origin.error(no, "ExitAddress", reason));
                        continue;
                    }
                };
                let mut ind = Indicator::new(network, origin.feed);
                match parse_utc_datetime(date) {
                    Ok(ts) => ind.last_seen = Some(ts),
                    Err(reason) => {
                        out.errors.push(origin.error(no, "ExitAddress", reason));
                        continue;
                    }
                }
                ind.comment = relay.as_ref().map(|r| format!("ExitNode {r}"));
                out.indicators.push(ind);
            }
            other => out.errors.push(origin.error(
                no,
                "keyword",
                format!("{other:?} is not ExitNode, Published, LastStatus or ExitAddress"),
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_addresses() {
        let input = b"ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E\nPublished 2016-10-30 08:32:37\nLastStatus 2016-10-30 09:02:47\nExitAddress 162.247.72.201 2016-10-30 09:05:30\nExitAddress 162.247.72.202 2016-10-30 10:05:30\nExitNode 00AB\nPublished yesterday\nExitAddress 2001:db8::7 2016-10-31 00:00:00\nExitAddress 1.2.3 2016-10-31 00:00:00\nBogus x\n";
        let out = parse(
            Origin {
                feed: "tor",
                file: "exit-addresses",
            },
            input,
        );
        let got: Vec<(String, String, Option<&str>)> = out
            .indicators
            .iter()
            .map(|i| {
                (
                    i.network.to_string(),
                    i.last_seen.unwrap().to_string(),
                    i.comment.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "162.247.72.201/32".to_owned(),
                    "2016-10-30T09:05:30Z".to_owned(),
                    Some("ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E")
                ),
                (
                    "162.247.72.202/32".to_owned(),
                    "2016-10-30T10:05:30Z".to_owned(),
                    Some("ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E")
                ),
                (
                    "2001:db8::7/128".to_owned(),
                    "2016-10-31T00:00:00Z".to_owned(),
                    Some("ExitNode 00AB")
                ),
            ]
        );
        let errs: Vec<(usize, &str)> = out
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_str()))
            .collect();
        assert_eq!(
            errs,
            [(7, "Published"), (9, "ExitAddress"), (10, "keyword")]
        );
    }
}
