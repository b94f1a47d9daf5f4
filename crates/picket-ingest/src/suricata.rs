//! Suricata `eve.json`: `flow` records (one per finished flow, with counters), `netflow`
//! records (one per direction of a finished flow) and `alert` records. Other event types (dns,
//! http, tls, stats, ...) describe no connection of their own: they are skipped and counted by
//! type, not reported as errors. The records of one flow share its `flow_id` ([`FlowRef`]), so
//! that the flow is counted once with its final counters.
//!
//! AWS Network Firewall writes the same records wrapped in
//! `{"firewall_name": .., "availability_zone": .., "event_timestamp": .., "event": {..}}`; the
//! wrapped record is read.

use std::net::IpAddr;

use picket_model::{ConnEvent, ConnOutcome, FlowRef, Transport};
use serde_json::{Map, Value};

use crate::EventHead;
use crate::error::LineProblem;
use crate::fields::{self, Res};
use crate::input::{Line, LineCtx, LineResult};
use crate::json_scan::{self, Raw};
use crate::zeek_json::parse_object;

/// TCP flag bits as Suricata prints them in `tcp.tcp_flags_tc` (hex).
const SYN: u8 = 0x02;
const RST: u8 = 0x04;

/// Event types longer than this are counted under a shortened name.
const MAX_TYPE_NAME: usize = 32;

/// Suricata writes a flow's `netflow` records one after the other: the originator's direction
/// first, then, if the responder sent anything, the responder's with the tuple turned around.
/// The parser remembers the last originator record to recognise the reply that follows it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Suricata {
    to_server: Option<(String, Tuple)>,
}

/// Addresses and ports of a record, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tuple {
    src: IpAddr,
    src_port: Option<u16>,
    dst: IpAddr,
    dst_port: Option<u16>,
}

impl Tuple {
    fn of(ev: &ConnEvent) -> Self {
        Self {
            src: ev.src,
            src_port: ev.src_port,
            dst: ev.dst,
            dst_port: ev.dst_port,
        }
    }

    fn reversed(self) -> Self {
        Self {
            src: self.dst,
            src_port: self.dst_port,
            dst: self.src,
            dst_port: self.src_port,
        }
    }
}

/// A record read as far as it can be without the parser's state.
// Made once per line and taken apart at once (as `Line` itself).
#[allow(clippy::large_enum_variant)]
enum Record {
    Done(Line),
    /// A `netflow` record: it needs (and changes) what the parser remembers.
    Netflow(Map<String, Value>),
}

fn record(line: &str, ctx: &LineCtx<'_>) -> Res<Record> {
    if line.trim().is_empty() {
        return Ok(Record::Done(Line::Nothing));
    }
    let mut obj = parse_object(line)?;
    if !obj.contains_key("event_type")
        && let Some(Value::Object(event)) = obj.remove("event")
    {
        obj = event;
    }
    let kind = match fields::json_str(&obj, "event_type")? {
        Some(k) => k,
        None => return Err(LineProblem::missing("event_type")),
    };
    let line = match kind {
        "flow" => Line::Event(flow(&obj, ctx)?),
        "alert" => Line::Event(alert(&obj, ctx)?),
        "netflow" => return Ok(Record::Netflow(obj)),
        other => Line::Other(other.chars().take(MAX_TYPE_NAME).collect::<String>()),
    };
    Ok(Record::Done(line))
}

