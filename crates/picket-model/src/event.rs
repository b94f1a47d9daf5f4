//! Connection events: the one shape every connection-log source (Zeek, Suricata, VPC flow logs,
//! conntrack, NDJSON) is parsed into before the threat pipeline sees it.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Timestamp;
use crate::observation::opt_micros;

/// The transport protocol of a connection.
///
/// ICMP and ICMPv6 (IP protocols 1 and 58) are both [`Transport::Icmp`]: Zeek reports both as
/// `icmp`, so the flow-log sources that give numbers must agree with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Tcp,
    Udp,
    Icmp,
    /// Any other IP protocol, by its IANA number.
    Other(u8),
}

impl Transport {
    /// From an IANA protocol number (6, 17, 1, 58, ...).
    pub fn from_number(n: u8) -> Self {
        match n {
            6 => Transport::Tcp,
            17 => Transport::Udp,
            1 | 58 => Transport::Icmp,
            n => Transport::Other(n),
        }
    }

    /// From a protocol name as the sources print it (`tcp`, `TCP`, `IPv6-ICMP`, `gre`) or an IANA
    /// number as text (`47`). `None` for names this table does not know.
    pub fn parse(s: &str) -> Option<Self> {
        if let Ok(n) = s.parse::<u8>() {
            return Some(Self::from_number(n));
        }
        // Names from IANA's protocol-numbers registry that network sensors commonly print.
        const NAMES: &[(&str, u8)] = &[
            ("tcp", 6),
            ("udp", 17),
            ("icmp", 1),
            ("icmpv6", 58),
            ("ipv6-icmp", 58),
            ("icmp6", 58),
            ("igmp", 2),
            ("gre", 47),
            ("esp", 50),
            ("ah", 51),
            ("sctp", 132),
            ("udplite", 136),
        ];
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(_, n)| Self::from_number(*n))
    }

    /// The canonical text form: `tcp`, `udp`, `icmp`, or the IANA number of any other protocol.
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        match self {
            Transport::Tcp => "tcp".into(),
            Transport::Udp => "udp".into(),
            Transport::Icmp => "icmp".into(),
            Transport::Other(n) => n.to_string().into(),
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Transport {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| format!("unknown transport protocol {s:?}"))
    }
}

impl Serialize for Transport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Transport {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How far a connection got, as far as the source could tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnOutcome {
    /// The responder took part: a completed handshake, traffic both ways, or a flow the
    /// firewall accepted.
    Established,
    /// The originator tried and no usable answer came back (no reply, or only half a handshake).
    Attempted,
    /// The responder or a firewall refused it (TCP reset to the SYN, firewall REJECT).
    Rejected,
    /// The source does not say.
    Unknown,
}

impl ConnOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnOutcome::Established => "established",
            ConnOutcome::Attempted => "attempted",
            ConnOutcome::Rejected => "rejected",
            ConnOutcome::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ConnOutcome::Established,
            ConnOutcome::Attempted,
            ConnOutcome::Rejected,
            ConnOutcome::Unknown,
        ]
        .into_iter()
        .find(|o| o.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for ConnOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an event came from: the file (or `-` for standard input) and its 1-based line number,
/// so that an alert can point a person at the log line that raised it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceRef {
    pub file: String,
    pub line: u64,
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One connection (or flow record) seen by a sensor.
///
/// `src` is the originator and `dst` the responder wherever the source knows which is which;
/// `*_out` counts flow from originator to responder and `*_in` the way back. Ports are `None`
/// for protocols without ports (ICMP carries type and code there in most sources).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnEvent {
    /// When the connection started (the first packet), or when the source logged it if it does
    /// not say.
    pub ts: Timestamp,
    pub src: IpAddr,
    pub src_port: Option<u16>,
    pub dst: IpAddr,
    pub dst_port: Option<u16>,
    pub proto: Transport,
    pub outcome: ConnOutcome,
    #[serde(
        default,
        with = "opt_micros",
        skip_serializing_if = "Option::is_none",
        rename = "duration_us"
    )]
    pub duration: Option<Duration>,
    pub bytes_out: Option<u64>,
    pub bytes_in: Option<u64>,
    pub packets_out: Option<u64>,
    pub packets_in: Option<u64>,
    /// The source's own identifier (Zeek `uid`, Suricata `flow_id`, conntrack `id`, VPC
    /// `interface-id`), to find the record again in the source's tools.
    pub uid: Option<String>,
    /// Set by sources that write several records for one connection, so that it is counted
    /// once; `None` when every record is a connection of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowRef>,
    pub source: SourceRef,
}

/// What ties together the records a source writes for one connection: Suricata's alerts and
/// flow record share a `flow_id`; `conntrack -E` writes NEW, UPDATE and DESTROY for one
/// connection. Their counters grow from record to record, so the newest are the connection's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FlowRef {
    /// The same for every record of the connection within one source file (the flow id, or the
    /// five-tuple where the source gives no id).
    pub key: String,
    /// This record ends the connection (Suricata's `flow` record, conntrack's DESTROY): a later
    /// record with the same key is another connection.
    pub last: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_names_and_numbers() {
        assert_eq!(Transport::parse("TCP"), Some(Transport::Tcp));
        assert_eq!(Transport::parse("IPv6-ICMP"), Some(Transport::Icmp));
        assert_eq!(Transport::parse("58"), Some(Transport::Icmp));
        assert_eq!(Transport::parse("gre"), Some(Transport::Other(47)));
        assert_eq!(Transport::parse("300"), None);
        assert_eq!(Transport::parse("carrier-pigeon"), None);
        assert_eq!(Transport::Other(47).to_string(), "47");
        assert_eq!(Transport::parse("47"), Some(Transport::Other(47)));
    }

    #[test]
    fn event_json_round_trip() {
        let ev = ConnEvent {
            ts: "2024-05-01T12:00:00Z".parse().unwrap(),
            src: "203.0.113.7".parse().unwrap(),
            src_port: Some(51515),
            dst: "192.168.1.10".parse().unwrap(),
            dst_port: Some(22),
            proto: Transport::Tcp,
            outcome: ConnOutcome::Attempted,
            duration: Some(Duration::from_micros(1500)),
            bytes_out: Some(60),
            bytes_in: None,
            packets_out: Some(1),
            packets_in: None,
            uid: None,
            flow: None,
            source: SourceRef {
                file: "conn.log".into(),
                line: 9,
            },
        };
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["proto"], "tcp");
        assert_eq!(v["outcome"], "attempted");
        assert_eq!(v["duration_us"], 1500);
        let back: ConnEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, ev);
    }
}
