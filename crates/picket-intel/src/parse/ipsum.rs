//! IPsum: `IP<TAB>number of blacklists that carry it`; the count becomes the indicator's score.

use picket_model::{FeedFormat, FeedMeta, Indicator};

use crate::lines::{NOT_UTF8, numbered_lines, parse_net, parse_rfc2822};
use crate::{Origin, ParsedFeed};

pub(crate) fn parse(origin: Origin<'_>, input: &[u8]) -> ParsedFeed {
    let mut out = ParsedFeed::new(FeedMeta::new(origin.feed, FeedFormat::Ipsum));
    let mut description = Vec::new();
    for (no, line) in numbered_lines(input) {
        let Ok(line) = line else {
            out.errors.push(origin.error(no, "line", NOT_UTF8));
            continue;
        };
        if let Some(comment) = line.trim_start().strip_prefix('#') {
            let comment = comment.trim();
            if let Some(date) = comment.strip_prefix("Last update:") {
                match parse_rfc2822(date) {
                    Ok(ts) => out.meta.file_date = Some(ts),
                    Err(reason) => out.errors.push(origin.error(no, "Last update", reason)),
                }
            } else if no <= 2 && !comment.is_empty() {
                // The first two lines name the feed and where it lives.
                description.push(comment.to_owned());
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_whitespace();
        let addr = fields.next().unwrap_or_default();
        let network = match parse_net(addr) {
            Ok(n) => n,
            Err(reason) => {
                out.errors.push(origin.error(no, "address", reason));
                continue;
            }
        };
        let count = match fields.next().map(str::parse::<u32>) {
            Some(Ok(c)) => c,
            Some(Err(_)) | None => {
                out.errors.push(origin.error(
                    no,
                    "count",
                    "expected the number of lists after a tab",
                ));
                continue;
            }
        };
        let mut ind = Indicator::new(network, origin.feed);
        ind.score = Some(f64::from(count));
        out.indicators.push(ind);
    }
    if !description.is_empty() {
        out.meta.description = Some(description.join(" "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_become_scores() {
        let input = b"# IPsum Threat Intelligence Feed\n# (https://github.com/stamparm/ipsum)\n#\n# Last update: Sat, 22 Aug 2026 03:00:29 +0200\n#\n# IP\tnumber of (black)lists\n#\n77.90.185.20\t10\n2.57.122.53\t9\n1.2.3.4\n1.2.3.5\tmany\n";
        let out = parse(
            Origin {
                feed: "ipsum",
                file: "ipsum.txt",
            },
            input,
        );
        assert_eq!(
            out.meta.file_date.unwrap().to_string(),
            "2026-08-22T01:00:29Z"
        );
        assert_eq!(
            out.meta.description.as_deref(),
            Some("IPsum Threat Intelligence Feed (https://github.com/stamparm/ipsum)")
        );
        let got: Vec<(String, Option<f64>)> = out
            .indicators
            .iter()
            .map(|i| (i.network.to_string(), i.score))
            .collect();
        assert_eq!(
            got,
            [
                ("77.90.185.20/32".to_owned(), Some(10.0)),
                ("2.57.122.53/32".to_owned(), Some(9.0))
            ]
        );
        let errs: Vec<(usize, &str)> = out
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_str()))
            .collect();
        assert_eq!(errs, [(10, "count"), (11, "count")]);
    }
}
