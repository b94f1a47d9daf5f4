//! What one probe sequence concluded about one port, and about one host.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ServiceInfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a port, as Nmap users know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    /// Something accepted the connection.
    Open,
    /// The host answered with a reset (or an ICMP port-unreachable): nothing listens.
    Closed,
    /// No answer, or an ICMP message saying a filter is in the way.
    Filtered,
}

impl PortState {
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
        }
    }
}

impl fmt::Display for PortState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The evidence that decided a port's state. The names follow Nmap's `--reason` where one exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The TCP handshake completed.
    SynAck,
    /// The host answered with a TCP reset.
    Reset,
    /// ICMP port unreachable (some stacks and firewalls answer closed ports this way).
    PortUnreach,
    /// Every attempt timed out.
    NoResponse,
    /// ICMP administratively prohibited / communication filtered.
    AdminProhibited,
    /// ICMP host unreachable about this one port, from a router in the path.
    HostUnreach,
    /// ICMP network unreachable about this one port, from a router in the path.
    NetUnreach,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::Reset => "reset",
            Reason::PortUnreach => "port-unreach",
            Reason::NoResponse => "no-response",
            Reason::AdminProhibited => "admin-prohibited",
            Reason::HostUnreach => "host-unreach",
            Reason::NetUnreach => "net-unreach",
        }
    }

    /// The state this reason implies.
    pub fn state(self) -> PortState {
        match self {
            Reason::SynAck => PortState::Open,
            Reason::Reset | Reason::PortUnreach => PortState::Closed,
            Reason::NoResponse
            | Reason::AdminProhibited
            | Reason::HostUnreach
            | Reason::NetUnreach => PortState::Filtered,
        }
    }

    /// Whether this reason proves that the host (or a device in front of it) answered us.
    pub fn is_answer(self) -> bool {
        self != Reason::NoResponse
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One port's result in one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub port: u16,
    pub protocol: Protocol,
    pub state: PortState,
    pub reason: Reason,
    /// Round-trip time of the answer that decided the state.
    #[serde(
        default,
        with = "opt_micros",
        skip_serializing_if = "Option::is_none",
        rename = "rtt_us"
    )]
    pub rtt: Option<Duration>,
    /// Probes sent for this port (1 + retries used).
    pub attempts: u8,
    /// Who sent the ICMP message, when the reason is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_from: Option<IpAddr>,
    /// What listens there, when service detection (`--service-detect`) ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceInfo>,
}

impl Observation {
    pub fn new(port: u16, reason: Reason, rtt: Option<Duration>, attempts: u8) -> Self {
        Self {
            port,
            protocol: Protocol::Tcp,
            state: reason.state(),
            reason,
            rtt,
            attempts,
            icmp_from: None,
            service: None,
        }
    }
}

/// Whether a host took part in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostState {
    Up,
    Down,
}

impl HostState {
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Up => "up",
            HostState::Down => "down",
        }
    }
}

impl fmt::Display for HostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a host is considered up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostReason {
    /// At least one port answered (open, reset or an ICMP message from the host itself).
    PortAnswered,
    /// Host discovery found it on the local link: the kernel's ARP request was answered, though
    /// every probe may have been dropped (a default-drop host).
    ArpResponse,
    /// Host discovery's ICMP echo was answered.
    EchoReply,
    /// Scanned without a liveness decision (`--no-ping`): nothing answered, but it was not skipped.
    UserSet,
    /// Nothing answered at all.
    NoResponse,
    /// Our own stack or a router said the host cannot be reached (no ARP/ND answer, ICMP host
    /// unreachable).
    HostUnreach,
    /// No route to the host's network.
    NetUnreach,
}

impl HostReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HostReason::PortAnswered => "port-answered",
            HostReason::ArpResponse => "arp-response",
            HostReason::EchoReply => "echo-reply",
            HostReason::UserSet => "user-set",
            HostReason::NoResponse => "no-response",
            HostReason::HostUnreach => "host-unreach",
            HostReason::NetUnreach => "net-unreach",
        }
    }
}

impl fmt::Display for HostReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serde helper: an optional duration as whole microseconds.
pub(crate) mod opt_micros {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_micros() as u64)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_micros))
    }
}

/// Serde helper: a duration as whole milliseconds.
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_decide_states() {
        assert_eq!(Reason::SynAck.state(), PortState::Open);
        assert_eq!(Reason::Reset.state(), PortState::Closed);
        assert_eq!(Reason::AdminProhibited.state(), PortState::Filtered);
        assert!(!Reason::NoResponse.is_answer());
    }

    #[test]
    fn observation_json_shape() {
        let o = Observation::new(22, Reason::SynAck, Some(Duration::from_micros(250)), 1);
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v["state"], "open");
        assert_eq!(v["reason"], "syn-ack");
        assert_eq!(v["protocol"], "tcp");
        assert_eq!(v["rtt_us"], 250);
        let back: Observation = serde_json::from_value(v).unwrap();
        assert_eq!(back, o);
    }
}
