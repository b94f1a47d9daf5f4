//! The probes: what is sent to make a service talk, in which order, and when an answer is
//! complete enough to stop reading.

use std::fmt;

/// One way of making a service reveal itself. Every probe runs on a fresh connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    /// Send nothing, wait for the service to speak first (SSH, FTP, SMTP, IMAP, POP3, MySQL).
    Banner,
    /// `GET / HTTP/1.0`: the status line and headers (the `Server` header names the product).
    HttpGet,
    /// `HEAD / HTTP/1.0`: only run when `GET` showed HTTP without naming the product.
    HttpHead,
    /// Redis `INFO server`: its answer carries `redis_version`.
    RedisInfo,
    /// Memcached `version`: `VERSION 1.6.18`.
    MemcachedVersion,
    /// PostgreSQL: an `SSLRequest` (answered `S` or `N`), then a protocol 3.0 startup message
    /// (answered by an authentication request or a FATAL error). PostgreSQL does not tell its
    /// version before authentication, so this probe names the product only.
    Postgres,
    /// A TLS 1.2 ClientHello: a ServerHello or an alert shows TLS, nothing more.
    TlsHello,
}

impl Probe {
    pub const ALL: [Probe; 7] = [
        Probe::Banner,
        Probe::HttpGet,
        Probe::HttpHead,
        Probe::RedisInfo,
        Probe::MemcachedVersion,
        Probe::Postgres,
        Probe::TlsHello,
    ];

