//! The kernel's IPv4 neighbour (ARP) table, read for host discovery.
//!
//! Every connect to an address on a directly attached segment makes the kernel ask for it with
//! ARP before the SYN leaves. A host that answers ARP is on the link even when its firewall drops
//! every probe (a default-drop host); an address whose ARP request goes unanswered is not there.
//! Reading the table the kernel keeps anyway gives discovery that evidence without a raw socket,
//! and so without privileges.
//!
//! Only a fresh answer counts: an entry the kernel learnt minutes ago (`STALE`) says nothing
//! about the host now (it may have gone down since; the kernel re-verifies it with unicast ARP
//! a few seconds after it is used, and the entry then becomes `REACHABLE` or `FAILED`). The
//! table is read over rtnetlink, which gives each entry's state (`/proc/net/arp` shows a stale
//! entry as complete). A netlink socket belongs to the network namespace of the thread that
//! opens it, so a thread in another namespace than the process's first thread reads its own.

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::time::Instant;

use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto, socket,
};

/// What the table says about an address the kernel tried to reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Neighbour {
    /// It answered ARP since the given instant (see [`Entry::since`]), or is configured
    /// (`PERMANENT`, `NOARP`).
    Answered,
    /// It answered some time ago; the kernel has not re-verified it (`STALE`) or is doing so
    /// now (`DELAY`, `PROBE`): no evidence either way yet.
    Unverified,
    /// The kernel asked and nobody has answered (`INCOMPLETE`, `FAILED`).
    Unanswered,
}

/// One entry of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    state: Neighbour,
    /// When the kernel last had the neighbour confirmed (an ARP answer or traffic from it);
    /// `None` for a configured entry.
    confirmed: Option<Instant>,
}

impl Entry {
    /// What the entry says about the host since `since` (when discovery of it began): an
    /// answer confirmed before that is no evidence that the host is there now.
    pub fn since(&self, since: Instant) -> Neighbour {
        match (self.state, self.confirmed) {
            (Neighbour::Answered, Some(at)) if at < since => Neighbour::Unverified,
            (state, _) => state,
        }
    }
}

