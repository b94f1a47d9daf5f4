//! Zeek `conn.log` as JSON lines: one object per line with the same field names as the TSV
//! form (`id.orig_h`, ...). Zeek omits unset fields. The nested form (`"id": {"orig_h": ...}`)
//! that some shippers produce is read too.

use std::time::Duration;

use picket_model::{ConnEvent, ConnOutcome};
use serde_json::{Map, Value};

use crate::EventHead;
use crate::json_scan::{self, Raw};

use crate::error::LineProblem;
use crate::fields::{self, Res};
use crate::input::{Line, LineCtx, LineResult};
use crate::zeek_tsv;

pub(crate) fn parse(line: &str, ctx: &LineCtx<'_>) -> LineResult {
    if line.trim().is_empty() {
        return Ok(Line::Nothing);
    }
    let mut obj = parse_object(line)?;
    flatten_id(&mut obj);
    event(&obj, ctx).map(Line::Event)
}

/// The head of the event [`parse`] makes of `line`, when it is sure to make one: `None` when
/// the line is anything but a flat Zeek JSON record whose every field [`parse`] checks is
/// right (then [`parse`] decides, error or event). The line is scanned once on its bytes
/// ([`json_scan`]); only the time and the duration go through serde_json (the same reading of
/// a number as the full parse's). No allocation for a line without escapes.
pub(crate) fn head(line: &str) -> Option<EventHead> {
    let mut seen = 0u16;
    let mut ts = None;
    let (mut orig_h, mut resp_h, mut proto) = (None, None, None);
    let mut resp_p = None;
    json_scan::object(line, &mut |parent, key, raw| {
        // Each field `parse` reads, numbered; a nested object's members are not its fields.
        let field = match (parent, key) {
            (Some(_), _) => return Some(()),
            // The nested form is left to `parse`.
            (None, "id") => return None,
            (None, "ts") => 0,
            (None, "id.orig_h") => 1,
            (None, "id.orig_p") => 2,
            (None, "id.resp_h") => 3,
            (None, "id.resp_p") => 4,
            (None, "proto") => 5,
            (None, "duration") => 6,
            (None, "uid") => 7,
            (None, "conn_state") => 8,
            (None, "orig_bytes" | "resp_bytes" | "orig_pkts" | "resp_pkts") => {
                9 + usize::from(key.starts_with("resp")) + 2 * usize::from(key.ends_with("pkts"))
            }
            _ => return Some(()),
        };
        // Once each: a second one gives up (serde_json's map keeps the last).
        if seen & (1 << field) != 0 {
            return None;
        }
        seen |= 1 << field;
        // A null is an absent field to the full parse.
        if raw == Raw::Null {
            return Some(());
        }
        match field {
            0 => ts = Some(json_scan::time("ts", raw)?),
            1 | 3 | 5 => {
                let Raw::Str(s) = raw else { return None };
                match field {
                    1 => orig_h = Some(s),
                    3 => resp_h = Some(s),
                    _ => proto = Some(s),
                }
            }
            2 | 4 => {
                let Raw::Num(n) = raw else { return None };
                // Both ports must be right (parse checks them for protocols with ports).
                let port = u16::try_from(json_scan::plain_u64(n)?).ok()?;
                if field == 4 {
                    resp_p = Some(port);
                }
            }
            6 => {
                let Raw::Num(n) = raw else { return None };
                Duration::try_from_secs_f64(serde_json::from_str::<f64>(n).ok()?).ok()?;
            }
            7 | 8 => {
                if !matches!(raw, Raw::Str(_) | Raw::Escaped) {
                    return None;
                }
            }
            _ => {
                let Raw::Num(n) = raw else { return None };
                json_scan::plain_u64(n)?;
            }
        }
        Some(())
    })?;
    let proto = zeek_tsv::transport(proto?).ok()?;
    Some(EventHead {
        ts: ts?,
        src: fields::ip("id.orig_h", orig_h?).ok()?,
        dst: fields::ip("id.resp_h", resp_h?).ok()?,
        dst_port: if fields::has_ports(proto) {
            resp_p
        } else {
            None
        },
        proto,
    })
}

