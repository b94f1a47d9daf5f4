//! The input formats, their detection from the first lines, and the per-line parser dispatch.

use std::fmt;
use std::str::FromStr;

use picket_model::{ConnEvent, SourceRef, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::LineProblem;
use crate::{conntrack, ndjson, suricata, vpc, zeek_json, zeek_tsv};

/// A connection-log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Input {
    /// Zeek `conn.log` in its TSV form, driven by the `#separator`, `#fields` and `#types` headers
    /// (or by the one header row of `LogAscii::tsv=T`).
    ZeekTsv,
    /// Zeek `conn.log` as JSON lines (`LogAscii::use_json=T`).
    ZeekJson,
    /// Suricata `eve.json` (also as AWS Network Firewall writes it): `flow`, `netflow` and
    /// `alert` records; other event types are skipped and counted by type.
    Suricata,
    /// AWS VPC flow logs: the default v2 format, or any custom format declared by a header line.
    VpcFlow,
    /// `conntrack -E` event lines, plain or with `-o timestamp`, `-o extended`, `-o id`.
    Conntrack,
    /// Picket's own NDJSON shape (see the crate documentation).
    Ndjson,
}

/// How many non-blank lines [`Input::detect`] is given at most by the readers.
pub const DETECT_LINES: usize = 16;

impl Input {
    pub const ALL: [Input; 6] = [
        Input::ZeekTsv,
        Input::ZeekJson,
        Input::Suricata,
        Input::VpcFlow,
        Input::Conntrack,
        Input::Ndjson,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Input::ZeekTsv => "zeek-tsv",
            Input::ZeekJson => "zeek-json",
            Input::Suricata => "suricata",
            Input::VpcFlow => "vpc-flow",
            Input::Conntrack => "conntrack",
            Input::Ndjson => "ndjson",
        }
    }

    /// Picks the format from the first lines of an input: the first line that only one format
    /// can have decides. `None` when no line decides (the caller should ask for more lines or
    /// for an explicit format).
    pub fn detect<S: AsRef<str>>(lines: &[S]) -> Option<Input> {
        lines.iter().find_map(|l| detect_line(l.as_ref()))
    }
}

fn detect_line(line: &str) -> Option<Input> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    if line.starts_with('#') {
        // Zeek's header; other comment lines decide nothing.
        return (line.starts_with("#separator") || line.starts_with("#fields"))
            .then_some(Input::ZeekTsv);
    }
    if zeek_tsv::is_header_row(line) {
        return Some(Input::ZeekTsv);
    }
    if line.starts_with('{') {
        let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).ok()?;
        // AWS Network Firewall wraps each EVE record in `{"firewall_name": .., "event": {..}}`.
        if obj.contains_key("event_type")
            || obj
                .get("event")
                .is_some_and(|e| e.get("event_type").is_some())
        {
            return Some(Input::Suricata);
        }
        if obj.contains_key("id.orig_h")
            || obj.get("id").is_some_and(|id| id.get("orig_h").is_some())
        {
            return Some(Input::ZeekJson);
        }
        if obj.contains_key("src") && obj.contains_key("dst") {
            return Some(Input::Ndjson);
        }
        return None;
    }
    if conntrack::looks_like(line) {
        return Some(Input::Conntrack);
    }
    if vpc::looks_like(line) {
        return Some(Input::VpcFlow);
    }
    None
}

/// Whether a line opens a JSON document that goes on over the next lines: `jq .` and other
/// pretty-printers put the opening brace or bracket of each document on a line of its own.
pub(crate) fn opens_multi_line_json(line: &[u8]) -> bool {
    matches!(line.trim_ascii(), b"{" | b"[" | b"[{" | b"[ {")
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Input {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Input::ALL
            .into_iter()
            .find(|i| i.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Input::ALL.iter().map(|i| i.name()).collect();
                format!("unknown input format {s:?} (one of: {})", names.join(", "))
            })
    }
}

/// What a parser needs to know about the line it is given.
pub(crate) struct LineCtx<'a> {
    pub file: &'a str,
    pub line: u64,
    /// The time now, for sources whose lines carry none (conntrack without `-o timestamp`).
    pub now: &'a dyn Fn() -> Timestamp,
}

impl LineCtx<'_> {
    pub fn source(&self) -> SourceRef {
        SourceRef {
            file: self.file.to_owned(),
            line: self.line,
        }
    }
}

