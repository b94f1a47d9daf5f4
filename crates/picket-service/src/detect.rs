//! Connecting, probing and reading with bounds: no service can hold a detection longer than
//! its budget or make it buffer more than its read limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use picket_model::{DetectionMethod, ServiceInfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::Signatures;
use crate::escape::{RAW_LIMIT, escape};
use crate::probe::{POSTGRES_STARTUP, Probe, probe_order};

/// Limits and time-outs of service detection. Every wait is also capped by the port's
/// `total_timeout`, so the worst case per port is `total_timeout` plus one connect's
/// scheduling slack, whatever the service does.
#[derive(Debug, Clone)]
pub struct DetectSettings {
    pub signatures: Arc<Signatures>,
    /// One TCP connect (each probe opens its own connection).
    pub connect_timeout: Duration,
    /// How long to wait for a service to speak first.
    pub banner_timeout: Duration,
    /// How long to wait for an answer to one probe.
    pub probe_timeout: Duration,
    /// Once an answer has begun and is not yet complete, this long without a byte ends it.
    pub quiet_gap: Duration,
    /// The whole budget of one port, all probes together.
    pub total_timeout: Duration,
    /// The most bytes read from one answer; a service that sends more is cut off.
    pub max_read: usize,
    /// A ceiling on new connections per second across every port (the scan's `--max-rate`).
    pub pacer: Option<Arc<ConnectPacer>>,
}

/// Spaces connection attempts evenly: at most `rate` new connections per second, shared by
/// every detection running at once.
#[derive(Debug)]
pub struct ConnectPacer {
    interval: Duration,
    next: std::sync::Mutex<Instant>,
}

impl ConnectPacer {
    /// `rate` new connections per second (at least one per hour).
    pub fn new(rate: f64) -> Self {
        let rate = if rate.is_finite() {
            rate.max(1.0 / 3600.0)
        } else {
            f64::MAX
        };
        Self {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: std::sync::Mutex::new(Instant::now()),
        }
    }

