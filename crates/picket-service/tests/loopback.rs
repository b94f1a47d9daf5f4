//! Detection against services written here, on loopback: well-behaved fakes that answer one
//! probe each, and hostile ones (silent, dripping, flooding, garbage) that must not stall it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use picket_model::DetectionMethod;
use picket_service::{DetectSettings, Signatures, detect, detect_many};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn settings() -> DetectSettings {
    let mut s = DetectSettings::new(Arc::new(Signatures::builtin().unwrap()));
    s.connect_timeout = Duration::from_millis(500);
    s.banner_timeout = Duration::from_millis(300);
    s.probe_timeout = Duration::from_millis(300);
    s.quiet_gap = Duration::from_millis(100);
    s.total_timeout = Duration::from_secs(2);
    s
}

/// Serves every connection on a loopback port with `serve` until the test ends.
async fn serve<F, Fut>(serve: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    addr
}

/// Reads what the client sends first (up to 1 KiB, or nothing within 100 ms).
async fn request(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
        Ok(Ok(n)) => buf[..n].to_vec(),
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn banner_service_is_named_from_what_it_says_first() {
    let addr = serve(|mut s| async move {
        let _ = s
            .write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
            .await;
        let _ = request(&mut s).await;
    })
    .await;
    let info = detect(addr, &settings()).await.unwrap();
    assert_eq!(info.product.as_deref(), Some("OpenSSH"));
    assert_eq!(info.version.as_deref(), Some("9.2p1"));
    assert_eq!(
        info.package.unwrap().to_string(),
        "openssh 1:9.2p1-2+deb12u3"
    );
    assert_eq!(info.method, DetectionMethod::Banner);
}

/// A quiet service that answers one command, like Redis or Memcached: the probes after the
/// banner wait find it.
#[tokio::test]
async fn quiet_services_answer_their_probe() {
    let redis = serve(|mut s| async move {
        let req = request(&mut s).await;
        let reply: &[u8] = if req == b"INFO server\r\n" {
            b"$49\r\n# Server\r\nredis_version:7.0.15\r\nredis_mode:x\r\n\r\n"
        } else {
            b"-ERR unknown command\r\n"
        };
        let _ = s.write_all(reply).await;
        let _ = request(&mut s).await;
    })
    .await;
    let memcached = serve(|mut s| async move {
        if request(&mut s).await == b"version\r\n" {
            let _ = s.write_all(b"VERSION 1.6.18\r\n").await;
        }
        let _ = request(&mut s).await;
    })
    .await;
    let settings = settings();
    let info = detect(redis, &settings).await.unwrap();
    assert_eq!(
        (info.name.as_str(), info.version.as_deref()),
        ("redis", Some("7.0.15"))
    );
    assert_eq!(info.method, DetectionMethod::Probe("redis-info".into()));
    let info = detect(memcached, &settings).await.unwrap();
    assert_eq!(info.product.as_deref(), Some("Memcached"));
    assert_eq!(info.version.as_deref(), Some("1.6.18"));
}

/// GET shows HTTP without a product; HEAD is then asked, and names it.
#[tokio::test]
async fn head_refines_a_product_less_get() {
    let addr = serve(|mut s| async move {
        let req = request(&mut s).await;
        let reply: &[u8] = if req.starts_with(b"HEAD ") {
            b"HTTP/1.1 200 OK\r\nServer: lighttpd/1.4.69\r\n\r\n"
        } else if req.starts_with(b"GET ") {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
        } else {
            b""
        };
        let _ = s.write_all(reply).await;
    })
    .await;
    let info = detect(addr, &settings()).await.unwrap();
    assert_eq!(info.product.as_deref(), Some("lighttpd"));
    assert_eq!(info.method, DetectionMethod::Probe("http-head".into()));

    let plain = serve(|mut s| async move {
        if request(&mut s).await.starts_with(b"GET ") {
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
        }
    })
    .await;
    let info = detect(plain, &settings()).await.unwrap();
    assert_eq!((info.name.as_str(), info.product), ("http", None));
    assert_eq!(info.confidence, 5);
}

#[tokio::test]
async fn closed_port_is_none_at_once() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let start = Instant::now();
    assert_eq!(detect(addr, &settings()).await, None);
    assert!(
        start.elapsed() < Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
}

/// Accepts, then never says a word and never closes: every probe times out, and the whole
/// detection ends within the port's budget.
#[tokio::test]
async fn silent_service_cannot_stall() {
    let addr = serve(|s| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(s);
    })
    .await;
    let mut settings = settings();
    settings.total_timeout = Duration::from_secs(1);
    let start = Instant::now();
    assert_eq!(detect(addr, &settings).await, None);
    let took = start.elapsed();
    assert!(took <= Duration::from_millis(1300), "{took:?}");
}

