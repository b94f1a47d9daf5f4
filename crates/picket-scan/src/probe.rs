//! One TCP connect probe and the exact reason for its outcome.
//!
//! The probe is a non-blocking `connect()` on a socket with `IP_RECVERR`/`IPV6_RECVERR` set, so that
//! when the kernel aborts the handshake because of an ICMP message, the message itself (type, code
//! and who sent it) is read from the socket's error queue. That is what tells "a router says the
//! host is unreachable" from "our own neighbour table has no entry" from "a firewall answers
//! administratively prohibited" — `errno` alone folds all three into `EHOSTUNREACH`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::libc;
use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};
use picket_model::Reason;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::time::Instant;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// What one probe learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeResult {
    pub reason: Reason,
    /// Time from `connect()` to the answer; `None` when nothing came back.
    pub rtt: Option<Duration>,
    /// The sender of the ICMP message behind `reason`, when there was one.
    pub icmp_from: Option<IpAddr>,
    /// The ICMP message came from our own address: the kernel found no neighbour (ARP/ND) for the
    /// target, so the host is down or absent on the local link.
    pub local_unreach: bool,
}

impl ProbeResult {
    fn answer(reason: Reason, rtt: Duration) -> Self {
        Self {
            reason,
            rtt: Some(rtt),
            icmp_from: None,
            local_unreach: false,
        }
    }

    pub fn no_response() -> Self {
        Self {
            reason: Reason::NoResponse,
            rtt: None,
            icmp_from: None,
            local_unreach: false,
        }
    }
}

/// A failure of our own machine, not an outcome on the network: the probe must be sent again
/// later (out of file descriptors, ephemeral ports, buffers), or the connect landed on itself.
#[derive(Debug)]
pub enum LocalError {
    /// Resources ran out; slow down and retry.
    Exhausted(io::Error),
    /// The kernel connected the socket to itself (loopback, source port == destination port).
    SelfConnect,
    /// Anything else unexpected from the socket API.
    Other(io::Error),
}

/// Sends one SYN to `addr` and waits up to `timeout` for the handshake to complete or fail.
///
/// One probe on the async runtime, for the few probes a re-check sends; the engine sends its
/// many through [`crate::prober::Prober`], which settles them in batches.
pub async fn probe(addr: SocketAddr, timeout: Duration) -> Result<ProbeResult, LocalError> {
    let start = Instant::now();
    let socket = match connect(addr) {
        Connect::Settled(result) => return result,
        Connect::InProgress(socket) => socket,
    };
    // SAFETY: `socket2::Socket` owns its descriptor: it stays open and the same for as long as
    // the `AsyncFd` holds the socket, which is what registration requires.
    let fd = unsafe { AsyncFd::register_with_interest(socket, Interest::WRITABLE) }
        .map_err(|e| classify_local(e.into_parts().1))?;
    match tokio::time::timeout(timeout, fd.writable()).await {
        Err(_) => Ok(ProbeResult::no_response()),
        Ok(Err(e)) => Err(classify_local(e)),
        Ok(Ok(_guard)) => settle(fd.get_ref(), addr, start.elapsed()),
    }
}

/// What a non-blocking `connect()` gave at once.
pub(crate) enum Connect {
    /// Decided already: the kernel answered (or failed) within the call.
    Settled(Result<ProbeResult, LocalError>),
    /// The SYN is out: the socket becomes writable when the handshake completes or fails.
    InProgress(Socket),
}

/// Opens a probe socket and starts the handshake with `addr`.
pub(crate) fn connect(addr: SocketAddr) -> Connect {
    let socket = match new_socket(addr) {
        Ok(socket) => socket,
        Err(e) => return Connect::Settled(Err(classify_local(e))),
    };
    let start = Instant::now();
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => Connect::Settled(connected(&socket, addr, start.elapsed())),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Connect::InProgress(socket),
        Err(e) => Connect::Settled(failed(&socket, e, start.elapsed())),
    }
}

/// The outcome of a handshake whose socket became writable `rtt` after it started.
pub(crate) fn settle(
    socket: &Socket,
    addr: SocketAddr,
    rtt: Duration,
) -> Result<ProbeResult, LocalError> {
    match socket.take_error() {
        Ok(None) => connected(socket, addr, rtt),
        Ok(Some(e)) => failed(socket, e, rtt),
        Err(e) => Err(classify_local(e)),
    }
}