    /// The name signature files use.
    pub fn name(self) -> &'static str {
        match self {
            Probe::Banner => "banner",
            Probe::HttpGet => "http-get",
            Probe::HttpHead => "http-head",
            Probe::RedisInfo => "redis-info",
            Probe::MemcachedVersion => "memcached-version",
            Probe::Postgres => "postgresql",
            Probe::TlsHello => "tls-hello",
        }
    }

    pub fn parse(name: &str) -> Option<Probe> {
        Probe::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The bytes sent first (the PostgreSQL probe sends its startup message later).
    pub(crate) fn payload(self) -> &'static [u8] {
        match self {
            Probe::Banner => b"",
            Probe::HttpGet => b"GET / HTTP/1.0\r\n\r\n",
            Probe::HttpHead => b"HEAD / HTTP/1.0\r\n\r\n",
            Probe::RedisInfo => b"INFO server\r\n",
            Probe::MemcachedVersion => b"version\r\n",
            Probe::Postgres => &POSTGRES_SSL_REQUEST,
            Probe::TlsHello => &TLS_CLIENT_HELLO,
        }
    }

    /// Is `buf` a whole answer? When not, the reader keeps reading until the service goes
    /// quiet, the probe's time is up or the read limit is reached.
    pub(crate) fn complete(self, buf: &[u8]) -> bool {
        match self {
            Probe::Banner => mysql_packet_complete(buf) || text_banner_complete(buf),
            Probe::HttpGet | Probe::HttpHead => {
                contains(buf, b"\r\n\r\n") || contains(buf, b"\n\n")
            }
            Probe::RedisInfo => redis_reply_complete(buf),
            Probe::MemcachedVersion => contains(buf, b"\n"),
            // The second message (after the one-byte SSLRequest answer) is a typed message.
            Probe::Postgres => buf.len() > 1 && typed_message_complete(&buf[1..]),
            // The record header and the first handshake byte tell TLS apart.
            Probe::TlsHello => buf.len() >= 6,
        }
    }

    /// Can this probe tell more about a service already known as `service` without a product?
    pub(crate) fn refines(self, service: &str) -> bool {
        matches!(self, Probe::HttpGet | Probe::HttpHead) && service == "http"
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The probes for a port, most likely first: the probes its well-known service answers, then
/// waiting for a banner, then the rest. `HttpHead` comes right after `HttpGet`; the detector
/// runs it only to refine a product-less HTTP answer.
pub(crate) fn probe_order(port: u16) -> Vec<Probe> {
    let hinted: &[Probe] = match port {
        80 | 81 | 591 | 3000 | 5000 | 8000 | 8008 | 8080 | 8081 | 8088 | 8888 | 9000 => {
            &[Probe::HttpGet, Probe::HttpHead]
        }
        443 | 465 | 636 | 853 | 993 | 995 | 8443 | 9443 => &[Probe::TlsHello],
        6379 => &[Probe::RedisInfo],
        11211 => &[Probe::MemcachedVersion],
        5432 => &[Probe::Postgres],
        _ => &[],
    };
    let mut order = hinted.to_vec();
    for probe in Probe::ALL {
        if !order.contains(&probe) {
            order.push(probe);
        }
    }
    order
}

/// `SSLRequest`: length 8, code 80877103.
const POSTGRES_SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// A protocol 3.0 `StartupMessage` for user and database `picket`.
pub(crate) const POSTGRES_STARTUP: &[u8] = b"\x00\x00\x00\x4c\x00\x03\x00\x00\
user\x00picket\x00database\x00picket\x00application_name\x00picket-service-detect\x00\x00";

/// A TLS 1.2 ClientHello with common suites (ECDHE/RSA with AES-GCM, ChaCha20, AES-CBC) and
/// the extensions servers require (groups, point formats, signature algorithms). Fixed random:
/// this only has to get a ServerHello or an alert back.
const TLS_CLIENT_HELLO: [u8; 110] = [
    0x16, 0x03, 0x01, 0x00, 0x69, // record: handshake, TLS 1.0 framing, 105 bytes
    0x01, 0x00, 0x00, 0x65, // ClientHello, 101 bytes
    0x03, 0x03, // TLS 1.2
    0x70, 0x69, 0x63, 0x6b, 0x65, 0x74, 0x2d, 0x73, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65, 0x2d, 0x64,
    0x65, 0x74, 0x65, 0x63, 0x74, 0x2d, 0x72, 0x61, 0x6e, 0x64, 0x6f, 0x6d, 0x2d, 0x2d, 0x2d,
    0x2d, // random: "picket-service-detect-random----"
    0x00, // no session id
    0x00, 0x14, // 10 cipher suites
    0xc0, 0x2f, 0xc0, 0x30, 0xc0, 0x2b, 0xc0, 0x2c, 0xcc, 0xa8, 0xcc, 0xa9, 0x00, 0x9c, 0x00, 0x9d,
    0x00, 0x2f, 0x00, 0x35, //
    0x01, 0x00, // null compression only
    0x00, 0x28, // extensions, 40 bytes
    0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00,
    0x18, // x25519, P-256, P-384
    0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // point formats: uncompressed
    0x00, 0x0d, 0x00, 0x12, 0x00, 0x10, // signature algorithms, 8:
    0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03, 0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01,
];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A MySQL protocol packet: 3-byte little-endian length, sequence number, payload.
fn mysql_packet_complete(buf: &[u8]) -> bool {
    match buf {
        [a, b, c, _, ..] => {
            let len = usize::from(*a) | usize::from(*b) << 8 | usize::from(*c) << 16;
            len > 0 && buf.len() >= len + 4
        }
        _ => false,
    }
}

/// A text banner ends with a newline, and its last line is not an FTP/SMTP continuation
/// (`220-...`), after which the final `220 ...` line is still to come.
fn text_banner_complete(buf: &[u8]) -> bool {
    let Some(body) = buf.strip_suffix(b"\n") else {
        return false;
    };
    let last = body.rsplit(|&b| b == b'\n').next().unwrap_or(body);
    !matches!(last, [a, b, c, b'-', ..] if [a, b, c].iter().all(|d| d.is_ascii_digit()))
}

/// A RESP reply: a bulk string `$N\r\n...` of N bytes, or one line (`+OK`, `-ERR ...`).
fn redis_reply_complete(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    match buf.first() {
        Some(b'$') => std::str::from_utf8(&buf[1..end])
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
            .is_none_or(|n| buf.len() >= end + 2 + n + 2),
        _ => true,
    }
}

/// A PostgreSQL backend message: type byte, 4-byte big-endian length (counting itself), body.
fn typed_message_complete(buf: &[u8]) -> bool {
    match buf {
        [_, a, b, c, d, ..] => {
            let len = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
            buf.len() > len
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_lengths_are_consistent() {
        let hello = &TLS_CLIENT_HELLO;
        assert_eq!(
            usize::from(u16::from_be_bytes([hello[3], hello[4]])),
            hello.len() - 5
        );
        let hs_len =
            usize::from(hello[6]) << 16 | usize::from(hello[7]) << 8 | usize::from(hello[8]);
        assert_eq!(hs_len, hello.len() - 9);
        let ext_at = 9 + 2 + 32 + 1 + 2 + 20 + 2;
        let ext_len = usize::from(u16::from_be_bytes([hello[ext_at], hello[ext_at + 1]]));
        assert_eq!(ext_len, hello.len() - ext_at - 2);
        let startup_len = u32::from_be_bytes([
            POSTGRES_STARTUP[0],
            POSTGRES_STARTUP[1],
            POSTGRES_STARTUP[2],
            POSTGRES_STARTUP[3],
        ]);
        assert_eq!(startup_len as usize, POSTGRES_STARTUP.len());
    }

    #[test]
    fn names_round_trip() {
        for probe in Probe::ALL {
            assert_eq!(Probe::parse(probe.name()), Some(probe));
        }
        assert_eq!(Probe::parse("nope"), None);
    }

    #[test]
    fn completeness() {
        assert!(Probe::Banner.complete(b"SSH-2.0-OpenSSH_9.2p1\r\n"));
        assert!(!Probe::Banner.complete(b"SSH-2.0-Open"));
        assert!(!Probe::Banner.complete(b"220-Welcome\r\n"));
        assert!(Probe::Banner.complete(b"220-Welcome\r\n220 ready\r\n"));
        assert!(Probe::Banner.complete(b"\x05\x00\x00\x00\x0a5.7\x00"));
        assert!(!Probe::Banner.complete(b"\x06\x00\x00\x00\x0a5.7\x00"));
        assert!(Probe::HttpGet.complete(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody"));
        assert!(!Probe::HttpGet.complete(b"HTTP/1.1 200 OK\r\nServer: x\r\n"));
        assert!(Probe::RedisInfo.complete(b"$3\r\nabc\r\n"));
        assert!(!Probe::RedisInfo.complete(b"$30\r\nabc\r\n"));
        assert!(Probe::RedisInfo.complete(b"-NOAUTH Authentication required.\r\n"));
        assert!(Probe::Postgres.complete(b"NR\x00\x00\x00\x08\x00\x00\x00\x05"));
        assert!(!Probe::Postgres.complete(b"NR\x00\x00\x00\x08\x00"));
        assert!(!Probe::Postgres.complete(b"N"));
    }

    #[test]
    fn order_puts_hints_first_and_covers_all() {
        assert_eq!(probe_order(6379)[0], Probe::RedisInfo);
        assert_eq!(probe_order(80)[..2], [Probe::HttpGet, Probe::HttpHead]);
        assert_eq!(probe_order(22)[0], Probe::Banner);
        for port in [22, 80, 443, 5432, 6379, 11211, 65000] {
            let order = probe_order(port);
            assert_eq!(order.len(), Probe::ALL.len());
            assert!(Probe::ALL.iter().all(|p| order.contains(p)));
        }
    }
}
