//! The syslog sink: one RFC 5424 message per record, to a local datagram socket (`/dev/log`) or
//! over UDP. The message is the record's JSON; its severity follows the alert's (critical ->
//! crit, high -> err, medium -> warning, low -> notice, info and findings -> info), its MSGID is
//! the record's type. Syslog is lossy by design: a send that fails is counted, not retried.
//! It must never block on a full socket for long (datagrams, a send timeout).

use std::net::{ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use picket_model::{Severity, Timestamp};

use super::{Record, SinkContext};
use crate::config::SyslogTarget;

const SEND_TIMEOUT: Duration = Duration::from_secs(2);

enum Socket {
    Unix(UnixDatagram, std::path::PathBuf),
    Udp(UdpSocket, String),
}

pub struct Syslog {
    socket: Socket,
    facility: u8,
    hostname: String,
    pid: u32,
}

impl Syslog {
    pub fn open(target: &SyslogTarget, facility: u8) -> std::io::Result<Self> {
        let socket = match target {
            SyslogTarget::Unix(path) => {
                let s = UnixDatagram::unbound()?;
                s.set_write_timeout(Some(SEND_TIMEOUT))?;
                Socket::Unix(s, path.clone())
            }
            SyslogTarget::Udp(addr) => {
                let first = addr.to_socket_addrs()?.next().ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, format!("{addr}: no address"))
                })?;
                let local = if first.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let s = UdpSocket::bind(local)?;
                s.set_write_timeout(Some(SEND_TIMEOUT))?;
                Socket::Udp(s, addr.clone())
            }
        };
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty() && h.is_ascii() && !h.contains(' '))
            .unwrap_or_else(|| "-".to_owned());
        Ok(Self {
            socket,
            facility,
            hostname,
            pid: std::process::id(),
        })
    }

    pub(super) fn run(&self, ctx: &SinkContext) {
        while let Ok(record) = ctx.records.recv() {
            let message = self.format(&record, Timestamp::now());
            let sent = match &self.socket {
                Socket::Unix(s, path) => s.send_to(message.as_bytes(), path).map(|_| ()),
                Socket::Udp(s, addr) => s.send_to(message.as_bytes(), addr.as_str()).map(|_| ()),
            };
            match sent {
                Ok(()) => ctx.delivered(1),
                Err(e) => {
                    ctx.failed();
                    ctx.dead_lettered(1);
                    tracing::warn!(sink = %ctx.label, error = %e, "syslog send failed");
                }
            }
        }
    }

    /// `<PRI>1 TIMESTAMP HOSTNAME picket PROCID MSGID - MSG`
    fn format(&self, record: &Record, now: Timestamp) -> String {
        let pri = u16::from(self.facility) * 8 + u16::from(level(record.severity));
        format!(
            "<{pri}>1 {} {} picket {} {} - {}",
            now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
            self.hostname,
            self.pid,
            record.kind,
            record.json
        )
    }
}

/// RFC 5424 severity of a record.
fn level(severity: Option<Severity>) -> u8 {
    match severity {
        Some(Severity::Critical) => 2,
        Some(Severity::High) => 3,
        Some(Severity::Medium) => 4,
        Some(Severity::Low) => 5,
        Some(Severity::Info) | None => 6,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use picket_app::Shutdown;

    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn a_message_is_rfc_5424_with_the_record_as_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let syslog = Syslog::open(&SyslogTarget::Unix(path), 3).unwrap();
        let record = Record {
            severity: Some(Severity::High),
            kind: "alert",
            json: r#"{"type":"alert"}"#.into(),
        };
        let line = syslog.format(&record, "2026-12-06T13:00:00Z".parse().unwrap());
        let want = format!(
            "<27>1 2026-12-06T13:00:00.000000Z {} picket {} alert - {{\"type\":\"alert\"}}",
            syslog.hostname, syslog.pid
        );
        assert_eq!(line, want);
        let Socket::Unix(s, p) = &syslog.socket else {
            panic!("not a unix socket")
        };
        s.send_to(line.as_bytes(), p).unwrap();
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], line.as_bytes());
    }

    #[test]
    fn records_go_over_udp_one_datagram_each() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let target = SyslogTarget::Udp(server.local_addr().unwrap().to_string());
        let syslog = Syslog::open(&target, 16).unwrap();
        let (queue, records) = std::sync::mpsc::sync_channel(4);
        for (severity, kind) in [(Some(Severity::Critical), "alert"), (None, "finding")] {
            queue
                .send(Record {
                    severity,
                    kind,
                    json: "{}".into(),
                })
                .unwrap();
        }
        drop(queue);
        let ctx = SinkContext {
            label: "syslog#0".into(),
            records,
            metrics: Arc::new(Metrics::new()),
            shutdown: Shutdown::new(),
        };
        syslog.run(&ctx);
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        // local0 (16) * 8 + crit (2)
        assert!(
            buf[..n].starts_with(b"<130>1 "),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        let n = server.recv(&mut buf).unwrap();
        // local0 * 8 + info (6), MSGID finding
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(
            text.starts_with("<134>1 ") && text.contains(" finding - {}"),
            "{text}"
        );
    }
}
