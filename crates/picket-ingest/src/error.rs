use std::fmt;
use std::io;

use thiserror::Error;

/// Everything that can go wrong while reading connection events.
///
/// A [`IngestError::Line`] concerns one input line: the readers count it, hand it to the caller
/// and go on with the next line. The other variants concern the whole input.
#[derive(Debug, Error)]
pub enum IngestError {
    /// One line could not be turned into an event; it was skipped.
    #[error("{file}:{line}: {problem}")]
    Line {
        file: String,
        line: u64,
        problem: LineProblem,
    },
    /// The first lines of the input match none of the formats.
    #[error("{file}: cannot tell the format from its first {lines} lines; choose one explicitly")]
    UnknownFormat { file: String, lines: usize },
    /// The input is JSON spread over many lines (pretty-printed, as `jq .` writes it), where
    /// the JSON formats take one object per line.
    #[error(
        "{file}:{line}: JSON spread over many lines (pretty-printed, as `jq .` writes it); \
         Picket reads one JSON object per line: convert it with `jq -c .`"
    )]
    MultiLineJson { file: String, line: u64 },
    /// Reading the input failed.
    #[error("{file}: read failed after line {line}: {source}")]
    Io {
        file: String,
        line: u64,
        #[source]
        source: io::Error,
    },
}

impl IngestError {
    /// Whether only one line was lost (reading goes on) rather than the input as a whole.
    pub fn is_line_error(&self) -> bool {
        matches!(self, IngestError::Line { .. })
    }

    /// Whether this refuses a Zeek TSV row for a bad value in a column a screen does not read
    /// (a count, the duration, the source port): a screened read hands such a row over as the
    /// event it stands for when the screen turns it down (see `EventReader::read_screened`).
    pub fn is_outside_zeek_tsv_head(&self) -> bool {
        matches!(
            self,
            IngestError::Line { problem: LineProblem::BadValue { field, .. }, .. }
                if !crate::zeek_tsv::is_head_column(field)
        )
    }
}

/// What was wrong with one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineProblem {
    /// A field holds a value of the wrong kind: `field id.resp_p: 'abc' is not a port`.
    BadValue {
        field: String,
        /// The offending text, shortened and with control characters escaped for printing.
        value: String,
        expected: &'static str,
    },
    /// A field the event cannot do without is absent or unset.
    Missing { field: String },
    /// The line as a whole does not have the format's shape (wrong column count, not JSON,
    /// no header before it, ...).
    Malformed(String),
    /// The line is longer than the reader accepts.
    TooLong { limit: usize },
}

/// Values longer than this are cut in messages: a bad line must not flood the log.
const MAX_SHOWN: usize = 64;

impl LineProblem {
    pub(crate) fn bad(field: &str, value: &str, expected: &'static str) -> Self {
        let mut shown = String::new();
        for c in value.chars().take(MAX_SHOWN) {
            // Control characters would let a log line rewrite the terminal it is shown on.
            if c.is_control() {
                shown.extend(c.escape_debug());
            } else {
                shown.push(c);
            }
        }
        if value.chars().nth(MAX_SHOWN).is_some() {
            shown.push('…');
        }
        LineProblem::BadValue {
            field: field.to_owned(),
            value: shown,
            expected,
        }
    }

    pub(crate) fn missing(field: &str) -> Self {
        LineProblem::Missing {
            field: field.to_owned(),
        }
    }

    pub(crate) fn malformed(why: impl Into<String>) -> Self {
        LineProblem::Malformed(why.into())
    }
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineProblem::BadValue {
                field,
                value,
                expected,
            } => write!(f, "field {field}: '{value}' is not {expected}"),
            LineProblem::Missing { field } => write!(f, "field {field}: missing"),
            LineProblem::Malformed(why) => f.write_str(why),
            LineProblem::TooLong { limit } => {
                write!(f, "line longer than {limit} bytes, skipped")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_file_line_and_field() {
        let e = IngestError::Line {
            file: "conn.log".into(),
            line: 17,
            problem: LineProblem::bad("id.resp_p", "abc", "a port"),
        };
        assert_eq!(
            e.to_string(),
            "conn.log:17: field id.resp_p: 'abc' is not a port"
        );
        assert!(e.is_line_error());
    }

    #[test]
    fn long_and_control_values_are_tamed() {
        let long = "x".repeat(500);
        let LineProblem::BadValue { value, .. } = LineProblem::bad("f", &long, "a port") else {
            panic!("wrong variant");
        };
        assert_eq!(value.chars().count(), MAX_SHOWN + 1);
        let LineProblem::BadValue { value, .. } = LineProblem::bad("f", "a\u{1b}[2J", "a port")
        else {
            panic!("wrong variant");
        };
        assert_eq!(value, "a\\u{1b}[2J");
    }
}
