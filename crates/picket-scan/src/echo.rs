//! ICMP echo for host discovery, where the process may send it: a raw socket as root (or with
//! `CAP_NET_RAW`), else an unprivileged ping socket where `net.ipv4.ping_group_range` allows
//! one, else nothing (discovery then relies on its TCP probes and ARP).
//!
//! Each echo has its own socket, connected to the host, so that the kernel hands it only what
//! that host sends; the reply must carry our identifier and sequence number.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// Whether `address` answered an ICMP echo within `timeout`; `None` when this process may not
/// send one.
pub async fn echo(address: IpAddr, ident: u16, timeout: Duration) -> Option<bool> {
    let (socket, raw) = open(address)?;
    let request = request(address, ident);
    socket
        .connect(&SockAddr::from(SocketAddr::new(address, 0)))
        .ok()?;
    socket.send(&request).ok()?;
    // SAFETY: the `AsyncFd` owns the socket, so its descriptor stays open and the same while
    // registered.
    let fd = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }.ok()?;
    let wait = async {
        loop {
            let mut guard = fd.readable().await.ok()?;
            let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
            match guard.try_io(|s| s.get_ref().recv(&mut buf)) {
                Ok(Ok(n)) => {
                    // SAFETY: `recv` initialised the first `n` bytes.
                    let bytes: Vec<u8> = buf[..n]
                        .iter()
                        .map(|b| unsafe { b.assume_init() })
                        .collect();
                    if is_reply(address, raw, &bytes, ident) {
                        return Some(true);
                    }
                }
                Ok(Err(_)) => return Some(false),
                Err(_would_block) => {}
            }
        }
    };
    tokio::time::timeout(timeout, wait)
        .await
        .unwrap_or(Some(false))
}

/// A raw ICMP socket (`true`) or a ping socket (`false`), whichever the process may open.
fn open(address: IpAddr) -> Option<(Socket, bool)> {
    let (domain, protocol) = match address {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let open = |ty: Type| -> io::Result<Socket> {
        Socket::new(domain, ty.nonblocking().cloexec(), Some(protocol))
    };
    match open(Type::RAW) {
        Ok(s) => Some((s, true)),
        Err(_) => open(Type::DGRAM).ok().map(|s| (s, false)),
    }
}

/// An echo request: type, code, checksum, identifier, sequence number 1, and a short payload.
fn request(address: IpAddr, ident: u16) -> Vec<u8> {
    let ty = match address {
        IpAddr::V4(_) => ECHO_REQUEST_V4,
        IpAddr::V6(_) => ECHO_REQUEST_V6,
    };
    let mut packet = vec![ty, 0, 0, 0];
    packet.extend_from_slice(&ident.to_be_bytes());
    packet.extend_from_slice(&1u16.to_be_bytes());
    packet.extend_from_slice(b"picket discovery");
    // The kernel fills in the ICMPv6 checksum (it covers a pseudo-header we do not see), and
    // that of a ping socket; a raw ICMPv4 socket sends what it is given.
    if address.is_ipv4() {
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    packet
}

/// Whether `bytes`, as received, is the reply to our request. A raw IPv4 socket receives the IP
/// header too; a ping socket's identifier is the kernel's (the socket only gets its own replies).
fn is_reply(address: IpAddr, raw: bool, bytes: &[u8], ident: u16) -> bool {
    let icmp = match address {
        IpAddr::V4(_) if raw => {
            let Some(&first) = bytes.first() else {
                return false;
            };
            let header = usize::from(first & 0x0f) * 4;
            bytes.get(header..).unwrap_or_default()
        }
        _ => bytes,
    };
    let reply = match address {
        IpAddr::V4(_) => ECHO_REPLY_V4,
        IpAddr::V6(_) => ECHO_REPLY_V6,
    };
    match icmp {
        [ty, _, _, _, id_hi, id_lo, ..] if *ty == reply => {
            !raw || u16::from_be_bytes([*id_hi, *id_lo]) == ident
        }
        _ => false,
    }
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_follows_rfc_1071() {
        // A request whose checksum field is filled in sums to zero.
        let packet = request("192.0.2.1".parse().unwrap(), 0x1234);
        assert_eq!(checksum(&packet), 0);
    }

    #[test]
    fn only_our_reply_counts() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mut reply = vec![0x45u8];
        reply.extend_from_slice(&[0; 19]);
        reply.extend_from_slice(&[ECHO_REPLY_V4, 0, 0, 0, 0x12, 0x34, 0, 1]);
        assert!(is_reply(v4, true, &reply, 0x1234));
        assert!(!is_reply(v4, true, &reply, 0x4321), "another identifier");
        assert!(!is_reply(v4, true, &[], 0x1234));
        let unreachable = [3u8, 1, 0, 0, 0, 0, 0, 0];
        assert!(!is_reply(v4, false, &unreachable, 0x1234));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(is_reply(
            v6,
            true,
            &[ECHO_REPLY_V6, 0, 0, 0, 0x12, 0x34, 0, 1],
            0x1234
        ));
    }

    #[test]
    fn a_host_that_drops_tcp_answers_an_echo_a_default_drop_host_does_not() {
        let Some(mut lab) = picket_lab::Lab::try_new("echo").unwrap() else {
            return;
        };
        let tcp_dropped = lab.add_target().unwrap();
        tcp_dropped
            .firewall(&picket_lab::Firewall::new().drop_ports(1..=65535))
            .unwrap();
        let default_drop = lab.add_target().unwrap();
        default_drop
            .firewall(&picket_lab::Firewall::new().allow_only([443]))
            .unwrap();
        let addresses: Vec<IpAddr> = vec![
            tcp_dropped.address_v4().into(),
            tcp_dropped.address_v6().into(),
            default_drop.address_v4().into(),
        ];
        let answers = lab
            .in_scanner(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let mut answers = Vec::new();
                    for a in addresses {
                        answers.push(echo(a, 0x7069, Duration::from_millis(500)).await);
                    }
                    answers
                })
            })
            .unwrap();
        assert_eq!(answers, [Some(true), Some(true), Some(false)]);
    }

    #[tokio::test]
    async fn loopback_answers_an_echo_where_one_may_be_sent() {
        match echo("127.0.0.1".parse().unwrap(), 0x5043, Duration::from_secs(1)).await {
            Some(answered) => assert!(answered),
            None => eprintln!("skipped: this process may not send ICMP echo"),
        }
    }
}
