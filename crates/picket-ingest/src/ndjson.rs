//! Picket's own NDJSON shape, for sources without a parser of their own (see the crate
//! documentation for the fields).

use picket_model::{ConnEvent, ConnOutcome};

use crate::error::LineProblem;
use crate::fields;
use crate::input::{Line, LineCtx, LineResult};
use crate::zeek_json::parse_object;

pub(crate) fn parse(line: &str, ctx: &LineCtx<'_>) -> LineResult {
    if line.trim().is_empty() {
        return Ok(Line::Nothing);
    }
    let obj = parse_object(line)?;
    let ts = match fields::get(&obj, "ts") {
        Some(v) => fields::json_time("ts", v)?,
        None => return Err(LineProblem::missing("ts")),
    };
    let proto = fields::json_transport(&obj, "proto")?;
    let (src_port, dst_port) = if fields::has_ports(proto) {
        (
            fields::json_port(&obj, "src_port")?,
            fields::json_port(&obj, "dst_port")?,
        )
    } else {
        (None, None)
    };
    let outcome = match fields::json_str(&obj, "outcome")? {
        None => ConnOutcome::Unknown,
        Some(s) => ConnOutcome::parse(s).ok_or_else(|| {
            LineProblem::bad("outcome", s, "established, attempted, rejected or unknown")
        })?,
    };
    Ok(Line::Event(ConnEvent {
        ts,
        src: fields::json_ip(&obj, "src")?,
        src_port,
        dst: fields::json_ip(&obj, "dst")?,
        dst_port,
        proto,
        outcome,
        duration: fields::json_seconds(&obj, "duration")?,
        bytes_out: fields::json_u64(&obj, "bytes_out", "a count")?,
        bytes_in: fields::json_u64(&obj, "bytes_in", "a count")?,
        packets_out: fields::json_u64(&obj, "packets_out", "a count")?,
        packets_in: fields::json_u64(&obj, "packets_in", "a count")?,
        uid: fields::json_str(&obj, "uid")?.map(str::to_owned),
        flow: None,
        source: ctx.source(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> Result<Option<ConnEvent>, LineProblem> {
        let now = || picket_model::Timestamp::UNIX_EPOCH;
        parse(
            line,
            &LineCtx {
                file: "events.ndjson",
                line: 2,
                now: &now,
            },
        )
        .map(Line::into_event)
    }

    #[test]
    fn minimal_and_full() {
        let ev = run(r#"{"ts":1700000000,"src":"198.51.100.7","dst":"10.0.0.5","proto":"tcp"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(ev.outcome, ConnOutcome::Unknown);
        assert_eq!(ev.dst_port, None);
        let ev = run(r#"{"ts":"2024-05-01T12:00:00Z","src":"198.51.100.7","src_port":40000,"dst":"10.0.0.5","dst_port":22,"proto":6,"outcome":"attempted","bytes_out":60,"bytes_in":0,"packets_out":1,"packets_in":0,"duration":0.5,"uid":"x1","extra":true}"#)
            .unwrap()
            .unwrap();
        assert_eq!(ev.dst_port, Some(22));
        assert_eq!(ev.outcome, ConnOutcome::Attempted);
        assert_eq!(ev.duration, Some(std::time::Duration::from_millis(500)));
    }

    #[test]
    fn errors() {
        let e =
            run(r#"{"ts":1,"src":"10.0.0.1","dst":"10.0.0.2","proto":"tcp","outcome":"maybe"}"#)
                .unwrap_err();
        assert_eq!(
            e.to_string(),
            "field outcome: 'maybe' is not established, attempted, rejected or unknown"
        );
        let e = run(r#"{"ts":1,"src":"10.0.0.1","dst":"10.0.0.2"}"#).unwrap_err();
        assert_eq!(e.to_string(), "field proto: missing");
        let e = run(r#"{"ts":"yesterday","src":"10.0.0.1","dst":"10.0.0.2","proto":"tcp"}"#)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "field ts: 'yesterday' is not an RFC 3339 time"
        );
    }
}