/// The head of the event [`Suricata::parse`] makes of a `flow` record, when it is sure to make
/// one: `None` for every other line, and for a flow record any of whose checked fields is off
/// (then `parse` decides, error or event). The line is scanned once on its bytes
/// ([`json_scan`], which hands out the `flow` and `tcp` sections' members on the way); times
/// and numeric protocols alone go through serde_json. No allocation for a line without escapes.
pub(crate) fn flow_head(line: &str) -> Option<EventHead> {
    // One bit per field `parse` reads, top level, `flow` and `tcp`: a second one gives up
    // (serde_json's map keeps the last).
    let mut seen = 0u32;
    let (mut flow, mut timestamp, mut proto) = (false, None, None);
    let (mut src, mut dst, mut dest_port) = (None, None, None);
    let (mut start, mut flags_tc) = (None, None);
    json_scan::object(line, &mut |parent, key, raw| {
        let bit = match (parent, key) {
            (None, "event_type") => 0,
            (None, "timestamp") => 1,
            (None, "flow_id") => 2,
            (None, "src_ip") => 3,
            (None, "src_port") => 4,
            (None, "dest_ip") => 5,
            (None, "dest_port") => 6,
            (None, "proto") => 7,
            (None, "flow") => 8,
            (None, "tcp") => 9,
            (Some("flow"), "start") => 10,
            (Some("flow"), "end") => 11,
            (Some("flow"), "bytes_toserver") => 12,
            (Some("flow"), "pkts_toserver") => 13,
            (Some("flow"), "bytes_toclient") => 14,
            (Some("flow"), "pkts_toclient") => 15,
            (Some("flow"), "state") => 16,
            (Some("tcp"), "tcp_flags_tc") => 17,
            (Some("tcp"), "tcp_flags_ts") => 18,
            _ => return Some(()),
        };
        if seen & (1 << bit) != 0 {
            return None;
        }
        seen |= 1 << bit;
        // A null is an absent field to the full parse.
        if raw == Raw::Null {
            return Some(());
        }
        match (bit, raw) {
            (0, Raw::Str(kind)) => flow = kind == "flow",
            (1, raw) => timestamp = Some(raw),
            (2, Raw::Num(_)) | (8 | 9, Raw::Object(_)) => {}
            (3, Raw::Str(s)) => src = Some(s),
            (5, Raw::Str(s)) => dst = Some(s),
            (4 | 6, Raw::Num(n)) => {
                let port = u16::try_from(json_scan::plain_u64(n)?).ok()?;
                if bit == 6 {
                    dest_port = Some(port);
                }
            }
            (7, raw) => proto = Some(json_scan::transport("proto", raw)?),
            (10, raw) => start = Some(json_scan::time("flow.start", raw)?),
            (11, raw) => {
                json_scan::time("flow.end", raw)?;
            }
            (12..=15, Raw::Num(n)) => {
                json_scan::plain_u64(n)?;
            }
            (16 | 18, Raw::Str(_) | Raw::Escaped) => {}
            (17, Raw::Str(s)) => flags_tc = Some(s),
            _ => return None,
        }
        Some(())
    })?;
    if !flow {
        return None;
    }
    let proto = proto?;
    let ts = match start {
        Some(t) => t,
        None => json_scan::time("timestamp", timestamp?)?,
    };
    if proto == Transport::Tcp
        && let Some(tc) = flags_tc
    {
        u8::from_str_radix(tc, 16).ok()?;
    }
    Some(EventHead {
        ts,
        src: fields::ip("src_ip", src?).ok()?,
        dst: fields::ip("dest_ip", dst?).ok()?,
        dst_port: if fields::has_ports(proto) {
            dest_port
        } else {
            None
        },
        proto,
    })
}

impl Suricata {
    pub(crate) fn parse(&mut self, line: &str, ctx: &LineCtx<'_>) -> LineResult {
        match record(line, ctx)? {
            Record::Done(line) => Ok(line),
            Record::Netflow(obj) => self.netflow(&obj, ctx).map(Line::Event),
        }
    }

