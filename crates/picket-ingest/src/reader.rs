//! Streaming over a whole input (a file, a pipe, standard input): one event at a time, in
//! constant memory.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use picket_model::{ConnEvent, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::{IngestError, LineProblem};
use crate::input::{DETECT_LINES, Input, Line, LineCtx, Parser, opens_multi_line_json};
use crate::lines::{LineBuf, MAX_LINE, Next};

/// Where the time comes from for lines that carry none. Injected so that tests do not depend on
/// the wall clock.
pub type Clock = Box<dyn Fn() -> Timestamp + Send>;

/// What a reader has seen so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Lines read, blank ones included.
    pub lines: u64,
    /// Events produced.
    pub events: u64,
    /// Lines that carry no event: headers, comments, blank lines, record types skipped on
    /// purpose (Suricata dns, VPC NODATA).
    pub skipped: u64,
    /// Lines that could not be parsed (each was handed to the caller as an error).
    pub errors: u64,
    /// Of the skipped lines, the records of types that describe no connection, by type (at
    /// most [`MAX_RECORD_TYPES`] types; the rest are counted under `other`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped_types: BTreeMap<String, u64>,
}

/// How many record types [`Stats::skipped_types`] names before it counts the rest together:
/// a type name comes from the input, so their number must not grow with it.
pub const MAX_RECORD_TYPES: usize = 32;

impl Stats {
    pub(crate) fn skip_type(&mut self, kind: String) {
        let full = self.skipped_types.len() >= MAX_RECORD_TYPES;
        let kind = if full && !self.skipped_types.contains_key(&kind) {
            "other".to_owned()
        } else {
            kind
        };
        *self.skipped_types.entry(kind).or_default() += 1;
    }