fn new_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    // Queue ICMP errors on the socket so that `read_icmp_error` can tell who said what.
    let recv_err = match addr {
        SocketAddr::V4(_) => setsockopt(&socket, sockopt::Ipv4RecvErr, &true),
        SocketAddr::V6(_) => setsockopt(&socket, sockopt::Ipv6RecvErr, &true),
    };
    recv_err.map_err(|e| io::Error::from_raw_os_error(e as i32))?;
    Ok(socket)
}

fn connected(socket: &Socket, addr: SocketAddr, rtt: Duration) -> Result<ProbeResult, LocalError> {
    // Close with a reset instead of a FIN: no TIME_WAIT on our side, nothing left for the
    // service to answer, and the listener's accept queue is freed at once. Set here, on the
    // few sockets that connected, rather than on every probe: the others have nothing to close.
    socket
        .set_linger(Some(Duration::ZERO))
        .map_err(classify_local)?;
    let local = socket.local_addr().map_err(LocalError::Other)?;
    if local.as_socket() == Some(addr) {
        return Err(LocalError::SelfConnect);
    }
    Ok(ProbeResult::answer(Reason::SynAck, rtt))
}

fn failed(socket: &Socket, err: io::Error, rtt: Duration) -> Result<ProbeResult, LocalError> {
    let icmp = read_icmp_error(socket);
    match err.raw_os_error() {
        Some(libc::ECONNREFUSED) => Ok(match icmp {
            Some(m) => ProbeResult {
                reason: Reason::PortUnreach,
                rtt: Some(rtt),
                icmp_from: m.from,
                local_unreach: false,
            },
            None => ProbeResult::answer(Reason::Reset, rtt),
        }),
        Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EACCES | libc::EPERM) => {
            let errno = err.raw_os_error().unwrap_or_default();
            // Only here is our own address needed: an ICMP message we sent ourselves means our
            // neighbour table found nobody there.
            let local_ip = socket
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .map(|a| a.ip());
            let reason = match icmp.map(|m| m.kind) {
                Some(IcmpKind::AdminProhibited) => Reason::AdminProhibited,
                Some(IcmpKind::NetUnreach) => Reason::NetUnreach,
                Some(IcmpKind::HostUnreach | IcmpKind::PortUnreach) => Reason::HostUnreach,
                // A local netfilter rule refused to send (EPERM/EACCES): a filter, on our side.
                None if errno == libc::EPERM || errno == libc::EACCES => Reason::AdminProhibited,
                None if errno == libc::ENETUNREACH => Reason::NetUnreach,
                None => Reason::HostUnreach,
            };
            let from = icmp.and_then(|m| m.from);
            let local_unreach = matches!(reason, Reason::HostUnreach | Reason::NetUnreach)
                && (from.is_none() || from == local_ip);
            Ok(ProbeResult {
                reason,
                rtt: Some(rtt),
                icmp_from: from.filter(|f| Some(*f) != local_ip),
                local_unreach,
            })
        }
        Some(libc::ETIMEDOUT) => Ok(ProbeResult::no_response()),
        _ => Err(classify_local(err)),
    }
}

pub(crate) fn classify_local(err: io::Error) -> LocalError {
    match err.raw_os_error() {
        Some(
            libc::EMFILE
            | libc::ENFILE
            | libc::ENOBUFS
            | libc::ENOMEM
            | libc::EADDRNOTAVAIL
            | libc::EAGAIN,
        ) => LocalError::Exhausted(err),
        _ => LocalError::Other(err),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IcmpKind {
    AdminProhibited,
    HostUnreach,
    NetUnreach,
    PortUnreach,
}

#[derive(Debug, Clone, Copy)]
struct IcmpMessage {
    kind: IcmpKind,
    from: Option<IpAddr>,
}

/// Reads the ICMP message, if any, that the kernel queued on the socket's error queue.
fn read_icmp_error(socket: &Socket) -> Option<IcmpMessage> {
    let mut data = [0u8; 64];
    let mut iov = [io::IoSliceMut::new(&mut data)];
    let mut cmsg = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
    let msg = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
    )
    .ok()?;
    let cmsgs = msg.cmsgs().ok()?;
    for c in cmsgs {
        match c {
            ControlMessageOwned::Ipv4RecvErr(ee, from) => {
                let from = from.map(|sa| {
                    IpAddr::V4(std::net::Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)))
                });
                return icmp4_kind(&ee).map(|kind| IcmpMessage { kind, from });
            }
            ControlMessageOwned::Ipv6RecvErr(ee, from) => {
                let from =
                    from.map(|sa| IpAddr::V6(std::net::Ipv6Addr::from(sa.sin6_addr.s6_addr)));
                return icmp6_kind(&ee).map(|kind| IcmpMessage { kind, from });
            }
            _ => {}
        }
    }
    None
}

