//! One module per feed format. Each turns the bytes of one file into typed indicators and
//! per-line errors; none of them panics on any input (fuzzed and property-tested).

mod firehol;
mod ipsum;
mod misp;
mod plain;
mod spamhaus;
mod stix;
mod tor;
mod zeek;

use picket_model::FeedFormat;

use crate::{IntelError, Origin, ParsedFeed};

/// Parses one feed file in the given format. Line formats always succeed (bad lines are in
/// [`ParsedFeed::errors`]); whole-document formats fail when the document itself is broken.
pub fn parse(
    format: FeedFormat,
    origin: Origin<'_>,
    input: &[u8],
) -> Result<ParsedFeed, IntelError> {
    match format {
        FeedFormat::Firehol => Ok(firehol::parse(origin, input)),
        FeedFormat::SpamhausDrop => Ok(spamhaus::parse_text(origin, input)),
        FeedFormat::SpamhausJson => Ok(spamhaus::parse_json(origin, input)),
        FeedFormat::Ipsum => Ok(ipsum::parse(origin, input)),
        FeedFormat::Plain => Ok(plain::parse(origin, input)),
        FeedFormat::TorExits => Ok(tor::parse(origin, input)),
        FeedFormat::Stix => stix::parse(origin, input),
        FeedFormat::MispCsv => misp::parse_csv(origin, input),
        FeedFormat::MispJson => misp::parse_json(origin, input),
        FeedFormat::ZeekIntel => Ok(zeek::parse(origin, input)),
    }
}

/// The error for a JSON document that does not parse, located where serde_json stopped.
fn json_document_error(
    origin: Origin<'_>,
    format: FeedFormat,
    e: &serde_json::Error,
) -> IntelError {
    IntelError::Document {
        file: origin.file.to_owned(),
        format,
        line: e.line(),
        column: e.column(),
        reason: e.to_string(),
    }
}