    /// The skipped types, most frequent first: `3 dns, 1 stats`.
    pub fn skipped_types_text(&self) -> String {
        let mut kinds: Vec<(&String, &u64)> = self.skipped_types.iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        kinds
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Turns one line into an item of the event stream (or nothing, for a skipped line).
pub(crate) fn process(
    parser: &mut Parser,
    stats: &mut Stats,
    ctx: &LineCtx<'_>,
    kind: Next,
    bytes: &[u8],
    limit: usize,
) -> Option<Result<ConnEvent, IngestError>> {
    stats.lines += 1;
    // One refusal for the whole input, not one bad line per line of each document: the caller
    // stops at an error that is not a line error.
    if parser.is_json() && opens_multi_line_json(bytes) {
        stats.errors += 1;
        return Some(Err(IngestError::MultiLineJson {
            file: ctx.file.to_owned(),
            line: ctx.line,
        }));
    }
    let parsed = match kind {
        Next::TooLong => Err(LineProblem::TooLong { limit }),
        _ => match std::str::from_utf8(bytes) {
            Ok(line) => parser.parse(line, ctx),
            Err(_) => Err(LineProblem::malformed("not UTF-8 text")),
        },
    };
    match parsed {
        Ok(Line::Event(ev)) => {
            stats.events += 1;
            Some(Ok(ev))
        }
        Ok(Line::Nothing) => {
            stats.skipped += 1;
            None
        }
        Ok(Line::Other(kind)) => {
            stats.skipped += 1;
            stats.skip_type(kind);
            None
        }
        Err(problem) => {
            stats.errors += 1;
            Some(Err(IngestError::Line {
                file: ctx.file.to_owned(),
                line: ctx.line,
                problem,
            }))
        }
    }
}

/// An iterator of events (and per-line errors) over any buffered reader.
///
/// A line error does not end the iteration; an I/O error or an undetectable format does.
pub struct EventReader<R> {
    pub(crate) src: R,
    pub(crate) file: String,
    pub(crate) lines: LineBuf,
    pub(crate) line_no: u64,
    pub(crate) parser: Option<Parser>,
    input: Option<Input>,
    /// Lines read to detect the format, to be parsed before reading on.
    pub(crate) replay: VecDeque<(Next, Vec<u8>)>,
    pub(crate) stats: Stats,
    pub(crate) clock: Clock,
    pub(crate) done: bool,
}

impl<R: BufRead> EventReader<R> {
    /// `file` names the input in events and errors (`-` for standard input). With `input`
    /// `None`, the format is detected from the first lines.
    pub fn new(src: R, file: impl Into<String>, input: Option<Input>) -> Self {
        Self {
            src,
            file: file.into(),
            lines: LineBuf::new(MAX_LINE),
            line_no: 0,
            parser: input.map(Parser::new),
            input,
            replay: VecDeque::new(),
            stats: Stats::default(),
            clock: Box::new(Timestamp::now),
            done: false,
        }
    }

    /// Replaces the wall clock used for lines without a time of their own.
    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// The format being read: the one asked for, or the one detected (`None` before detection).
    pub fn input(&self) -> Option<Input> {
        self.input
    }

    pub fn stats(&self) -> Stats {
        self.stats.clone()
    }

    pub(crate) fn read(&mut self) -> io::Result<Next> {
        match self.lines.next(&mut self.src)? {
            Next::Eof => Ok(self.lines.finish().unwrap_or(Next::Eof)),
            n => Ok(n),
        }
    }

    /// Detects the format unless it is known; a failure ends the input.
    pub(crate) fn ensure_parser(&mut self) -> Result<(), IngestError> {
        if self.parser.is_some() {
            return Ok(());
        }
        match self.detect() {
            Ok(input) => {
                self.input = Some(input);
                self.parser = Some(Parser::new(input));
                Ok(())
            }
            Err(e) => {
                self.done = true;
                self.stats.errors += 1;
                Err(e)
            }
        }
    }

    /// Reads up to [`DETECT_LINES`] non-blank lines, keeping them for replay, until one decides.
    fn detect(&mut self) -> Result<Input, IngestError> {
        let mut seen: Vec<String> = Vec::new();
        while seen.len() < DETECT_LINES {
            let kind = self.read().map_err(|source| IngestError::Io {
                file: self.file.clone(),
                line: self.line_no + self.replay.len() as u64,
                source,
            })?;
            if kind == Next::Eof {
                break;
            }
            let bytes = self.lines.line().to_vec();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if seen.is_empty() && opens_multi_line_json(&bytes) {
                return Err(IngestError::MultiLineJson {
                    file: self.file.clone(),
                    line: self.line_no + self.replay.len() as u64 + 1,
                });
            }
            self.replay.push_back((kind, bytes));
            if text.trim().is_empty() {
                continue;
            }
            seen.push(text);
            if let Some(input) = Input::detect(&seen[seen.len() - 1..]) {
                return Ok(input);
            }
        }
        Err(IngestError::UnknownFormat {
            file: self.file.clone(),
            lines: seen.len(),
        })
    }
}

impl EventReader<BufReader<File>> {
    /// Opens a file; events and errors name it as `path` shows it.
    pub fn open(path: &Path, input: Option<Input>) -> io::Result<Self> {
        let f = File::open(path)?;
        Ok(Self::new(
            BufReader::with_capacity(1 << 20, f),
            path.display().to_string(),
            input,
        ))
    }
}

impl EventReader<io::StdinLock<'static>> {
    /// Reads standard input, named `-` in events and errors.
    pub fn stdin(input: Option<Input>) -> Self {
        Self::new(io::stdin().lock(), "-", input)
    }
}

impl<R: BufRead> Iterator for EventReader<R> {
    type Item = Result<ConnEvent, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Err(e) = self.ensure_parser() {
            return Some(Err(e));
        }
        loop {
            let replayed = self.replay.pop_front();
            let kind = match &replayed {
                Some((kind, _)) => *kind,
                None => match self.read() {
                    Ok(Next::Eof) => {
                        self.done = true;
                        return None;
                    }
                    Ok(kind) => kind,
                    Err(source) => {
                        self.done = true;
                        return Some(Err(IngestError::Io {
                            file: self.file.clone(),
                            line: self.line_no,
                            source,
                        }));
                    }
                },
            };
            self.line_no += 1;
            let bytes = match &replayed {
                Some((_, bytes)) => bytes.as_slice(),
                None => self.lines.line(),
            };
            let ctx = LineCtx {
                file: &self.file,
                line: self.line_no,
                now: &self.clock,
            };
            let parser = self.parser.as_mut()?;
            if let Some(item) = process(
                parser,
                &mut self.stats,
                &ctx,
                kind,
                bytes,
                self.lines.limit(),
            ) {
                self.done = item.as_ref().is_err_and(|e| !e.is_line_error());
                return Some(item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NDJSON: &str = "{\"ts\":1,\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\",\"proto\":\"tcp\"}\n";

    #[test]
    fn detects_then_replays_the_detection_lines() {
        let input = format!("\n\n{NDJSON}not json\n{NDJSON}");
        let mut r = EventReader::new(input.as_bytes(), "x.ndjson", None);
        let items: Vec<_> = r.by_ref().collect();
        assert_eq!(r.input(), Some(Input::Ndjson));
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap().source.line, 3);
        let err = items[1].as_ref().unwrap_err().to_string();
        assert!(err.starts_with("x.ndjson:4: not a JSON object"), "{err}");
        assert_eq!(
            r.stats(),
            Stats {
                lines: 5,
                events: 2,
                skipped: 2,
                errors: 1,
                skipped_types: BTreeMap::new(),
            }
        );
    }

    #[test]
    fn skipped_record_types_are_counted_and_bounded() {
        let mut input = String::new();
        for i in 0..40 {
            input.push_str(&format!("{{\"event_type\":\"kind{i:02}\"}}\n"));
        }
        input.push_str("{\"event_type\":\"kind00\"}\n");
        let mut r = EventReader::new(input.as_bytes(), "eve.json", Some(Input::Suricata));
        assert_eq!(r.by_ref().count(), 0);
        let s = r.stats();
        assert_eq!(s.skipped, 41);
        assert_eq!(s.skipped_types.len(), MAX_RECORD_TYPES + 1);
        assert_eq!(s.skipped_types["kind00"], 2);
        assert_eq!(s.skipped_types["other"], 8);
        assert!(
            s.skipped_types_text()
                .starts_with("8 other, 2 kind00, 1 kind01")
        );
    }

    #[test]
    fn pretty_printed_json_is_refused_once() {
        let pretty = "\n{\n  \"timestamp\": \"2023-09-18T06:14:02+0000\",\n  \"event_type\": \"flow\"\n}\n{\n}\n";
        for input in [None, Some(Input::Suricata)] {
            let mut r = EventReader::new(pretty.as_bytes(), "eve.json", input);
            let items: Vec<_> = r.by_ref().collect();
            assert_eq!(items.len(), 1, "{input:?}");
            let err = items[0].as_ref().unwrap_err();
            assert!(!err.is_line_error());
            assert!(
                err.to_string()
                    .starts_with("eve.json:2: JSON spread over many lines"),
                "{err}"
            );
        }
        // After good lines, the first document that opens on a line of its own ends the input.
        let mixed = format!("{NDJSON}[\n{NDJSON}");
        let mut r = EventReader::new(mixed.as_bytes(), "x.ndjson", None);
        let items: Vec<_> = r.by_ref().collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert!(matches!(
            items[1],
            Err(IngestError::MultiLineJson { line: 2, .. })
        ));
        let s = r.stats();
        assert_eq!(s.lines, s.events + s.skipped + s.errors);
    }

    #[test]
    fn undetectable_input_is_one_error() {
        let mut r = EventReader::new("hello\nworld\n".as_bytes(), "x", None);
        let e = r.next().unwrap().unwrap_err();
        assert_eq!(
            e.to_string(),
            "x: cannot tell the format from its first 2 lines; choose one explicitly"
        );
        assert!(r.next().is_none());
    }

    #[test]
    fn last_line_without_newline_counts() {
        let input = NDJSON.trim_end();
        let r = EventReader::new(input.as_bytes(), "x", Some(Input::Ndjson));
        assert_eq!(r.filter(Result::is_ok).count(), 1);
    }

    #[test]
    fn invalid_utf8_is_a_line_error() {
        let mut input = b"\xff\xfe\n".to_vec();
        input.extend_from_slice(NDJSON.as_bytes());
        let items: Vec<_> = EventReader::new(input.as_slice(), "x", Some(Input::Ndjson)).collect();
        assert_eq!(
            items[0].as_ref().unwrap_err().to_string(),
            "x:1: not UTF-8 text"
        );
        assert!(items[1].is_ok());
    }
}
