//! Suricata `eve.json`: `flow` records (one per finished flow, with counters) and `alert`
//! records. Other event types (dns, http, tls, stats, ...) describe no connection of their own
//! and are skipped, not reported as errors. The records of one flow share its `flow_id`
//! ([`FlowRef`]), so that the flow is counted once with the flow record's final counters.

use picket_model::{ConnEvent, ConnOutcome, FlowRef, Transport};
use serde_json::{Map, Value};

use crate::error::LineProblem;
use crate::fields::{self, Res};
use crate::input::{LineCtx, LineResult};
use crate::zeek_json::parse_object;

/// TCP flag bits as Suricata prints them in `tcp.tcp_flags_tc` (hex).
const SYN: u8 = 0x02;
const RST: u8 = 0x04;

pub(crate) fn parse(line: &str, ctx: &LineCtx<'_>) -> LineResult {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let obj = parse_object(line)?;
    let kind = match fields::json_str(&obj, "event_type")? {
        Some(k) => k,
        None => return Err(LineProblem::missing("event_type")),
    };
    match kind {
        "flow" => flow(&obj, ctx).map(Some),
        "alert" => alert(&obj, ctx).map(Some),
        _ => Ok(None),
    }
}

fn flow(obj: &Map<String, Value>, ctx: &LineCtx<'_>) -> Res<ConnEvent> {
    let mut ev = common(obj, obj, ctx)?;
    let flow = sub(obj, "flow")?;
    let state = flow
        .map(|f| fields::json_str(f, "state"))
        .transpose()?
        .flatten();
    ev.outcome = flow_outcome(obj, ev.proto, state, ev.packets_in)?;
    // The flow record is written when the flow ends, with its final counters.
    if let Some(flow) = &mut ev.flow {
        flow.last = true;
    }
    Ok(ev)
}

fn alert(obj: &Map<String, Value>, ctx: &LineCtx<'_>) -> Res<ConnEvent> {
    // Since Suricata 7 an alert's `flow` object repeats the flow's own tuple: the top-level
    // tuple follows the packet that matched, which is the responder's when `direction` is
    // `to_client`. The flow's tuple keeps `src` the originator, as for every other source.
    let flow = sub(obj, "flow")?;
    let flow_tuple = flow.filter(|f| fields::get(f, "src_ip").is_some());
    let mut ev = common(obj, flow_tuple.unwrap_or(obj), ctx)?;
    if flow_tuple.is_none() && fields::json_str(obj, "direction")? == Some("to_client") {
        std::mem::swap(&mut ev.src, &mut ev.dst);
        std::mem::swap(&mut ev.src_port, &mut ev.dst_port);
    }
    // An alert says nothing about how the connection went, unless the TCP flags do.
    ev.outcome = tcp_outcome(obj, ev.proto)?.unwrap_or(ConnOutcome::Unknown);
    Ok(ev)
}

/// The fields flow and alert records share; `tuple` holds the addresses and ports.
fn common(
    obj: &Map<String, Value>,
    tuple: &Map<String, Value>,
    ctx: &LineCtx<'_>,
) -> Res<ConnEvent> {
    let flow = sub(obj, "flow")?;
    let start = flow
        .and_then(|f| fields::get(f, "start"))
        .map(|v| fields::json_time("flow.start", v))
        .transpose()?;
    let ts = match start {
        Some(t) => t,
        None => match fields::get(obj, "timestamp") {
            Some(v) => fields::json_time("timestamp", v)?,
            None => return Err(LineProblem::missing("timestamp")),
        },
    };
    let end = flow
        .and_then(|f| fields::get(f, "end"))
        .map(|v| fields::json_time("flow.end", v))
        .transpose()?;
    let proto = fields::json_transport(obj, "proto")?;
    let (src_port, dst_port) = if fields::has_ports(proto) {
        (
            fields::json_port(tuple, "src_port")?,
            fields::json_port(tuple, "dest_port")?,
        )
    } else {
        (None, None)
    };
    let counter = |key: &str| -> Res<Option<u64>> {
        match flow {
            Some(f) => match fields::get(f, key) {
                None => Ok(None),
                Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                    LineProblem::bad(&format!("flow.{key}"), &v.to_string(), "a count")
                }),
            },
            None => Ok(None),
        }
    };
    let uid = match fields::get(obj, "flow_id") {
        None => None,
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => return Err(LineProblem::bad("flow_id", &other.to_string(), "a flow id")),
    };
    Ok(ConnEvent {
        ts,
        src: fields::json_ip(tuple, "src_ip")?,
        src_port,
        dst: fields::json_ip(tuple, "dest_ip")?,
        dst_port,
        proto,
        outcome: ConnOutcome::Unknown,
        duration: start.zip(end).and_then(|(s, e)| fields::between(s, e)),
        bytes_out: counter("bytes_toserver")?,
        bytes_in: counter("bytes_toclient")?,
        packets_out: counter("pkts_toserver")?,
        packets_in: counter("pkts_toclient")?,
        flow: uid.clone().map(|key| FlowRef { key, last: false }),
        uid,
        source: ctx.source(),
    })
}