/// What one line turned into, when it could be parsed.
// Made once per line and taken apart at once: boxing the event would cost an allocation per
// event on the hot path for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    Event(ConnEvent),
    /// A blank line, a header or a comment.
    Nothing,
    /// A record of a type that describes no connection of its own (Suricata `dns`, a VPC
    /// `NODATA` record), by its type.
    Other(String),
}

#[cfg(test)]
impl Line {
    pub fn into_event(self) -> Option<ConnEvent> {
        match self {
            Line::Event(ev) => Some(ev),
            Line::Nothing | Line::Other(_) => None,
        }
    }
}

/// What one line turned into, or the problem with it.
pub(crate) type LineResult = Result<Line, LineProblem>;

/// One parser per format; the stateful ones remember the header they have seen.
#[derive(Debug, Clone)]
pub(crate) enum Parser {
    ZeekTsv(zeek_tsv::ZeekTsv),
    ZeekJson,
    Suricata(suricata::Suricata),
    VpcFlow(vpc::VpcFlow),
    Conntrack,
    Ndjson,
}

impl Parser {
    pub fn new(input: Input) -> Self {
        match input {
            Input::ZeekTsv => Parser::ZeekTsv(zeek_tsv::ZeekTsv::default()),
            Input::ZeekJson => Parser::ZeekJson,
            Input::Suricata => Parser::Suricata(suricata::Suricata::default()),
            Input::VpcFlow => Parser::VpcFlow(vpc::VpcFlow::default()),
            Input::Conntrack => Parser::Conntrack,
            Input::Ndjson => Parser::Ndjson,
        }
    }

    pub fn parse(&mut self, line: &str, ctx: &LineCtx<'_>) -> LineResult {
        match self {
            Parser::ZeekTsv(p) => p.parse(line, ctx),
            Parser::ZeekJson => zeek_json::parse(line, ctx),
            Parser::Suricata(p) => p.parse(line, ctx),
            Parser::VpcFlow(p) => p.parse(line, ctx),
            Parser::Conntrack => conntrack::parse(line, ctx),
            Parser::Ndjson => ndjson::parse(line, ctx),
        }
    }

    /// The header lines that define the parser's state now, so that a follower resuming in
    /// the middle of a file can rebuild it without re-reading the file's beginning.
    /// Whether the format takes one JSON object a line.
    pub fn is_json(&self) -> bool {
        matches!(
            self,
            Parser::ZeekJson | Parser::Suricata(_) | Parser::Ndjson
        )
    }

    pub fn header(&self) -> Vec<String> {
        match self {
            Parser::ZeekTsv(p) => p.header(),
            Parser::VpcFlow(p) => p.header(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for i in Input::ALL {
            assert_eq!(i.name().parse::<Input>().unwrap(), i);
            assert_eq!(serde_json::to_value(i).unwrap(), i.name());
        }
        assert!("zeek".parse::<Input>().is_err());
    }

    #[test]
    fn detects_each_format() {
        let cases: &[(&[&str], Option<Input>)] = &[
            (
                &["#separator \\x09", "#set_separator\t,"],
                Some(Input::ZeekTsv),
            ),
            (&["", "#fields\tts\tuid"], Some(Input::ZeekTsv)),
            (
                &["ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto"],
                Some(Input::ZeekTsv),
            ),
            (
                &[r#"{"ts":1.5,"uid":"C1","id.orig_h":"10.0.0.1"}"#],
                Some(Input::ZeekJson),
            ),
            (
                &[r#"{"ts":1.5,"id":{"orig_h":"10.0.0.1"}}"#],
                Some(Input::ZeekJson),
            ),
            (
                &[r#"{"timestamp":"x","event_type":"dns"}"#],
                Some(Input::Suricata),
            ),
            (&[r#"{"ts":1,"src":"a","dst":"b"}"#], Some(Input::Ndjson)),
            (
                &[
                    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
                ],
                Some(Input::VpcFlow),
            ),
            (
                &[
                    "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
                ],
                Some(Input::VpcFlow),
            ),
            (
                &[
                    "    [NEW] tcp      6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1",
                ],
                Some(Input::Conntrack),
            ),
            (&["#close\t2021", "hello world", "{}"], None),
        ];
        for (lines, want) in cases {
            assert_eq!(Input::detect(lines), *want, "{lines:?}");
        }
    }
}
