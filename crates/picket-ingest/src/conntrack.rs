//! `conntrack -E` event lines (also `conntrack -L` listings), plain or with `-o timestamp`,
//! `-o extended` and `-o id`:
//!
//! ```text
//! [1700000000.123456]     [NEW] ipv4     2 tcp      6 120 SYN_SENT src=198.51.100.7 dst=10.0.0.5 sport=40000 dport=22 [UNREPLIED] src=10.0.0.5 dst=198.51.100.7 sport=22 dport=40000 id=3735928559
//! ```
//!
//! (conntrack writes a tab after the bracketed time.) The summary conntrack prints when it
//! ends is not a record and is skipped. The first tuple is the original direction
//! (originator -> responder), the second the reply. With accounting on, `packets=` and
//! `bytes=` follow each tuple. Every message (NEW, UPDATE, DESTROY) becomes one event whose
//! outcome is the connection's state at that message; the messages of one connection share a
//! [`FlowRef`] (the conntrack id, or the original tuple), DESTROY being the last. Lines without `-o timestamp` get the
//! reader's clock time.

use std::net::SocketAddr;

use picket_model::{ConnEvent, ConnOutcome, FlowRef, Transport};

use crate::error::LineProblem;
use crate::fields::{self, Res};
use crate::input::{Line, LineCtx, LineResult};

/// Whether a line can only be a conntrack line (for format detection).
pub(crate) fn looks_like(line: &str) -> bool {
    let mut src = false;
    let mut dst = false;
    for t in line.split_ascii_whitespace() {
        if matches!(t, "[NEW]" | "[UPDATE]" | "[DESTROY]") {
            return true;
        }
        src |= t.starts_with("src=");
        dst |= t.starts_with("dst=");
    }
    src && dst
}

/// The original tuple's and the reply tuple's values, in the order they appear.
#[derive(Default)]
struct Tuple<'a> {
    src: Option<&'a str>,
    dst: Option<&'a str>,
    sport: Option<&'a str>,
    dport: Option<&'a str>,
    packets: Option<&'a str>,
    bytes: Option<&'a str>,
}

