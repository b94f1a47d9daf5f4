//! AWS VPC flow logs: space-separated records.
//!
//! Without a header, records must be in the default (version 2) format:
//! `version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start
//! end action log-status`. A header line of field names (as files delivered to S3 start with,
//! `${...}` accepted as in the format string) declares a custom format and replaces the
//! layout until the next header. `NODATA` and `SKIPDATA` records carry no flow and are skipped.
//!
//! A record counts one direction of a flow through one interface, so its packets and bytes are
//! `*_out` (from `srcaddr` to `dstaddr`). `ACCEPT` becomes [`ConnOutcome::Established`]: the
//! security groups and network ACLs let the traffic through to the interface, which is all a
//! flow log can tell (it does not see whether the handshake completed). `REJECT` becomes
//! [`ConnOutcome::Rejected`].

use picket_model::{ConnEvent, ConnOutcome, Transport};

use crate::error::LineProblem;
use crate::fields::{self, Res};
use crate::input::{Line, LineCtx, LineResult};

const DEFAULT_V2: [&str; 14] = [
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// Columns this reader uses, in slot order.
const USED: [&str; 11] = [
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];
const SRCADDR: usize = 0;
const DSTADDR: usize = 1;
const SRCPORT: usize = 2;
const DSTPORT: usize = 3;
const PROTOCOL: usize = 4;
const PACKETS: usize = 5;
const BYTES: usize = 6;
const START: usize = 7;
const END: usize = 8;
const ACTION: usize = 9;
const LOG_STATUS: usize = 10;
const INTERFACE_ID: &str = "interface-id";

#[derive(Debug, Default, Clone)]
pub(crate) struct VpcFlow {
    /// The declared layout, if a header line was seen.
    header: Option<(String, Result<Layout, String>)>,
}

#[derive(Debug, Clone)]
struct Layout {
    /// For each column, the slot it fills.
    slots: Vec<Option<usize>>,
    /// The column holding `interface-id`, kept as the event's id.
    interface: Option<usize>,
}

impl Layout {
    fn new(names: &[&str]) -> Result<Self, String> {
        let slots: Vec<Option<usize>> = names
            .iter()
            .map(|n| USED.iter().position(|u| u == n))
            .collect();
        for required in [SRCADDR, DSTADDR, START] {
            if !slots.contains(&Some(required)) {
                return Err(format!("header has no {} field", USED[required]));
            }
        }
        Ok(Self {
            slots,
            interface: names.iter().position(|n| *n == INTERFACE_ID),
        })
    }
}

/// A header line names `srcaddr` and `dstaddr` as words: no record can.
fn header_names(line: &str) -> Option<Vec<&str>> {
    let names: Vec<&str> = line
        .split_ascii_whitespace()
        .map(|t| {
            t.strip_prefix("${")
                .and_then(|t| t.strip_suffix('}'))
                .unwrap_or(t)
        })
        .collect();
    (names.contains(&"srcaddr") && names.contains(&"dstaddr")).then_some(names)
}

/// Whether a line can only be a VPC flow log line (for format detection).
pub(crate) fn looks_like(line: &str) -> bool {
    if header_names(line).is_some() {
        return true;
    }
    let cols: Vec<&str> = line.split_ascii_whitespace().collect();
    cols.len() == DEFAULT_V2.len()
        && cols[0] == "2"
        && matches!(cols[12], "ACCEPT" | "REJECT" | "-")
        && matches!(cols[13], "OK" | "NODATA" | "SKIPDATA")
}

impl VpcFlow {
    pub fn parse(&mut self, line: &str, ctx: &LineCtx<'_>) -> LineResult {
        let line = line.trim();
        if line.is_empty() {
            return Ok(Line::Nothing);
        }
        if let Some(names) = header_names(line) {
            let layout = Layout::new(&names);
            let problem = layout.as_ref().err().cloned();
            self.header = Some((line.to_owned(), layout));
            return match problem {
                Some(why) => Err(LineProblem::malformed(why)),
                None => Ok(Line::Nothing),
            };
        }
        let mut cols: Vec<&str> = Vec::with_capacity(DEFAULT_V2.len());
        cols.extend(line.split_ascii_whitespace());
        let default;
        let layout = match &self.header {
            Some((_, Ok(layout))) => layout,
            Some((_, Err(why))) => {
                return Err(LineProblem::malformed(format!("unusable header: {why}")));
            }
            None if cols.len() == DEFAULT_V2.len() && cols[0] == "2" => {
                default = Layout::new(&DEFAULT_V2).map_err(LineProblem::malformed)?;
                &default
            }
            None => {
                return Err(LineProblem::malformed(
                    "no header line, and not a default (version 2) record",
                ));
            }
        };
        if cols.len() != layout.slots.len() {
            return Err(LineProblem::malformed(format!(
                "{} fields, but the format has {}",
                cols.len(),
                layout.slots.len()
            )));
        }
        let mut vals: [Option<&str>; USED.len()] = [None; USED.len()];
        for (v, slot) in cols.iter().zip(&layout.slots) {
            if let Some(slot) = slot
                && *v != "-"
            {
                vals[*slot] = Some(v);
            }
        }
        if let Some(status @ ("NODATA" | "SKIPDATA")) = vals[LOG_STATUS] {
            return Ok(Line::Other(status.to_owned()));
        }
        let uid = layout
            .interface
            .and_then(|i| cols.get(i))
            .filter(|v| **v != "-")
            .map(|v| (*v).to_owned());
        event(&vals, uid, ctx).map(Line::Event)
    }

    pub fn header(&self) -> Vec<String> {
        self.header.iter().map(|(line, _)| line.clone()).collect()
    }
}

fn event(
    vals: &[Option<&str>; USED.len()],
    uid: Option<String>,
    ctx: &LineCtx<'_>,
) -> Res<ConnEvent> {
    let name = |slot: usize| USED[slot];
    let need = |slot: usize| vals[slot].ok_or_else(|| LineProblem::missing(name(slot)));
    let opt = |slot: usize| vals[slot].map(|v| (name(slot), v));
    let start = fields::epoch(name(START), need(START)?)?;
    let end = opt(END).map(|(n, v)| fields::epoch(n, v)).transpose()?;
    let proto = match opt(PROTOCOL) {
        Some((n, v)) => v
            .parse::<u8>()
            .map(Transport::from_number)
            .map_err(|_| LineProblem::bad(n, v, "an IP protocol number"))?,
        None => return Err(LineProblem::missing(name(PROTOCOL))),
    };
    let (src_port, dst_port) = if fields::has_ports(proto) {
        (
            opt(SRCPORT).map(|(n, v)| fields::port(n, v)).transpose()?,
            opt(DSTPORT).map(|(n, v)| fields::port(n, v)).transpose()?,
        )
    } else {
        (None, None)
    };
    let outcome = match opt(ACTION) {
        None => ConnOutcome::Unknown,
        Some((_, "ACCEPT")) => ConnOutcome::Established,
        Some((_, "REJECT")) => ConnOutcome::Rejected,
        Some((n, v)) => return Err(LineProblem::bad(n, v, "ACCEPT or REJECT")),
    };
    Ok(ConnEvent {
        ts: start,
        src: fields::ip(name(SRCADDR), need(SRCADDR)?)?,
        src_port,
        dst: fields::ip(name(DSTADDR), need(DSTADDR)?)?,
        dst_port,
        proto,
        outcome,
        duration: end.and_then(|e| fields::between(start, e)),
        bytes_out: opt(BYTES).map(|(n, v)| fields::count(n, v)).transpose()?,
        bytes_in: None,
        packets_out: opt(PACKETS).map(|(n, v)| fields::count(n, v)).transpose()?,
        packets_in: None,
        uid,
        // Each record counts one direction over one aggregation interval: records add up.
        flow: None,
        source: ctx.source(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: &mut VpcFlow, line: &str) -> Result<Option<ConnEvent>, LineProblem> {
        let now = || picket_model::Timestamp::UNIX_EPOCH;
        p.parse(
            line,
            &LineCtx {
                file: "vpc.log",
                line: 1,
                now: &now,
            },
        )
        .map(Line::into_event)
    }

    #[test]
    fn default_format_without_header() {
        let mut p = VpcFlow::default();
        let ev = run(&mut p, "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK")
            .unwrap()
            .unwrap();
        assert_eq!(ev.outcome, ConnOutcome::Rejected);
        assert_eq!(ev.duration, Some(std::time::Duration::from_secs(60)));
        assert_eq!(ev.uid.as_deref(), Some("eni-1235b8ca123456789"));
        assert_eq!(
            run(
                &mut p,
                "2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA"
            )
            .unwrap(),
            None
        );
        assert!(run(&mut p, "3 vpc-1 10.0.0.1").is_err());
    }

    #[test]
    fn custom_header() {
        let mut p = VpcFlow::default();
        assert_eq!(
            run(&mut p, "${version} ${vpc-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} ${action} ${tcp-flags}").unwrap(),
            None
        );
        let ev = run(
            &mut p,
            "5 vpc-abc 198.51.100.7 10.0.1.5 40000 22 6 1700000000 1700000030 ACCEPT 2",
        )
        .unwrap()
        .unwrap();
        assert_eq!(ev.dst_port, Some(22));
        assert_eq!(ev.outcome, ConnOutcome::Established);
        assert_eq!(ev.uid, None);
        let e = run(
            &mut p,
            "5 vpc-abc 198.51.100.7 10.0.1.5 40000 x 6 1700000000 1700000030 ACCEPT 2",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "field dstport: 'x' is not a port");
        assert!(run(&mut p, "srcaddr dstaddr").is_err(), "no start field");
        assert!(
            run(&mut p, "5 vpc-abc")
                .unwrap_err()
                .to_string()
                .contains("unusable header")
        );
    }
}