const SO_EE_ORIGIN_ICMP: u8 = 2;
const SO_EE_ORIGIN_ICMP6: u8 = 3;

fn icmp4_kind(ee: &libc::sock_extended_err) -> Option<IcmpKind> {
    // RFC 792 / RFC 1812 destination-unreachable codes.
    if ee.ee_origin != SO_EE_ORIGIN_ICMP || ee.ee_type != 3 {
        return None;
    }
    Some(match ee.ee_code {
        3 => IcmpKind::PortUnreach,
        9 | 10 | 13 => IcmpKind::AdminProhibited,
        0 | 6 | 11 => IcmpKind::NetUnreach,
        _ => IcmpKind::HostUnreach,
    })
}

fn icmp6_kind(ee: &libc::sock_extended_err) -> Option<IcmpKind> {
    // RFC 4443 destination-unreachable codes.
    if ee.ee_origin != SO_EE_ORIGIN_ICMP6 || ee.ee_type != 1 {
        return None;
    }
    Some(match ee.ee_code {
        4 => IcmpKind::PortUnreach,
        1 | 5 | 6 => IcmpKind::AdminProhibited,
        0 => IcmpKind::NetUnreach,
        _ => IcmpKind::HostUnreach,
    })
}

impl IcmpKind {
    #[cfg(test)]
    fn name(self) -> &'static str {
        match self {
            IcmpKind::AdminProhibited => "admin-prohibited",
            IcmpKind::HostUnreach => "host-unreach",
            IcmpKind::NetUnreach => "net-unreach",
            IcmpKind::PortUnreach => "port-unreach",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn ee(origin: u8, ty: u8, code: u8) -> libc::sock_extended_err {
        libc::sock_extended_err {
            ee_errno: 0,
            ee_origin: origin,
            ee_type: ty,
            ee_code: code,
            ee_pad: 0,
            ee_info: 0,
            ee_data: 0,
        }
    }

    #[test]
    fn icmp_codes_map_to_reasons() {
        assert_eq!(
            icmp4_kind(&ee(2, 3, 13)).map(IcmpKind::name),
            Some("admin-prohibited")
        );
        assert_eq!(
            icmp4_kind(&ee(2, 3, 1)).map(IcmpKind::name),
            Some("host-unreach")
        );
        assert_eq!(
            icmp4_kind(&ee(2, 3, 3)).map(IcmpKind::name),
            Some("port-unreach")
        );
        assert_eq!(
            icmp4_kind(&ee(2, 3, 0)).map(IcmpKind::name),
            Some("net-unreach")
        );
        assert_eq!(
            icmp4_kind(&ee(2, 11, 0)),
            None,
            "time exceeded is not an answer about the port"
        );
        assert_eq!(
            icmp6_kind(&ee(3, 1, 1)).map(IcmpKind::name),
            Some("admin-prohibited")
        );
        assert_eq!(
            icmp6_kind(&ee(3, 1, 3)).map(IcmpKind::name),
            Some("host-unreach")
        );
        assert_eq!(icmp6_kind(&ee(2, 1, 3)), None, "wrong origin");
    }

    #[tokio::test]
    async fn loopback_open_and_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let r = probe(open, Duration::from_secs(1)).await.unwrap();
        assert_eq!(r.reason, Reason::SynAck);
        assert!(r.rtt.is_some());
        drop(listener);
        let r = probe(open, Duration::from_secs(1)).await.unwrap();
        assert_eq!(r.reason, Reason::Reset);
    }

    #[tokio::test]
    async fn a_connected_probe_is_closed_with_a_reset() {
        use std::io::Read;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let r = probe(open, Duration::from_secs(1)).await.unwrap();
        assert_eq!(r.reason, Reason::SynAck);
        let (mut accepted, _) = listener.accept().unwrap();
        accepted
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 1];
        // A FIN would read as end of file (Ok(0)) and leave a TIME_WAIT behind on our side.
        let err = accepted.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    }

    #[tokio::test]
    async fn loopback_ipv6() {
        let Ok(listener) = TcpListener::bind("[::1]:0") else {
            eprintln!("skipped: no IPv6 loopback");
            return;
        };
        let open = listener.local_addr().unwrap();
        assert_eq!(
            probe(open, Duration::from_secs(1)).await.unwrap().reason,
            Reason::SynAck
        );
    }
}