pub(crate) fn parse(line: &str, ctx: &LineCtx<'_>) -> LineResult {
    let mut rest = line.trim();
    if rest.is_empty() || is_summary(rest) {
        return Ok(Line::Nothing);
    }
    // `-o timestamp` prints `[%-8ld.%-6ld]`: the microseconds are not zero-padded but padded
    // with trailing spaces, so `[1700000000.5     ]` is 5 microseconds, not half a second.
    let mut ts = None;
    if let Some(after) = rest.strip_prefix('[')
        && let Some((inside, tail)) = after.split_once(']')
        && inside.starts_with(|c: char| c.is_ascii_digit())
    {
        ts = Some(stamp(inside.trim())?);
        rest = tail.trim_start();
    }
    let mut tokens = rest.split_ascii_whitespace().peekable();
    let destroy = tokens.peek() == Some(&"[DESTROY]");
    if tokens
        .peek()
        .is_some_and(|t| matches!(*t, "[NEW]" | "[UPDATE]" | "[DESTROY]"))
    {
        tokens.next();
    }
    // `-o extended` puts the network layer first: `ipv4 2` / `ipv6 10`.
    if tokens.peek().is_some_and(|t| matches!(*t, "ipv4" | "ipv6")) {
        tokens.next();
        tokens.next();
    }
    let name = tokens
        .next()
        .ok_or_else(|| LineProblem::missing("protocol"))?;
    let number = tokens
        .next()
        .ok_or_else(|| LineProblem::missing("protocol number"))?;
    let proto = number
        .parse::<u8>()
        .map(Transport::from_number)
        .map_err(|_| LineProblem::bad("protocol number", number, "an IP protocol number"))?;
    if Transport::parse(name).is_some_and(|named| named != proto) {
        return Err(LineProblem::malformed(format!(
            "protocol {name} does not match number {number}"
        )));
    }

    let mut tuples: [Tuple<'_>; 2] = Default::default();
    let mut seen_tuples = 0usize;
    let mut tuple_ids = 0usize;
    let mut state = None;
    let mut unreplied = false;
    let mut assured = false;
    let mut id = None;
    let mut delta = None;
    for t in tokens {
        if let Some((key, value)) = t.split_once('=') {
            if key == "src" {
                seen_tuples += 1;
            }
            let current = seen_tuples.clamp(1, 2) - 1;
            let tuple = &mut tuples[current];
            match key {
                "src" if seen_tuples <= 2 => tuple.src = Some(value),
                "dst" => tuple.dst = tuple.dst.or(Some(value)),
                "sport" => tuple.sport = tuple.sport.or(Some(value)),
                "dport" => tuple.dport = tuple.dport.or(Some(value)),
                "packets" => tuple.packets = tuple.packets.or(Some(value)),
                "bytes" => tuple.bytes = tuple.bytes.or(Some(value)),
                // ICMP tuples carry an echo `id=` each; the conntrack id (`-o id`) comes after.
                "id" if proto == Transport::Icmp && tuple_ids < seen_tuples => tuple_ids += 1,
                "id" => id = Some(value),
                "delta-time" => delta = Some(fields::seconds("delta-time", value)?),
                _ => {}
            }
        } else {
            match t {
                "[UNREPLIED]" => unreplied = true,
                "[ASSURED]" => assured = true,
                t if state.is_none()
                    && seen_tuples == 0
                    && t.bytes()
                        .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
                    && t.bytes().any(|b| b.is_ascii_uppercase()) =>
                {
                    state = Some(t);
                }
                // The timeout before the state, and flags such as [OFFLOAD].
                _ => {}
            }
        }
    }

    let [orig, reply] = tuples;
    let opt_port = |v: Option<&str>, field: &str| v.map(|v| fields::port(field, v)).transpose();
    let opt_count = |v: Option<&str>, field: &str| v.map(|v| fields::count(field, v)).transpose();
    let (src_port, dst_port) = if fields::has_ports(proto) {
        (
            opt_port(orig.sport, "sport")?,
            opt_port(orig.dport, "dport")?,
        )
    } else {
        (None, None)
    };
    let ts = match ts {
        Some(ts) => ts,
        None => (ctx.now)(),
    };
    let src = fields::ip("src", need(orig.src, "src")?)?;
    let dst = fields::ip("dst", need(orig.dst, "dst")?)?;
    // Without `-o id`, the original tuple names the connection until its DESTROY.
    let key = match (id, src_port.zip(dst_port)) {
        (Some(id), _) => id.to_owned(),
        (None, Some((sport, dport))) => format!(
            "{proto} {} > {}",
            SocketAddr::new(src, sport),
            SocketAddr::new(dst, dport)
        ),
        (None, None) => format!("{proto} {src} > {dst}"),
    };
    Ok(Line::Event(ConnEvent {
        ts,
        src,
        src_port,
        dst,
        dst_port,
        proto,
        outcome: outcome(proto, state, unreplied, assured),
        duration: delta,
        bytes_out: opt_count(orig.bytes, "bytes")?,
        bytes_in: opt_count(reply.bytes, "bytes")?,
        packets_out: opt_count(orig.packets, "packets")?,
        packets_in: opt_count(reply.packets, "packets")?,
        uid: id.map(str::to_owned),
        flow: Some(FlowRef { key, last: destroy }),
        source: ctx.source(),
    }))
}

/// The line conntrack prints on standard error when it ends, which ends up in a log written
/// with `2>&1`: `conntrack v1.4.6 (conntrack-tools): 2 flow entries have been shown.` (`-L`) or
/// `... 5 flow events have been shown.` (`-E`).
fn is_summary(line: &str) -> bool {
    line.starts_with("conntrack v")
        && line.contains("(conntrack-tools): ")
        && line.ends_with(" have been shown.")
}

fn need<'a>(v: Option<&'a str>, field: &str) -> Res<&'a str> {
    v.ok_or_else(|| LineProblem::missing(field))
}

fn stamp(inside: &str) -> Res<picket_model::Timestamp> {
    let bad = || LineProblem::bad("timestamp", inside, "a time");
    let (secs, micros) = inside.split_once('.').unwrap_or((inside, "0"));
    let secs: i64 = secs.trim().parse().map_err(|_| bad())?;
    let micros: i32 = micros.trim().parse().map_err(|_| bad())?;
    if !(0..1_000_000).contains(&micros) {
        return Err(bad());
    }
    picket_model::Timestamp::new(secs, micros * 1000).map_err(|_| bad())
}