    /// What [`Suricata::parse`] makes of a line, for every record but `netflow` (`None`: those
    /// depend on the records before them and must go through `parse` in order).
    pub(crate) fn parse_stateless(line: &str, ctx: &LineCtx<'_>) -> Option<LineResult> {
        match record(line, ctx) {
            Ok(Record::Done(line)) => Some(Ok(line)),
            Ok(Record::Netflow(_)) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// One direction of a flow. The originator's record counts what it sent and, until a
    /// reply record says otherwise, no answer; the reply record, turned back around, counts
    /// what the responder sent and ends the flow.
    fn netflow(&mut self, obj: &Map<String, Value>, ctx: &LineCtx<'_>) -> Res<ConnEvent> {
        let mut ev = common(obj, obj, Section::netflow(sub(obj, "netflow")?), ctx)?;
        let bytes = ev.bytes_out.take();
        let packets = ev.packets_out.take();
        let to_server = self.to_server.take();
        let is_reply = match (&to_server, &ev.uid) {
            (Some((id, tuple)), Some(uid)) => id == uid && tuple.reversed() == Tuple::of(&ev),
            _ => false,
        };
        if is_reply {
            std::mem::swap(&mut ev.src, &mut ev.dst);
            std::mem::swap(&mut ev.src_port, &mut ev.dst_port);
            ev.bytes_in = bytes;
            ev.packets_in = packets;
            ev.outcome = reply_outcome(obj, ev.proto)?;
            if let Some(flow) = &mut ev.flow {
                flow.last = true;
            }
        } else {
            ev.bytes_out = bytes;
            ev.packets_out = packets;
            ev.outcome = ConnOutcome::Attempted;
            self.to_server = ev.uid.clone().map(|id| (id, Tuple::of(&ev)));
        }
        Ok(ev)
    }
}

/// How a flow went, from the flags its responder sent (a reply record's `tcp.tcp_flags`).
fn reply_outcome(obj: &Map<String, Value>, proto: Transport) -> Res<ConnOutcome> {
    let flags = match (proto, sub(obj, "tcp")?) {
        (Transport::Tcp, Some(tcp)) => fields::json_str(tcp, "tcp_flags")?,
        _ => None,
    };
    let Some(flags) = flags else {
        // Packets came back: the responder took part.
        return Ok(ConnOutcome::Established);
    };
    let flags = u8::from_str_radix(flags, 16)
        .map_err(|_| LineProblem::bad("tcp.tcp_flags", flags, "hex TCP flags"))?;
    Ok(if flags & SYN == 0 && flags & RST != 0 {
        ConnOutcome::Rejected
    } else {
        ConnOutcome::Established
    })
}

fn flow(obj: &Map<String, Value>, ctx: &LineCtx<'_>) -> Res<ConnEvent> {
    let flow = sub(obj, "flow")?;
    let mut ev = common(obj, obj, Section::flow(flow), ctx)?;
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
    let mut ev = common(obj, flow_tuple.unwrap_or(obj), Section::flow(flow), ctx)?;
    if flow_tuple.is_none() && fields::json_str(obj, "direction")? == Some("to_client") {
        std::mem::swap(&mut ev.src, &mut ev.dst);
        std::mem::swap(&mut ev.src_port, &mut ev.dst_port);
    }
    // An alert says nothing about how the connection went, unless the TCP flags do.
    ev.outcome = tcp_outcome(obj, ev.proto)?.unwrap_or(ConnOutcome::Unknown);
    Ok(ev)
}

/// Where a record keeps its times and counters: the `flow` object of flow and alert records,
/// the `netflow` object (one direction, counted as the originator's) of netflow records.
#[derive(Clone, Copy)]
struct Section<'a> {
    name: &'static str,
    obj: Option<&'a Map<String, Value>>,
    /// Bytes and packets to the server, bytes and packets to the client.
    counters: [Option<&'static str>; 4],
}

impl<'a> Section<'a> {
    fn flow(obj: Option<&'a Map<String, Value>>) -> Self {
        Self {
            name: "flow",
            obj,
            counters: [
                Some("bytes_toserver"),
                Some("pkts_toserver"),
                Some("bytes_toclient"),
                Some("pkts_toclient"),
            ],
        }
    }

    fn netflow(obj: Option<&'a Map<String, Value>>) -> Self {
        Self {
            name: "netflow",
            obj,
            counters: [Some("bytes"), Some("pkts"), None, None],
        }
    }

    fn time(self, key: &str) -> Res<Option<picket_model::Timestamp>> {
        self.obj
            .and_then(|f| fields::get(f, key))
            .map(|v| fields::json_time(&format!("{}.{key}", self.name), v))
            .transpose()
    }

    fn counter(self, i: usize) -> Res<Option<u64>> {
        let (Some(obj), Some(key)) = (self.obj, self.counters[i]) else {
            return Ok(None);
        };
        match fields::get(obj, key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                LineProblem::bad(&format!("{}.{key}", self.name), &v.to_string(), "a count")
            }),
        }
    }
}

