//! Host discovery: before its ports are scanned, each address is asked whether anything is there,
//! so that a dead address costs one discovery round instead of a port scan.
//!
//! Nmap's defaults are the reference. Without raw sockets Nmap connects to ports 80 and 443; we
//! add 22 and 3389, the other ports servers most often leave open, and an ICMP echo where the
//! process may send one ([`crate::echo`]). Any answer from the host itself (a SYN-ACK, a reset,
//! an echo reply, an ICMP error sent by the host) means it is up. On a directly
//! attached segment the kernel resolves each address with ARP before the first SYN leaves, and
//! the neighbour table says whether it answered ([`crate::neighbours`]): that finds a host whose
//! firewall drops everything, as Nmap's ARP ping does. An answer cached from earlier counts only
//! once the kernel has verified it again (discovery waits for that). An ICMP host- or network-unreachable, or
//! our own stack failing to resolve the address, means it is down. Otherwise a second round is
//! sent (the first may have been lost), and a host silent to both is down (`no-response`);
//! `--no-ping` skips discovery and scans every address.

use std::net::IpAddr;

use picket_model::{HostReason, Reason};

use crate::neighbours::Neighbour;
use crate::probe::ProbeResult;

/// One probe of a discovery round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    Tcp(u16),
    Echo,
}

/// The probes of every discovery round: connects to the ports servers most often leave open, and
/// an ICMP echo where the process may send one.
pub(crate) const PROBES: [Probe; 5] = [
    Probe::Tcp(80),
    Probe::Tcp(443),
    Probe::Tcp(22),
    Probe::Tcp(3389),
    Probe::Echo,
];

/// Rounds before a host that nothing was heard from is called down.
const ROUNDS: u8 = 2;
/// Rounds while a neighbour entry learnt before discovery began waits to be verified again: the
/// kernel keeps it `REACHABLE` for up to 45 s after its last confirmation, then re-verifies it
/// once it is used (about 5 s later, then up to 3 unicast requests a second apart). Until it is
/// answered again or has failed, a cached answer is no evidence that the host is there now.
/// A round lasts 0.3 to 1 s.
const ROUNDS_WHILE_UNVERIFIED: u8 = 60;

/// One address being discovered.
#[derive(Debug, Clone, Default)]
pub(crate) struct Discovery {
    round: u8,
    /// Probes of the current round still out.
    out: usize,
    /// Our own stack or a router said the address cannot be reached.
    unreachable: Option<HostReason>,
}

/// What discovery knows about a host after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Nothing decided yet: probes of the round are still out.
    Pending,
    Up(HostReason),
    Down(HostReason),
    /// The round ended without evidence: send another.
    NextRound,
}

impl Discovery {
    /// Starts the next round: the caller sends each of [`PROBES`].
    pub fn start_round(&mut self) {
        self.round += 1;
        self.out = PROBES.len();
    }

    /// The round's ICMP echo came back answered or not (`None`: it could not be sent).
    pub fn on_echo(
        &mut self,
        answered: Option<bool>,
        neighbour: impl FnOnce() -> Option<Neighbour>,
    ) -> Found {
        self.out = self.out.saturating_sub(1);
        if answered == Some(true) {
            return Found::Up(HostReason::EchoReply);
        }
        if self.out > 0 {
            return Found::Pending;
        }
        self.round_over(neighbour())
    }

    /// A probe of the current round came back (`None`: it failed on our side).
    pub fn on_probe(
        &mut self,
        address: IpAddr,
        result: Option<&ProbeResult>,
        neighbour: impl FnOnce() -> Option<Neighbour>,
    ) -> Found {
        self.out = self.out.saturating_sub(1);
        if let Some(r) = result {
            match r.reason {
                Reason::SynAck | Reason::Reset => return Found::Up(HostReason::PortAnswered),
                _ if r.local_unreach => {
                    self.unreachable = Some(if r.reason == Reason::NetUnreach {
                        HostReason::NetUnreach
                    } else {
                        HostReason::HostUnreach
                    });
                }
                // An ICMP error from the host itself: something is there, filtering.
                _ if r.reason.is_answer() && r.icmp_from == Some(address) => {
                    return Found::Up(HostReason::PortAnswered);
                }
                Reason::HostUnreach => self.unreachable = Some(HostReason::HostUnreach),
                Reason::NetUnreach => self.unreachable = Some(HostReason::NetUnreach),
                _ => {}
            }
        }
        if self.out > 0 {
            return Found::Pending;
        }
        self.round_over(neighbour())
    }