    /// Waits for this connection's turn.
    async fn wait(&self) {
        let slot = {
            // A poisoned lock only means another task panicked mid-update; the instant is valid.
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

impl DetectSettings {
    /// Defaults for a LAN or the Internet: 2 s to connect, wait for a banner or an answer,
    /// 250 ms quiet gap, 10 s per port, 16 KiB per answer.
    pub fn new(signatures: Arc<Signatures>) -> Self {
        Self {
            signatures,
            connect_timeout: Duration::from_secs(2),
            banner_timeout: Duration::from_secs(2),
            probe_timeout: Duration::from_secs(2),
            quiet_gap: Duration::from_millis(250),
            total_timeout: Duration::from_secs(10),
            max_read: 16 * 1024,
            pacer: None,
        }
    }
}

/// What one probe got.
enum Answer {
    /// The connection could not be made: the port is closed, filtered or gone.
    NoConnection,
    /// Connected, but nothing came back (silence, or a close without data).
    Silent,
    Bytes(Vec<u8>),
}

/// Identifies the service on `addr`: waits for a banner and sends probes, in an order chosen by
/// the port number, until a signature names the product or the budget is spent.
///
/// Returns `None` when the port cannot be connected to or never says anything; a service that
/// answers but matches no signature is `unknown` (confidence 0) with what it said in `raw`.
/// A service matched by protocol alone (`http` without a `Server` header) is returned as such
/// after the probes that could refine it.
pub async fn detect(addr: SocketAddr, settings: &DetectSettings) -> Option<ServiceInfo> {
    let deadline = Instant::now() + settings.total_timeout;
    let mut best: Option<ServiceInfo> = None;
    let mut unknown: Option<ServiceInfo> = None;
    for probe in probe_order(addr.port()) {
        if Instant::now() >= deadline {
            break;
        }
        if !settings.signatures.covers(probe) {
            continue;
        }
        // HEAD only refines a product-less HTTP answer; every other probe runs until something
        // is known, and after that only if it can refine what is known.
        let run = match &best {
            Some(found) => probe.refines(&found.name),
            None => probe != Probe::HttpHead,
        };
        if !run {
            continue;
        }
        let bytes = match run_probe(addr, probe, settings, deadline).await {
            Answer::NoConnection => break,
            Answer::Silent => continue,
            Answer::Bytes(bytes) => bytes,
        };
        match settings.signatures.identify(probe, &bytes) {
            Some(info) if info.product.is_some() => return Some(info),
            Some(info) if best.as_ref().is_none_or(|b| info.confidence > b.confidence) => {
                best = Some(info);
            }
            Some(_) => {}
            None if unknown.is_none() => unknown = Some(unknown_service(probe, &bytes)),
            None => {}
        }
    }
    best.or(unknown)
}

/// Runs [`detect`] on many ports, at most `max_concurrent` at once (at least one); the results
/// come back in the order of `addrs`.
pub async fn detect_many(
    addrs: impl IntoIterator<Item = SocketAddr>,
    settings: &DetectSettings,
    max_concurrent: usize,
) -> Vec<(SocketAddr, Option<ServiceInfo>)> {
    stream::iter(addrs)
        .map(|addr| async move { (addr, detect(addr, settings).await) })
        .buffered(max_concurrent.max(1))
        .collect()
        .await
}

fn unknown_service(probe: Probe, bytes: &[u8]) -> ServiceInfo {
    let method = match probe {
        Probe::Banner => DetectionMethod::Banner,
        other => DetectionMethod::Probe(other.name().to_owned()),
    };
    let mut info = ServiceInfo::new("unknown", method, 0);
    info.raw = Some(escape(&bytes[..bytes.len().min(RAW_LIMIT)]));
    info
}

async fn connect(
    addr: SocketAddr,
    settings: &DetectSettings,
    deadline: Instant,
) -> Option<TcpStream> {
    if let Some(pacer) = &settings.pacer {
        pacer.wait().await;
    }
    let until = deadline.min(Instant::now() + settings.connect_timeout);
    let stream = timeout_at(until, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    // Probes are single small writes: send them at once.
    let _ = stream.set_nodelay(true);
    Some(stream)
}

async fn run_probe(
    addr: SocketAddr,
    probe: Probe,
    settings: &DetectSettings,
    deadline: Instant,
) -> Answer {
    let Some(mut stream) = connect(addr, settings, deadline).await else {
        return Answer::NoConnection;
    };
    let wait = match probe {
        Probe::Banner => settings.banner_timeout,
        _ => settings.probe_timeout,
    };
    let until = deadline.min(Instant::now() + wait);
    if !send(&mut stream, probe.payload(), until).await {
        return Answer::Silent;
    }
    let mut bytes = if probe == Probe::Postgres {
        // The answer to SSLRequest is one byte; anything longer is not PostgreSQL.
        read_answer(&mut stream, settings, until, 1, |b| !b.is_empty()).await
    } else {
        read_answer(&mut stream, settings, until, settings.max_read, |b| {
            probe.complete(b)
        })
        .await
    };
    if probe == Probe::Postgres {
        let reply_on = match bytes.as_slice() {
            // Refused TLS: the startup message follows on the same connection.
            b"N" => Some(stream),
            // Offered TLS: this probe does not speak it; a plain startup on a new connection
            // is still answered (by an error when the server requires TLS).
            b"S" => {
                drop(stream);
                connect(addr, settings, deadline).await
            }
            _ => None,
        };
        if let Some(mut stream) = reply_on {
            let until = deadline.min(Instant::now() + settings.probe_timeout);
            if send(&mut stream, POSTGRES_STARTUP, until).await {
                let limit = settings.max_read.saturating_sub(1);
                let reply = read_answer(&mut stream, settings, until, limit, |b| {
                    Probe::Postgres.complete(&[b"N".as_slice(), b].concat())
                })
                .await;
                bytes.extend(reply);
            }
        }
    }
    if bytes.is_empty() {
        Answer::Silent
    } else {
        Answer::Bytes(bytes)
    }
}

/// Writes a probe; false when the service does not take it in time or the connection broke.
async fn send(stream: &mut TcpStream, payload: &[u8], until: Instant) -> bool {
    payload.is_empty()
        || matches!(
            timeout_at(until, stream.write_all(payload)).await,
            Ok(Ok(()))
        )
}

/// Reads an answer: until `complete` says it is whole, `limit` bytes, end of stream, `until`,
/// or (once bytes have come) `quiet_gap` without more. A service that drips bytes is cut off at
/// `until`, one that floods at `limit`.
async fn read_answer(
    stream: &mut TcpStream,
    settings: &DetectSettings,
    until: Instant,
    limit: usize,
    complete: impl Fn(&[u8]) -> bool,
) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 4096.min(limit.max(1))];
    while buf.len() < limit {
        let wait_until = if buf.is_empty() {
            until
        } else {
            until.min(Instant::now() + settings.quiet_gap)
        };
        let want = chunk.len().min(limit - buf.len());
        match timeout_at(wait_until, stream.read(&mut chunk[..want])).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                if complete(&buf) {
                    break;
                }
            }
        }
    }
    buf
}