pub(crate) fn parse_object(line: &str) -> Res<Map<String, Value>> {
    serde_json::from_str(line)
        .map_err(|e| LineProblem::malformed(format!("not a JSON object: {e}")))
}

/// `{"id": {"orig_h": ..}}` becomes `{"id.orig_h": ..}`.
fn flatten_id(obj: &mut Map<String, Value>) {
    if let Some(Value::Object(id)) = obj.remove("id") {
        for (k, v) in id {
            obj.entry(format!("id.{k}")).or_insert(v);
        }
    }
}

fn event(obj: &Map<String, Value>, ctx: &LineCtx<'_>) -> Res<ConnEvent> {
    let ts = match fields::get(obj, "ts") {
        Some(v) => fields::json_time("ts", v)?,
        None => return Err(LineProblem::missing("ts")),
    };
    let proto = match fields::json_str(obj, "proto")? {
        Some(p) => zeek_tsv::transport(p)?,
        None => return Err(LineProblem::missing("proto")),
    };
    let (src_port, dst_port) = if fields::has_ports(proto) {
        (
            fields::json_port(obj, "id.orig_p")?,
            fields::json_port(obj, "id.resp_p")?,
        )
    } else {
        (None, None)
    };
    Ok(ConnEvent {
        ts,
        src: fields::json_ip(obj, "id.orig_h")?,
        src_port,
        dst: fields::json_ip(obj, "id.resp_h")?,
        dst_port,
        proto,
        outcome: fields::json_str(obj, "conn_state")?
            .map_or(ConnOutcome::Unknown, zeek_tsv::outcome),
        duration: fields::json_seconds(obj, "duration")?,
        bytes_out: fields::json_u64(obj, "orig_bytes", "a count")?,
        bytes_in: fields::json_u64(obj, "resp_bytes", "a count")?,
        packets_out: fields::json_u64(obj, "orig_pkts", "a count")?,
        packets_in: fields::json_u64(obj, "resp_pkts", "a count")?,
        uid: fields::json_str(obj, "uid")?.map(str::to_owned),
        flow: None,
        source: ctx.source(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> Result<Option<ConnEvent>, LineProblem> {
        let now = || picket_model::Timestamp::UNIX_EPOCH;
        parse(
            line,
            &LineCtx {
                file: "conn.json",
                line: 3,
                now: &now,
            },
        )
        .map(Line::into_event)
    }

    #[test]
    fn flat_and_nested() {
        let flat = r#"{"ts":1632928690.50062,"uid":"C1","id.orig_h":"192.168.1.99","id.orig_p":62978,"id.resp_h":"192.168.1.1","id.resp_p":53,"proto":"udp","duration":0.027648,"orig_bytes":55,"resp_bytes":134,"conn_state":"SF","orig_pkts":1,"resp_pkts":1}"#;
        let nested = r#"{"ts":1632928690.50062,"uid":"C1","id":{"orig_h":"192.168.1.99","orig_p":62978,"resp_h":"192.168.1.1","resp_p":53},"proto":"udp","duration":0.027648,"orig_bytes":55,"resp_bytes":134,"conn_state":"SF","orig_pkts":1,"resp_pkts":1}"#;
        let a = run(flat).unwrap().unwrap();
        let b = run(nested).unwrap().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.outcome, ConnOutcome::Established);
        assert_eq!(a.dst_port, Some(53));
        assert_eq!(a.duration, Some(std::time::Duration::from_micros(27_648)));
    }

    #[test]
    fn errors_name_the_field() {
        let e = run(r#"{"ts":1,"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","id.resp_p":"abc","proto":"tcp"}"#)
            .unwrap_err();
        assert_eq!(e.to_string(), "field id.resp_p: '\"abc\"' is not a port");
        let e = run(r#"{"ts":1,"id.orig_h":"10.0.0.1","proto":"tcp"}"#).unwrap_err();
        assert_eq!(e.to_string(), "field id.resp_h: missing");
        assert!(
            run("[1,2]")
                .unwrap_err()
                .to_string()
                .starts_with("not a JSON object")
        );
    }
}