fn sub<'a>(obj: &'a Map<String, Value>, key: &str) -> Res<Option<&'a Map<String, Value>>> {
    match fields::get(obj, key) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(LineProblem::bad(key, &other.to_string(), "an object")),
    }
}

/// A flow record's outcome. For TCP the flags the responder sent decide (a SYN-ACK means the
/// handshake was answered, a bare RST a refusal); `flow.state` is the fallback, and for other
/// protocols it is all there is: `new` means packets in one direction only.
fn flow_outcome(
    obj: &Map<String, Value>,
    proto: Transport,
    state: Option<&str>,
    packets_in: Option<u64>,
) -> Res<ConnOutcome> {
    if let Some(o) = tcp_outcome(obj, proto)? {
        return Ok(o);
    }
    Ok(match state {
        Some("new") => ConnOutcome::Attempted,
        Some("established") => ConnOutcome::Established,
        // `closed` and the bypass states say only that the flow ended: the return counter tells
        // whether the responder took part.
        Some(_) | None => match packets_in {
            Some(0) => ConnOutcome::Attempted,
            Some(_) if proto != Transport::Tcp => ConnOutcome::Established,
            _ => ConnOutcome::Unknown,
        },
    })
}

fn tcp_outcome(obj: &Map<String, Value>, proto: Transport) -> Res<Option<ConnOutcome>> {
    if proto != Transport::Tcp {
        return Ok(None);
    }
    let Some(tcp) = sub(obj, "tcp")? else {
        return Ok(None);
    };
    let Some(tc) = fields::json_str(tcp, "tcp_flags_tc")? else {
        // Nothing came back from the responder if Suricata logged flags one way only.
        return Ok(fields::json_str(tcp, "tcp_flags_ts")?.map(|_| ConnOutcome::Attempted));
    };
    let flags = u8::from_str_radix(tc, 16)
        .map_err(|_| LineProblem::bad("tcp.tcp_flags_tc", tc, "hex TCP flags"))?;
    Ok(Some(if flags & SYN != 0 {
        ConnOutcome::Established
    } else if flags & RST != 0 {
        ConnOutcome::Rejected
    } else {
        ConnOutcome::Unknown
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> LineResult {
        let now = || picket_model::Timestamp::UNIX_EPOCH;
        parse(
            line,
            &LineCtx {
                file: "eve.json",
                line: 1,
                now: &now,
            },
        )
    }

    #[test]
    fn flow_outcomes() {
        let rej = r#"{"timestamp":"2023-09-18T06:13:41.532140+0000","flow_id":1,"event_type":"flow","src_ip":"198.51.100.7","src_port":4444,"dest_ip":"10.0.0.5","dest_port":23,"proto":"TCP","flow":{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":60,"bytes_toclient":54,"start":"2023-09-18T06:13:41.532140+0000","end":"2023-09-18T06:13:41.532540+0000","state":"closed"},"tcp":{"tcp_flags":"16","tcp_flags_ts":"02","tcp_flags_tc":"14","syn":true,"rst":true,"ack":true}}"#;
        let ev = run(rej).unwrap().unwrap();
        assert_eq!(ev.outcome, ConnOutcome::Rejected);
        assert_eq!(ev.duration, Some(std::time::Duration::from_micros(400)));
        assert_eq!(ev.uid.as_deref(), Some("1"));
        let udp_new = r#"{"timestamp":"2023-09-18T06:13:41+0000","event_type":"flow","src_ip":"198.51.100.7","src_port":5353,"dest_ip":"10.0.0.5","dest_port":53,"proto":"UDP","flow":{"pkts_toserver":1,"pkts_toclient":0,"state":"new"}}"#;
        assert_eq!(
            run(udp_new).unwrap().unwrap().outcome,
            ConnOutcome::Attempted
        );
    }

    #[test]
    fn alert_to_client_is_turned_around() {
        let a = r#"{"timestamp":"2023-09-18T06:13:41.532140+0000","event_type":"alert","src_ip":"10.0.0.5","src_port":80,"dest_ip":"198.51.100.7","dest_port":51000,"proto":"TCP","direction":"to_client","alert":{"signature_id":1}}"#;
        let ev = run(a).unwrap().unwrap();
        assert_eq!(ev.src.to_string(), "198.51.100.7");
        assert_eq!(ev.dst_port, Some(80));
        assert_eq!(ev.outcome, ConnOutcome::Unknown);
    }

    #[test]
    fn others_are_skipped() {
        assert_eq!(run(r#"{"event_type":"dns","dns":{}}"#).unwrap(), None);
        assert!(run(r#"{"flow":{}}"#).is_err());
        let e = run(r#"{"timestamp":"2023-09-18T06:13:41+0000","event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","proto":"TCP","flow":{"bytes_toserver":-1}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field flow.bytes_toserver: '-1' is not a count"
        );
    }
}