/// Reads the table of the calling thread's network namespace; empty when it cannot be read.
pub fn read() -> HashMap<Ipv4Addr, Entry> {
    let now = Instant::now();
    dump()
        .map(|table| {
            table
                .into_iter()
                .map(|(address, (state, configured, ago))| {
                    let ago = Duration::from_millis(u64::from(ago) * 1000 / USER_HZ);
                    let confirmed = (!configured).then(|| now.checked_sub(ago).unwrap_or(now));
                    (address, Entry { state, confirmed })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The kernel reports ages in `clock_t` ticks of `USER_HZ`, which its ABI fixes at 100 a second
/// on every architecture Picket builds for.
const USER_HZ: u64 = 100;

/// An entry as dumped: its state, whether it is configured, and ticks since it was confirmed.
type Raw = (Neighbour, bool, u32);

/// `struct nlmsghdr`, `struct ndmsg` and `struct rtattr` sizes.
const NLMSG_HDR: usize = 16;
const NDMSG: usize = 12;
const RTATTR_HDR: usize = 4;

fn dump() -> io::Result<HashMap<Ipv4Addr, Raw>> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let mut request = Vec::with_capacity(NLMSG_HDR + NDMSG);
    let len = (NLMSG_HDR + NDMSG) as u32;
    request.extend_from_slice(&len.to_ne_bytes());
    request.extend_from_slice(&nix::libc::RTM_GETNEIGH.to_ne_bytes());
    let flags = (nix::libc::NLM_F_REQUEST | nix::libc::NLM_F_DUMP) as u16;
    request.extend_from_slice(&flags.to_ne_bytes());
    request.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    request.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    request.push(nix::libc::AF_INET as u8);
    request.extend_from_slice(&[0; NDMSG - 1]);
    sendto(raw, &request, &NetlinkAddr::new(0, 0), MsgFlags::empty())?;
    let mut table = HashMap::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = recv(raw, &mut buf, MsgFlags::empty())?;
        if n == 0 || parse(&buf[..n], &mut table)? {
            return Ok(table);
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Adds the entries of one datagram of the dump to `table`; `true` once the dump is done.
fn parse(mut b: &[u8], table: &mut HashMap<Ipv4Addr, Raw>) -> io::Result<bool> {
    let short = || io::Error::other("truncated netlink message");
    while b.len() >= NLMSG_HDR {
        let len = u32_at(b, 0).ok_or_else(short)? as usize;
        let kind = u16_at(b, 4).ok_or_else(short)?;
        if len < NLMSG_HDR || len > b.len() {
            return Err(short());
        }
        let message = &b[NLMSG_HDR..len];
        match i32::from(kind) {
            nix::libc::NLMSG_DONE => return Ok(true),
            nix::libc::NLMSG_ERROR => {
                let errno = u32_at(message, 0).ok_or_else(short)? as i32;
                return Err(io::Error::from_raw_os_error(errno.saturating_neg()));
            }
            _ if kind == nix::libc::RTM_NEWNEIGH => {
                if let Some((address, state)) = entry(message) {
                    table.insert(address, state);
                }
            }
            _ => {}
        }
        b = b.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    Ok(false)
}

/// One `RTM_NEWNEIGH` body: the IPv4 destination, what its state says, whether it is
/// configured, and the ticks since it was last confirmed (`NDA_CACHEINFO`'s `ndm_confirmed`).
fn entry(message: &[u8]) -> Option<(Ipv4Addr, Raw)> {
    if i32::from(*message.first()?) != nix::libc::AF_INET {
        return None;
    }
    let state = u16_at(message, 8)?;
    let configured = state & (nix::libc::NUD_PERMANENT | nix::libc::NUD_NOARP) != 0;
    let mut attrs = message.get(NDMSG..)?;
    let (mut address, mut confirmed) = (None, 0);
    while attrs.len() >= RTATTR_HDR {
        let len = usize::from(u16_at(attrs, 0)?);
        let kind = u16_at(attrs, 2)?;
        if len < RTATTR_HDR || len > attrs.len() {
            return None;
        }
        let body = attrs.get(RTATTR_HDR..len)?;
        if kind == nix::libc::NDA_DST {
            let octets: [u8; 4] = body.try_into().ok()?;
            address = Some(Ipv4Addr::from(octets));
        } else if kind == nix::libc::NDA_CACHEINFO {
            confirmed = u32_at(body, 0)?;
        }
        attrs = attrs.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    Some((address?, (neighbour(state), configured, confirmed)))
}

fn neighbour(state: u16) -> Neighbour {
    if state & (nix::libc::NUD_REACHABLE | nix::libc::NUD_PERMANENT | nix::libc::NUD_NOARP) != 0 {
        Neighbour::Answered
    } else if state & (nix::libc::NUD_STALE | nix::libc::NUD_DELAY | nix::libc::NUD_PROBE) != 0 {
        Neighbour::Unverified
    } else {
        Neighbour::Unanswered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One `RTM_NEWNEIGH` message for `address` in `state`, as the kernel writes it.
    fn message(address: [u8; 4], state: u16) -> Vec<u8> {
        let mut body = vec![nix::libc::AF_INET as u8, 0, 0, 0];
        body.extend_from_slice(&3i32.to_ne_bytes());
        body.extend_from_slice(&state.to_ne_bytes());
        body.extend_from_slice(&[0, 1]);
        body.extend_from_slice(&8u16.to_ne_bytes());
        body.extend_from_slice(&nix::libc::NDA_DST.to_ne_bytes());
        body.extend_from_slice(&address);
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&nix::libc::RTM_NEWNEIGH.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&body);
        m
    }

    fn done() -> Vec<u8> {
        let mut m = (NLMSG_HDR as u32 + 4).to_ne_bytes().to_vec();
        m.extend_from_slice(&(nix::libc::NLMSG_DONE as u16).to_ne_bytes());
        m.extend_from_slice(&[0; 14]);
        m
    }

    #[test]
    fn only_a_fresh_answer_counts() {
        let mut datagram = message([198, 19, 0, 2], nix::libc::NUD_REACHABLE);
        datagram.extend(message([198, 19, 0, 3], nix::libc::NUD_STALE));
        datagram.extend(message([198, 19, 0, 4], nix::libc::NUD_DELAY));
        datagram.extend(message([198, 19, 0, 5], nix::libc::NUD_FAILED));
        datagram.extend(message([198, 19, 0, 6], nix::libc::NUD_INCOMPLETE));
        let mut table = HashMap::new();
        assert!(!parse(&datagram, &mut table).unwrap(), "not done yet");
        assert!(parse(&done(), &mut table).unwrap());
        let state = |last: u8| table[&Ipv4Addr::new(198, 19, 0, last)].0;
        assert_eq!(state(2), Neighbour::Answered);
        assert_eq!(state(3), Neighbour::Unverified);
        assert_eq!(state(4), Neighbour::Unverified);
        assert_eq!(state(5), Neighbour::Unanswered);
        assert_eq!(state(6), Neighbour::Unanswered);
    }

    #[test]
    fn truncated_or_odd_messages_are_refused_without_a_panic() {
        let whole = message([198, 19, 0, 2], nix::libc::NUD_REACHABLE);
        for cut in 0..whole.len() {
            let _ = parse(&whole[..cut], &mut HashMap::new());
        }
        let mut table = HashMap::new();
        let mut wrong_family = whole.clone();
        wrong_family[NLMSG_HDR] = nix::libc::AF_INET6 as u8;
        assert!(!parse(&wrong_family, &mut table).unwrap());
        assert!(table.is_empty());
    }

    #[test]
    fn an_answer_confirmed_before_discovery_began_is_unverified() {
        let now = Instant::now();
        let entry = Entry {
            state: Neighbour::Answered,
            confirmed: Some(now),
        };
        assert_eq!(entry.since(now), Neighbour::Answered);
        assert_eq!(
            entry.since(now + Duration::from_millis(1)),
            Neighbour::Unverified
        );
        let configured = Entry {
            state: Neighbour::Answered,
            confirmed: None,
        };
        assert_eq!(configured.since(now), Neighbour::Answered);
    }

    #[test]
    fn the_table_of_this_namespace_can_be_read() {
        assert!(dump().is_ok());
    }
}