/// The fields every record shares; `tuple` holds the addresses and ports.
fn common(
    obj: &Map<String, Value>,
    tuple: &Map<String, Value>,
    section: Section<'_>,
    ctx: &LineCtx<'_>,
) -> Res<ConnEvent> {
    let start = section.time("start")?;
    let ts = match start {
        Some(t) => t,
        None => match fields::get(obj, "timestamp") {
            Some(v) => fields::json_time("timestamp", v)?,
            None => return Err(LineProblem::missing("timestamp")),
        },
    };
    let end = section.time("end")?;
    let proto = fields::json_transport(obj, "proto")?;
    let (src_port, dst_port) = if fields::has_ports(proto) {
        (
            fields::json_port(tuple, "src_port")?,
            fields::json_port(tuple, "dest_port")?,
        )
    } else {
        (None, None)
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
        bytes_out: section.counter(0)?,
        packets_out: section.counter(1)?,
        bytes_in: section.counter(2)?,
        packets_in: section.counter(3)?,
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

    fn run(line: &str) -> Result<Option<ConnEvent>, LineProblem> {
        parse(&mut Suricata::default(), line).map(Line::into_event)
    }

    fn parse(p: &mut Suricata, line: &str) -> LineResult {
        let now = || picket_model::Timestamp::UNIX_EPOCH;
        p.parse(
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
    fn netflow_reply_records_are_turned_around() {
        // Suricata's order: the originator's direction, then the responder's with the tuple
        // reversed and the same flow_id.
        let out = r#"{"timestamp":"2021-11-08T18:20:43.324542+0000","flow_id":7,"event_type":"netflow","src_ip":"216.160.83.61","src_port":61953,"dest_ip":"89.160.20.156","dest_port":5060,"proto":"TCP","netflow":{"pkts":2,"bytes":120,"start":"2021-11-08T18:18:11.990632+0000","end":"2021-11-08T18:18:12.990632+0000","age":1},"tcp":{"tcp_flags":"1b"}}"#;
        let back = r#"{"timestamp":"2021-11-08T18:20:43.324542+0000","flow_id":7,"event_type":"netflow","src_ip":"89.160.20.156","src_port":5060,"dest_ip":"216.160.83.61","dest_port":61953,"proto":"TCP","netflow":{"pkts":1,"bytes":60,"start":"2021-11-08T18:18:11.990700+0000","end":"2021-11-08T18:18:11.990700+0000","age":0},"tcp":{"tcp_flags":"14"}}"#;
        let mut p = Suricata::default();
        let first = parse(&mut p, out).unwrap().into_event().unwrap();
        assert_eq!(first.outcome, ConnOutcome::Attempted);
        assert_eq!((first.bytes_out, first.bytes_in), (Some(120), None));
        assert_eq!(first.duration, Some(std::time::Duration::from_secs(1)));
        assert_eq!(first.flow.as_ref().map(|f| f.last), Some(false));
        let reply = parse(&mut p, back).unwrap().into_event().unwrap();
        assert_eq!(reply.src.to_string(), "216.160.83.61");
        assert_eq!(reply.dst_port, Some(5060));
        assert_eq!((reply.bytes_out, reply.bytes_in), (None, Some(60)));
        assert_eq!((reply.packets_out, reply.packets_in), (None, Some(1)));
        assert_eq!(reply.outcome, ConnOutcome::Rejected, "RST-ACK, no SYN");
        assert_eq!(
            reply.flow,
            Some(FlowRef {
                key: "7".into(),
                last: true
            })
        );
        // The same record again follows no originator record: it is taken as written.
        let alone = parse(&mut p, back).unwrap().into_event().unwrap();
        assert_eq!(alone.src.to_string(), "89.160.20.156");
        assert_eq!(alone.bytes_out, Some(60));
    }

    #[test]
    fn others_are_skipped() {
        assert_eq!(
            parse(&mut Suricata::default(), r#"{"event_type":"dns","dns":{}}"#).unwrap(),
            Line::Other("dns".into())
        );
        assert!(run(r#"{"flow":{}}"#).is_err());
        let e = run(r#"{"timestamp":"2023-09-18T06:13:41+0000","event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","proto":"TCP","flow":{"bytes_toserver":-1}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field flow.bytes_toserver: '-1' is not a count"
        );
    }
}