/// Sends one byte every 20 ms forever, never going quiet: each read ends at its probe's
/// time-out, the detection at the budget, and what came is reported as unknown.
#[tokio::test]
async fn dripping_service_cannot_stall() {
    let addr = serve(|mut s| async move {
        loop {
            if s.write_all(b"A").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let mut settings = settings();
    settings.total_timeout = Duration::from_secs(1);
    let start = Instant::now();
    let info = detect(addr, &settings).await.unwrap();
    let took = start.elapsed();
    assert!(took <= Duration::from_millis(1300), "{took:?}");
    assert_eq!((info.name.as_str(), info.confidence), ("unknown", 0));
    assert!(info.raw.unwrap().starts_with("AAAA"));
}

/// Floods as fast as loopback goes: each answer is cut at `max_read`, nothing buffers more.
#[tokio::test]
async fn flooding_service_is_cut_off() {
    let addr = serve(|mut s| async move {
        let chunk = vec![0xffu8; 64 * 1024];
        while s.write_all(&chunk).await.is_ok() {}
    })
    .await;
    let start = Instant::now();
    let info = detect(addr, &settings()).await.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(info.name, "unknown");
    let raw = info.raw.unwrap();
    assert_eq!(raw, "\\xff".repeat(200));
}

/// Garbage that looks almost like protocols: never a panic, never a false product.
#[tokio::test]
async fn garbage_is_unknown() {
    let addr = serve(|mut s| async move {
        let _ = s
            .write_all(b"SSH-\x00\xff220\r\n* NO\r\nHTTP/9 x\r\n\x16\x03")
            .await;
        let _ = request(&mut s).await;
    })
    .await;
    let info = detect(addr, &settings()).await.unwrap();
    assert_eq!(info.name, "unknown");
    assert_eq!(info.method, DetectionMethod::Banner);
    assert!(info.raw.unwrap().starts_with("SSH-\\x00\\xff220\\r\\n"));
}

#[tokio::test]
async fn many_ports_keep_their_order() {
    let ssh = serve(|mut s| async move {
        let _ = s.write_all(b"SSH-2.0-dropbear_2022.83\r\n").await;
        let _ = request(&mut s).await;
    })
    .await;
    let ftp = serve(|mut s| async move {
        let _ = s.write_all(b"220 (vsFTPd 3.0.3)\r\n").await;
        let _ = request(&mut s).await;
    })
    .await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let results = detect_many([ftp, closed, ssh], &settings(), 0).await;
    let got: Vec<_> = results
        .iter()
        .map(|(a, i)| (*a, i.as_ref().and_then(|i| i.product.clone())))
        .collect();
    assert_eq!(
        got,
        [
            (ftp, Some("vsftpd".to_owned())),
            (closed, None),
            (ssh, Some("Dropbear".to_owned()))
        ]
    );
}

/// The real PostgreSQL of this machine, when one listens on loopback (CI starts one for the
/// store's tests): named by its answers, without a version, which it does not tell.
#[tokio::test]
async fn local_postgresql_when_running() {
    let addr: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    if TcpStream::connect(addr).await.is_err() {
        eprintln!("skipped: no PostgreSQL on 127.0.0.1:5432");
        return;
    }
    let info = detect(addr, &settings()).await.unwrap();
    assert_eq!(info.product.as_deref(), Some("PostgreSQL"), "{info:?}");
    assert_eq!(info.version, None);
    assert_eq!(info.method, DetectionMethod::Probe("postgresql".into()));
    eprintln!("PostgreSQL said: {}", info.raw.unwrap_or_default());
}

#[tokio::test]
async fn a_pacer_spaces_connections() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            log.lock().unwrap().push(tokio::time::Instant::now());
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2p1\r\n").await;
        }
    });
    let mut s = settings();
    s.pacer = Some(Arc::new(picket_service::ConnectPacer::new(10.0)));
    let found = detect_many(vec![addr; 4], &s, 4).await;
    assert!(
        found
            .iter()
            .all(|(_, info)| info.as_ref().is_some_and(|i| i.name == "ssh"))
    );
    let times = accepted.lock().unwrap().clone();
    assert_eq!(times.len(), 4, "one connection per banner service");
    for pair in times.windows(2) {
        // 10 per second: 100 ms apart, less a little for the accept loop's own scheduling.
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(90),
            "{:?}",
            pair[1] - pair[0]
        );
    }
}