    fn round_over(&self, neighbour: Option<Neighbour>) -> Found {
        match (neighbour, self.unreachable) {
            (Some(Neighbour::Answered), _) => Found::Up(HostReason::ArpResponse),
            (_, Some(reason)) => Found::Down(reason),
            // The kernel asked for it on the link for a whole round and nobody answered.
            (Some(Neighbour::Unanswered), None) => Found::Down(HostReason::HostUnreach),
            (Some(Neighbour::Unverified), None) if self.round < ROUNDS_WHILE_UNVERIFIED => {
                Found::NextRound
            }
            (Some(Neighbour::Unverified), None) => Found::Down(HostReason::NoResponse),
            (None, None) if self.round < ROUNDS => Found::NextRound,
            (None, None) => Found::Down(HostReason::NoResponse),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const HOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 2));

    fn result(reason: Reason, from: Option<IpAddr>, local: bool) -> ProbeResult {
        ProbeResult {
            reason,
            rtt: Some(Duration::from_millis(1)),
            icmp_from: from,
            local_unreach: local,
        }
    }

    fn silent_round(d: &mut Discovery, neighbour: Option<Neighbour>) -> Found {
        d.start_round();
        let mut found = Found::Pending;
        for probe in PROBES {
            found = match probe {
                Probe::Tcp(_) => d.on_probe(HOST, Some(&ProbeResult::no_response()), || neighbour),
                Probe::Echo => d.on_echo(Some(false), || neighbour),
            };
        }
        found
    }

    #[test]
    fn any_tcp_answer_is_up() {
        let mut d = Discovery::default();
        d.start_round();
        let r = result(Reason::Reset, None, false);
        assert_eq!(
            d.on_probe(HOST, Some(&r), || None),
            Found::Up(HostReason::PortAnswered)
        );
    }

    #[test]
    fn an_icmp_error_from_the_host_itself_is_up_from_a_router_is_down() {
        let mut d = Discovery::default();
        d.start_round();
        let r = result(Reason::AdminProhibited, Some(HOST), false);
        assert_eq!(
            d.on_probe(HOST, Some(&r), || None),
            Found::Up(HostReason::PortAnswered)
        );
        let mut d = Discovery::default();
        d.start_round();
        let router = Some("198.18.0.1".parse().unwrap());
        let r = result(Reason::HostUnreach, router, false);
        for _ in 1..PROBES.len() {
            assert_eq!(d.on_probe(HOST, Some(&r), || None), Found::Pending);
        }
        assert_eq!(
            d.on_probe(HOST, Some(&r), || None),
            Found::Down(HostReason::HostUnreach)
        );
    }

    #[test]
    fn an_echo_reply_is_up() {
        let mut d = Discovery::default();
        d.start_round();
        assert_eq!(
            d.on_echo(Some(true), || None),
            Found::Up(HostReason::EchoReply)
        );
    }

    #[test]
    fn an_arp_answer_is_up_though_every_probe_was_dropped() {
        let mut d = Discovery::default();
        assert_eq!(
            silent_round(&mut d, Some(Neighbour::Answered)),
            Found::Up(HostReason::ArpResponse)
        );
    }

    #[test]
    fn an_unanswered_arp_request_is_down_after_one_round() {
        let mut d = Discovery::default();
        assert_eq!(
            silent_round(&mut d, Some(Neighbour::Unanswered)),
            Found::Down(HostReason::HostUnreach)
        );
    }

    #[test]
    fn a_cached_answer_waits_for_the_kernel_to_verify_it_again() {
        let mut d = Discovery::default();
        for _ in 1..ROUNDS_WHILE_UNVERIFIED {
            assert_eq!(
                silent_round(&mut d, Some(Neighbour::Unverified)),
                Found::NextRound
            );
        }
        assert_eq!(
            silent_round(&mut d, Some(Neighbour::Unverified)),
            Found::Down(HostReason::NoResponse),
            "never verified: nothing was heard from it"
        );
        let mut d = Discovery::default();
        silent_round(&mut d, Some(Neighbour::Unverified));
        assert_eq!(
            silent_round(&mut d, Some(Neighbour::Answered)),
            Found::Up(HostReason::ArpResponse),
            "verified again"
        );
        let mut d = Discovery::default();
        silent_round(&mut d, Some(Neighbour::Unverified));
        assert_eq!(
            silent_round(&mut d, Some(Neighbour::Unanswered)),
            Found::Down(HostReason::HostUnreach),
            "the verification failed"
        );
    }

    #[test]
    fn silence_off_the_link_gets_a_second_round() {
        let mut d = Discovery::default();
        assert_eq!(silent_round(&mut d, None), Found::NextRound);
        assert_eq!(
            silent_round(&mut d, None),
            Found::Down(HostReason::NoResponse)
        );
    }
}