/// The connection's state at this message.
fn outcome(proto: Transport, state: Option<&str>, unreplied: bool, assured: bool) -> ConnOutcome {
    if unreplied {
        return ConnOutcome::Attempted;
    }
    if assured {
        // Traffic both ways (UDP) or the handshake's final ACK (TCP).
        return ConnOutcome::Established;
    }
    if proto != Transport::Tcp {
        // No [UNREPLIED]: the other side answered.
        return ConnOutcome::Established;
    }
    match state {
        Some("ESTABLISHED" | "FIN_WAIT" | "CLOSE_WAIT" | "LAST_ACK" | "TIME_WAIT") => {
            ConnOutcome::Established
        }
        Some("SYN_SENT" | "SYN_SENT2" | "SYN_RECV") => ConnOutcome::Attempted,
        // Closed without ever being assured: the answer to the SYN was a reset.
        Some("CLOSE") => ConnOutcome::Rejected,
        // DESTROY messages carry no state.
        _ => ConnOutcome::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> Result<Option<ConnEvent>, LineProblem> {
        let now = || "2024-01-01T00:00:00Z".parse().unwrap();
        parse(
            line,
            &LineCtx {
                file: "conntrack.log",
                line: 1,
                now: &now,
            },
        )
        .map(Line::into_event)
    }

    #[test]
    fn new_unreplied_with_timestamp() {
        let ev = run("[1700000000.5     ]\t    [NEW] tcp      6 120 SYN_SENT src=198.51.100.7 dst=10.0.0.5 sport=40000 dport=22 [UNREPLIED] src=10.0.0.5 dst=198.51.100.7 sport=22 dport=40000")
            .unwrap()
            .unwrap();
        assert_eq!(ev.ts.as_microsecond(), 1_700_000_000_000_005);
        assert_eq!(ev.outcome, ConnOutcome::Attempted);
        assert_eq!(ev.dst_port, Some(22));
        assert_eq!(ev.src.to_string(), "198.51.100.7");
    }

    #[test]
    fn destroy_with_counters_and_id() {
        let ev = run("[DESTROY] ipv4     2 tcp      6 src=10.0.0.5 dst=203.0.113.9 sport=5000 dport=443 packets=10 bytes=900 src=203.0.113.9 dst=10.0.0.5 sport=443 dport=5000 packets=8 bytes=4000 [ASSURED] mark=0 delta-time=12 use=1 id=77")
            .unwrap()
            .unwrap();
        assert_eq!(ev.ts.to_string(), "2024-01-01T00:00:00Z", "clock time");
        assert_eq!((ev.bytes_out, ev.bytes_in), (Some(900), Some(4000)));
        assert_eq!((ev.packets_out, ev.packets_in), (Some(10), Some(8)));
        assert_eq!(ev.outcome, ConnOutcome::Established);
        assert_eq!(ev.uid.as_deref(), Some("77"));
        assert_eq!(ev.duration, Some(std::time::Duration::from_secs(12)));
    }

    #[test]
    fn icmp_echo_ids_are_not_the_conntrack_id() {
        let ev = run("[NEW] icmp     1 30 src=10.0.0.5 dst=10.0.0.1 type=8 code=0 id=9 [UNREPLIED] src=10.0.0.1 dst=10.0.0.5 type=0 code=0 id=9")
            .unwrap()
            .unwrap();
        assert_eq!(ev.uid, None);
        assert_eq!(ev.dst_port, None);
        let ev = run("[NEW] icmp     1 30 src=10.0.0.5 dst=10.0.0.1 type=8 code=0 id=9 [UNREPLIED] src=10.0.0.1 dst=10.0.0.5 type=0 code=0 id=9 id=1234")
            .unwrap()
            .unwrap();
        assert_eq!(ev.uid.as_deref(), Some("1234"));
    }

    #[test]
    fn the_closing_summary_is_no_record() {
        for line in [
            "conntrack v1.4.6 (conntrack-tools): 2 flow entries have been shown.",
            "conntrack v1.4.8 (conntrack-tools): 0 flow entries have been shown.",
            "conntrack v1.4.7 (conntrack-tools): 12 flow events have been shown.",
        ] {
            assert_eq!(run(line).unwrap(), None, "{line}");
        }
        assert!(
            run("conntrack v1.4.6 (conntrack-tools): 1 flow entries have been deleted.").is_err()
        );
    }

    #[test]
    fn bad_lines() {
        assert_eq!(
            run("[NEW] tcp 6 120 SYN_SENT src=10.0.0.5 dst=10.0.0.1 sport=1 dport=99999")
                .unwrap_err()
                .to_string(),
            "field dport: '99999' is not a port"
        );
        assert!(run("[NEW] tcp 17 src=10.0.0.5 dst=10.0.0.1").is_err());
        assert!(run("[NEW]").is_err());
        assert!(run("[1.9999999] [NEW] udp 17 src=1.1.1.1 dst=1.1.1.1").is_err());
        assert_eq!(
            run("[UPDATE] tcp 6 10 CLOSE src=10.0.0.5 dst=10.0.0.1 sport=1 dport=2 src=10.0.0.1 dst=10.0.0.5 sport=2 dport=1").unwrap().unwrap().outcome,
            ConnOutcome::Rejected
        );
    }
}
