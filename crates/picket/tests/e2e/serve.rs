//! `picket serve` end to end on loopback: schedules fire and store their runs (never two of a job
//! at once), a watched log line reaches a local webhook receiver, a feed file changed on disk
//! changes the next alert, SIGTERM during a scan stores it aborted and during ingest loses and
//! doubles nothing, and `picket config check` names the line and key of every error. In the
//! network-namespace lab, a scheduled scan of a sparse segment (dead addresses, a default-drop
//! host) is exact and keeps each host's reason.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use picket_lab::{Firewall, Lab};

use crate::support::{Db, PICKET, fixture, json, open_ports, picket};
use crate::threat::prepared;

/// Clients of the IPsum fixture, and one on no feed (as in `threat.rs`).
const BAD: &str = "77.90.185.20";
const BAD2: &str = "77.239.124.102";
const CLEAN: &str = "192.0.2.77";

/// A folder with a token file (mode 600) and a config written into it.
struct Service {
    dir: tempfile::TempDir,
    config: PathBuf,
    /// ADDRESS:PORT of the HTTP server.
    listen: String,
    child: Option<Child>,
}

/// The API token every test service gets.
const TOKEN: &str = "e2e-token";

impl Service {
    /// Writes `picket.toml` with `body` after the listen, db and token lines.
    fn new(db: &Db, body: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = dir.path().join("picket.toml");
        let listen = format!("127.0.0.1:{}", free_port());
        std::fs::write(
            &config,
            format!(
                "listen = \"{listen}\"\ndb = \"{}\"\ntoken_file = \"token\"\ntime_zone = \"UTC\"\nknowledge_every = \"1s\"\n{body}",
                db.arg()
            ),
        )
        .unwrap();
        Self {
            dir,
            config,
            listen,
            child: None,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn start(&mut self) {
        self.start_with(Command::new(PICKET));
    }

    /// Starts it inside the lab's scanner namespace: its scans reach the lab's hosts, and its
    /// HTTP server listens on that namespace's loopback.
    fn start_in(&mut self, lab: &Lab) {
        self.start_with(lab.scanner_command(PICKET));
    }

    fn start_with(&mut self, mut command: Command) {
        let log = std::fs::File::create(self.path("serve.log")).unwrap();
        self.child = Some(
            command
                .args(["serve", "--config", self.config.to_str().unwrap()])
                .env_remove("PICKET_DB")
                .env("PICKET_LOG", "picket_server=info,warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("serve.log")).unwrap_or_default()
    }

    /// SIGTERM, as systemd stops it; the service must end cleanly and soon.
    fn stop(&mut self) {
        let mut child = self.child.take().expect("started");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                eprintln!("SIGTERM to exit: {:?}", start.elapsed());
                break status;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("serve did not stop within 30 s of SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            status.success(),
            "serve exited with {status}:\n{}",
            self.log()
        );
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "never {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn runs(db: &Db) -> Vec<Value> {
    json(&picket(&["--db", db.arg(), "runs", "--format", "json"]))
        .as_array()
        .unwrap()
        .clone()
}

fn alerts(db: &Db) -> Vec<Value> {
    json(&picket(&["--db", db.arg(), "alerts", "--format", "json"]))
        .as_array()
        .unwrap()
        .clone()
}

/// One NDJSON connection event.
fn event(ts: &str, client: &str, port: u16) -> String {
    format!(
        "{{\"ts\":\"{ts}\",\"src\":\"{client}\",\"src_port\":40000,\"dst\":\"10.1.2.3\",\"dst_port\":{port},\"proto\":\"tcp\",\"outcome\":\"established\",\"bytes_out\":100,\"bytes_in\":100}}\n"
    )
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// A webhook receiver on loopback: every POST body it got, answered 200.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<(Instant, String)>>>,
}

fn receiver() -> Receiver {
    slow_receiver(Duration::ZERO)
}

/// A receiver that takes `delay` to answer each POST.
fn slow_receiver(delay: Duration) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let got = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            std::thread::sleep(delay);
            if reader.read_exact(&mut body).is_ok() {
                got.lock()
                    .unwrap()
                    .push((Instant::now(), String::from_utf8_lossy(&body).into_owned()));
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    Receiver { url, bodies }
}

impl Receiver {
    /// Every record POSTed so far.
    fn records(&self) -> Vec<Value> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, body)| {
                serde_json::from_str::<Value>(body)
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .clone()
            })
            .collect()
    }
}

#[test]
fn the_example_is_the_shipped_sample_and_passes_the_check() {
    let example = picket(&["config", "example"]);
    assert!(example.status.success());
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/picket.toml");
    assert_eq!(
        String::from_utf8_lossy(&example.stdout),
        std::fs::read_to_string(&shipped).unwrap(),
        "dist/picket.toml differs from `picket config example`"
    );
    let check = picket(&["config", "check", shipped.to_str().unwrap()]);
    assert!(check.status.success());
    assert!(String::from_utf8_lossy(&check.stdout).contains("valid"));
}

#[test]
fn config_check_names_the_line_and_key_of_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:7878\"\n\n[[scan]]\nname = \"a\"\ntargets = [\"127.0.0.1\"]\nports = \"0-99999\"\nschedule = \"every night\"\n\n[[sink]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nmin_severity = \"dire\"\n",
    )
    .unwrap();
    let out = picket(&["config", "check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let f = file.display();
    for want in [
        format!("{f}:6: scan[0].ports:"),
        format!("{f}:7: scan[0].schedule:"),
        format!("{f}:12: sink[0].min_severity:"),
    ] {
        assert!(err.contains(&want), "{want} not in:\n{err}");
    }
    assert_eq!(err.lines().count(), 3, "{err}");

    std::fs::write(&file, "[[watch]]\npath = \"conn.log\"\nfromat = \"zeek\"\n").unwrap();
    let out = picket(&["config", "check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{f}:3: watch[0].fromat: unknown field")),
        "{err}"
    );

    // serve refuses the same file before it listens.
    let out = picket(&["serve", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn serve_refuses_a_token_others_may_read() {
    use std::os::unix::fs::PermissionsExt;
    let db = Db::new();
    let service = Service::new(&db, "");
    let token = service.path("token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = picket(&["serve", "--config", service.config.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mode 0644") && err.contains("chmod 600"),
        "{err}"
    );
    std::fs::write(&token, "\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = picket(&["serve", "--config", service.config.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("empty"), "{err}");
}

#[test]
fn a_schedule_fires_its_runs_are_stored_and_a_busy_job_is_not_started_twice() {
    let db = Db::new();
    // Every second, a scan that takes longer than a second (1,000 ports at 400 probes/s).
    let mut service = Service::new(
        &db,
        "[[scan]]\nname = \"slowish\"\ntargets = [\"127.0.0.1\"]\nports = \"1-1000\"\nmax_rate = 400.0\nschedule = \"* * * * * *\"\n",
    );
    service.start();
    wait_for("two runs stored", Duration::from_secs(30), || {
        runs(&db)
            .iter()
            .filter(|r| r["status"] == "completed")
            .count()
            >= 2
    });
    service.stop();
    let runs = runs(&db);
    let mut spans: Vec<(String, String)> = runs
        .iter()
        .map(|r| {
            (
                r["started_at"].as_str().unwrap().to_owned(),
                r["finished_at"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "two runs of one job overlapped: {pair:?}"
        );
    }
    let log = service.log();
    assert!(
        log.contains("scheduled scan skipped"),
        "a second that found the job running was not skipped:\n{log}"
    );
}

#[test]
fn sigterm_during_a_scan_stores_the_run_as_aborted() {
    let db = Db::new();
    let mut service = Service::new(
        &db,
        "[[scan]]\nname = \"long\"\ntargets = [\"127.0.0.1\"]\nports = \"-\"\nmax_rate = 200.0\nschedule = \"* * * * * *\"\n",
    );
    service.start();
    wait_for("a run begun", Duration::from_secs(20), || {
        !runs(&db).is_empty()
    });
    std::thread::sleep(Duration::from_millis(500));
    service.stop();
    let runs = runs(&db);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["status"], "aborted", "{runs:?}");
    assert!(!runs[0]["finished_at"].is_null());
}

fn watch_config(extra: &str) -> String {
    format!("[[watch]]\npath = \"conn.ndjson\"\nformat = \"ndjson\"\n{extra}")
}

#[test]
fn a_watched_line_from_a_listed_client_reaches_the_webhook_within_seconds() {
    let db = prepared();
    let hook = receiver();
    let mut service = Service::new(
        &db,
        &format!(
            "{}\n[[sink]]\nkind = \"webhook\"\nurl = \"{}\"\nmin_severity = \"low\"\n[[sink]]\nkind = \"file\"\npath = \"alerts.ndjson\"\n",
            watch_config(""),
            hook.url
        ),
    );
    let log = service.path("conn.ndjson");
    append(&log, &event("2025-11-20T12:00:00Z", CLEAN, 22));
    service.start();
    // Let the watcher reach the end of the file, then the line that matters.
    std::thread::sleep(Duration::from_secs(2));
    let written = Instant::now();
    append(&log, &event("2025-11-20T12:01:00Z", BAD, 22));
    wait_for("the alert at the webhook", Duration::from_secs(15), || {
        !hook.records().is_empty()
    });
    let latency = written.elapsed();
    eprintln!("log line to webhook: {latency:?}");
    assert!(latency < Duration::from_secs(5), "took {latency:?}");
    // The metrics count the watcher's events while it runs, not only when it stops.
    let addr = service.listen.clone();
    wait_for("both events in /metrics", Duration::from_secs(10), || {
        let (_, metrics) = http(&addr, "GET", "/metrics", Some(TOKEN), "");
        metrics.contains("picket_events_read_total 2") && metrics.contains("picket_matches_total 1")
    });
    service.stop();

    let records = hook.records();
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["type"], "alert");
    assert_eq!(record["client"], BAD);
    // The same document as `picket alerts --format json`.
    let stored = alerts(&db);
    assert_eq!(stored.len(), 1);
    let mut sent = record.clone();
    sent.as_object_mut().unwrap().remove("type");
    assert_eq!(sent, stored[0]);
    // The file sink got the same record.
    let file = std::fs::read_to_string(service.path("alerts.ndjson")).unwrap();
    assert_eq!(file.lines().count(), 1, "{file}");
    assert_eq!(serde_json::from_str::<Value>(file.trim()).unwrap(), *record);
}

/// A store with vulnerability knowledge and the inventory of `prepared`, but no feed.
fn without_feeds() -> Db {
    let db = Db::new();
    let d = db.arg();
    for args in [
        vec![
            "--db",
            d,
            "vuln",
            "import",
            &fixture("CVE-2024-6387.json"),
            &fixture("kev-slice.json"),
        ],
        vec![
            "--db",
            d,
            "inventory",
            "add",
            "10.1.2.3:22",
            "--product",
            "openssh",
            "--version",
            "9.2p1",
        ],
    ]
    .iter()
    .map(|a| a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = picket(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    db
}

#[test]
fn a_feed_file_changed_on_disk_changes_the_next_alert() {
    let db = without_feeds();
    let mut service = Service::new(
        &db,
        &format!(
            "{}\n[[feed]]\nname = \"local\"\nsource = \"feed.txt\"\n[[sink]]\nkind = \"file\"\npath = \"alerts.ndjson\"\n",
            watch_config("")
        ),
    );
    std::fs::write(service.path("feed.txt"), format!("{BAD}\n")).unwrap();
    let log = service.path("conn.ndjson");
    std::fs::write(&log, "").unwrap();
    service.start();
    let listed = |ip: &str| {
        let out = picket(&["--db", db.arg(), "intel", "lookup", ip, "--format", "json"]);
        json(&out).as_array().is_some_and(|a| !a.is_empty())
    };
    wait_for("the feed loaded", Duration::from_secs(15), || listed(BAD));
    std::thread::sleep(Duration::from_secs(2));
    append(&log, &event("2025-11-20T12:00:00Z", BAD, 22));
    let sent = || -> Vec<Value> {
        std::fs::read_to_string(service.path("alerts.ndjson"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    wait_for("the first alert", Duration::from_secs(15), || {
        sent().iter().any(|r| r["client"] == BAD)
    });

    // The feed now lists the other client only.
    std::fs::write(service.path("feed.txt"), format!("{BAD2}\n")).unwrap();
    wait_for("the feed reloaded", Duration::from_secs(15), || {
        listed(BAD2) && !listed(BAD)
    });
    // The watcher swaps knowledge it finds changed every second.
    std::thread::sleep(Duration::from_secs(3));
    append(
        &log,
        &(event("2025-11-20T14:00:00Z", BAD, 22) + &event("2025-11-20T14:01:00Z", BAD2, 22)),
    );
    wait_for(
        "the alert of the newly listed client",
        Duration::from_secs(15),
        || sent().iter().any(|r| r["client"] == BAD2),
    );
    service.stop();
    let bad: Vec<Value> = alerts(&db)
        .into_iter()
        .filter(|a| a["client"] == BAD)
        .collect();
    assert_eq!(
        bad.len(),
        1,
        "the client no longer listed raised a new alert: {bad:?}"
    );
}

#[test]
fn sigterm_during_ingest_saves_the_checkpoint_and_a_restart_loses_and_doubles_nothing() {
    let db = prepared();
    let mut service = Service::new(&db, &watch_config(""));
    let log = service.path("conn.ndjson");
    // Listed connections spread through a long file of clean ones, so the stop lands mid-file.
    let mut text = String::new();
    for block in 0..20 {
        text.push_str(&event(&format!("2025-11-20T12:{block:02}:00Z"), BAD, 22));
        text.push_str(&event("2025-11-20T12:00:00Z", CLEAN, 22).repeat(10_000));
    }
    std::fs::write(&log, text).unwrap();
    let connections = |db: &Db| -> u64 {
        alerts(db)
            .iter()
            .map(|a| a["connections"].as_u64().unwrap())
            .sum()
    };
    service.start();
    wait_for("ingest under way", Duration::from_secs(30), || {
        connections(&db) >= 1
    });
    service.stop();
    let first = connections(&db);
    eprintln!("counted before the stop: {first} of 20");
    service.start();
    wait_for(
        "every listed connection counted",
        Duration::from_secs(60),
        || connections(&db) >= 20,
    );
    // A flush or two more: nothing may be counted twice.
    std::thread::sleep(Duration::from_secs(2));
    service.stop();
    assert_eq!(
        connections(&db),
        20,
        "lost or doubled (first run counted {first})"
    );
    assert_eq!(alerts(&db).len(), 1);
}

#[test]
fn a_finding_of_a_scheduled_scan_reaches_the_sinks_as_the_cli_prints_it() {
    let db = Db::new();
    let port = free_port();
    let mut service = Service::new(
        &db,
        &format!(
            "[[scan]]\nname = \"one-port\"\ntargets = [\"127.0.0.1\"]\nports = \"{port}\"\nschedule = \"* * * * * *\"\n[[sink]]\nkind = \"file\"\npath = \"out.ndjson\"\nmin_severity = \"critical\"\n"
        ),
    );
    service.start();
    wait_for(
        "a run with the port closed",
        Duration::from_secs(20),
        || runs(&db).iter().any(|r| r["status"] == "completed"),
    );
    let _listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let out = service.path("out.ndjson");
    wait_for("the finding in the sink", Duration::from_secs(20), || {
        std::fs::read_to_string(&out).is_ok_and(|t| t.contains("new-open-port"))
    });
    service.stop();
    let text = std::fs::read_to_string(&out).unwrap();
    let record: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(record["type"], "finding");
    assert_eq!(record["kind"], "new-open-port");
    assert_eq!(record["port"], port);
    let stored = json(&picket(&["--db", db.arg(), "findings", "--format", "json"]));
    let stored = stored
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == record["id"])
        .expect("the sent finding is stored")
        .clone();
    let mut sent = record.clone();
    sent.as_object_mut().unwrap().remove("type");
    assert_eq!(
        sent, stored,
        "the sink sends what `picket findings --format json` shows"
    );
}

#[test]
fn a_stop_delivers_what_the_sinks_still_hold() {
    let db = prepared();
    // One record per POST, each answered after 300 ms: five alerts take well over a second.
    let hook = slow_receiver(Duration::from_millis(300));
    let mut service = Service::new(
        &db,
        &format!(
            "{}\n[[sink]]\nkind = \"webhook\"\nurl = \"{}\"\nbatch = 1\n",
            watch_config(""),
            hook.url
        ),
    );
    let log = service.path("conn.ndjson");
    let lines: String = (0..5)
        .map(|hour| event(&format!("2025-11-20T{:02}:00:00Z", 10 + hour), BAD, 22))
        .collect();
    std::fs::write(&log, lines).unwrap();
    service.start();
    wait_for("the first delivery", Duration::from_secs(15), || {
        !hook.records().is_empty()
    });
    service.stop();
    let sent = hook.records().len();
    assert_eq!(alerts(&db).len(), 5);
    assert_eq!(sent, 5, "the stop left records undelivered");
}

#[test]
fn a_watched_log_that_appears_later_is_followed() {
    let db = prepared();
    let mut service = Service::new(
        &db,
        &format!(
            "{}\n[[sink]]\nkind = \"file\"\npath = \"alerts.ndjson\"\n",
            watch_config("")
        ),
    );
    service.start();
    std::thread::sleep(Duration::from_secs(1));
    append(
        &service.path("conn.ndjson"),
        &event("2025-11-20T12:00:00Z", BAD, 22),
    );
    wait_for("the alert", Duration::from_secs(20), || {
        std::fs::read_to_string(service.path("alerts.ndjson")).is_ok_and(|t| t.contains(BAD))
    });
    service.stop();
    let log = service.log();
    assert_eq!(
        log.matches("watcher failed").count(),
        1,
        "the missing log was reported once:\n{log}"
    );
}

/// `METHOD path` on the service, with the token or without; (status, body); status 0 when
/// nothing listens yet. HTTP/1.0, so the answer is never chunked.
fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    // Status 0: not listening (yet).
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn scheduled_runs_appear_in_the_api_and_the_metrics_behind_the_token() {
    let db = Db::new();
    let mut service = Service::new(
        &db,
        "[[scan]]\nname = \"api\"\ntargets = [\"127.0.0.1\"]\nports = \"22,80\"\nschedule = \"* * * * * *\"\n[[scan]]\nname = \"asked\"\ntargets = [\"127.0.0.1\"]\nports = \"443\"\n",
    );
    service.start();
    let addr = service.listen.clone();
    let get = |path: &str| http(&addr, "GET", path, Some(TOKEN), "");
    wait_for("a run in GET /api/v1/runs", Duration::from_secs(20), || {
        let (status, body) = get("/api/v1/runs");
        status == 200
            && serde_json::from_str::<Value>(&body).is_ok_and(|v| {
                v.as_array()
                    .is_some_and(|a| a.iter().any(|r| r["status"] == "completed"))
            })
    });
    let (_, body) = get("/api/v1/runs");
    let api: Value = serde_json::from_str(&body).unwrap();
    let cli = runs(&db);
    // A finished run: one still running may finish between the two reads.
    let first = api
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "completed")
        .expect("a completed run in the API");
    let same = cli.iter().find(|r| r["id"] == first["id"]).unwrap();
    assert_eq!(first, same, "the API's run is the CLI's");

    // A job started over HTTP answers with its run's id.
    let (status, body) = http(
        &addr,
        "POST",
        "/api/v1/scans",
        Some(TOKEN),
        r#"{"job":"asked"}"#,
    );
    assert_eq!(status, 202, "{body}");
    let run = serde_json::from_str::<Value>(&body).unwrap()["run_id"].clone();
    assert!(run.as_i64().is_some_and(|id| id > 0), "{body}");
    wait_for("the asked run stored", Duration::from_secs(20), || {
        runs(&db)
            .iter()
            .any(|r| r["id"] == run && r["status"] == "completed")
    });

    let (status, metrics) = get("/metrics");
    assert_eq!(status, 200);
    for line in [
        "picket_scans_finished_total{job=\"api\",status=\"completed\"}",
        "picket_scans_finished_total{job=\"asked\",status=\"completed\"} 1",
        "# TYPE picket_probes_sent counter",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
    for path in [
        "/api/v1/runs",
        "/api/v1/findings",
        "/api/v1/alerts",
        "/metrics",
    ] {
        assert_eq!(http(&addr, "GET", path, None, "").0, 401, "{path}");
        assert_eq!(http(&addr, "GET", path, Some("wrong"), "").0, 401, "{path}");
    }
    service.stop();
}

#[test]
fn a_queued_job_is_scanned_by_a_worker_and_stored_as_a_local_run_would_be() {
    let Some(url) = crate::support::nats_url() else {
        return;
    };
    // A pool of its own: no other test's worker takes this job's shards.
    let pool = format!("serve-{}", std::process::id());
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let open: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    let ports = open
        .iter()
        .map(u16::to_string)
        .chain(["1".into()])
        .collect::<Vec<_>>()
        .join(",");
    let worker_log = tempfile::NamedTempFile::new().unwrap();
    let mut worker = Command::new(PICKET)
        .args(["worker", "--nats", &url, "--pool", &pool, "--id", "serve-w"])
        .env_remove("PICKET_DB")
        .stdout(Stdio::null())
        .stderr(worker_log.reopen().unwrap())
        .spawn()
        .unwrap();
    let db = Db::new();
    let mut service = Service::new(
        &db,
        &format!(
            "[[scan]]\nname = \"queued\"\ntargets = [\"127.0.0.1\"]\nports = \"{ports}\"\nno_ping = true\nqueue = \"{url}\"\npool = \"{pool}\"\n"
        ),
    );
    service.start();
    let addr = service.listen.clone();
    wait_for("the service listening", Duration::from_secs(20), || {
        http(&addr, "GET", "/api/v1/jobs", Some(TOKEN), "").0 == 200
    });
    let (status, body) = http(
        &addr,
        "POST",
        "/api/v1/scans",
        Some(TOKEN),
        r#"{"job":"queued"}"#,
    );
    assert_eq!(status, 202, "{body}");
    let run = serde_json::from_str::<Value>(&body).unwrap()["run_id"].clone();
    wait_for("the queued run stored", Duration::from_secs(60), || {
        runs(&db)
            .iter()
            .any(|r| r["id"] == run && r["status"] == "completed")
    });
    // The API lists the workers of the job's server as `picket workers` does.
    let (status, body) = http(&addr, "GET", "/api/v1/workers", Some(TOKEN), "");
    assert_eq!(status, 200, "{body}");
    let listed: Value = serde_json::from_str(&body).unwrap();
    let cli = json(&picket(&["workers", "--nats", &url, "--format", "json"]));
    let ours = |list: &Value| -> Value {
        list.as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == "serve-w")
            .map(|w| serde_json::json!([w["pool"], w["role"], w["hostname"], w["started_at"]]))
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        ours(&listed),
        serde_json::json!([pool, "scan", ours(&cli)[2], ours(&cli)[3]]),
        "{body}"
    );
    service.stop();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let _ = worker.wait();
    // The worker scanned it, not the service: its shard is in its log.
    let log = std::fs::read_to_string(worker_log.path()).unwrap();
    assert!(
        log.contains(&format!("run {run}-")) && log.contains("shard 0: 1 host, 3 open"),
        "the worker's log:\n{log}"
    );

    use picket_store::prelude::*;
    let store = picket_store::open(db.arg()).unwrap();
    let stored = store
        .run(picket_model::RunId(run.as_i64().unwrap()))
        .unwrap()
        .unwrap();
    let mut found: Vec<u16> = stored
        .hosts
        .iter()
        .flat_map(|h| h.ports.iter())
        .filter(|o| o.state == picket_model::PortState::Open)
        .map(|o| o.port)
        .collect();
    found.sort_unstable();
    let mut expected = open.clone();
    expected.sort_unstable();
    assert_eq!(found, expected, "the worker's scan, stored by the service");
    drop(listeners);
}

#[test]
fn a_scheduled_scan_of_a_sparse_segment_is_exact_and_keeps_each_host_s_reason() {
    let Some(mut lab) = Lab::try_new("serve_sparse").unwrap() else {
        return;
    };
    let segment = lab.add_segment().unwrap();
    let live = lab.add_host(&segment, 9).unwrap();
    let guarded = lab.add_host(&segment, 40).unwrap();
    let _live_ports = live.listen(&[22, 80, 1500]).unwrap();
    let _guarded_ports = guarded.listen(&[1234, 1999]).unwrap();
    // A cloud security group: only its listeners answer, everything else is dropped, so host
    // discovery's probes (80, 443, 22, 3389; echo) go unanswered and ARP finds it.
    guarded
        .firewall(&Firewall::new().allow_only([1234, 1999]))
        .unwrap();
    let db = Db::new();
    let mut service = Service::new(
        &db,
        &format!(
            "[[scan]]\nname = \"segment\"\ntargets = [\"{}\"]\nports = \"1-2000\"\nschedule = \"* * * * * *\"\n",
            segment.cidr_v4()
        ),
    );
    service.start_in(&lab);
    wait_for("a completed run", Duration::from_secs(90), || {
        runs(&db).iter().any(|r| r["status"] == "completed")
    });
    let id = runs(&db)
        .iter()
        .filter(|r| r["status"] == "completed")
        .map(|r| r["id"].as_i64().unwrap())
        .min()
        .unwrap();
    // The API listens on the scanner namespace's loopback.
    let addr = service.listen.clone();
    let (status, body) = lab
        .in_scanner(move || http(&addr, "GET", &format!("/api/v1/runs/{id}"), Some(TOKEN), ""))
        .unwrap();
    service.stop();
    assert_eq!(status, 200, "{body}");
    let run: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        open_ports(&run, &live.address_v4().to_string()),
        [22, 80, 1500]
    );
    assert_eq!(
        open_ports(&run, &guarded.address_v4().to_string()),
        [1234, 1999]
    );
    let hosts = run["hosts"].as_array().unwrap();
    let scanner = segment.scanner_address_v4().to_string();
    let reason = |address: &str| -> String {
        hosts
            .iter()
            .find(|h| h["address"] == address)
            .map(|h| format!("{} {}", h["state"], h["reason"]))
            .unwrap_or_default()
    };
    // Whichever of its answers the scanner saw first: the echo, a discovery port's, or its ARP
    // reply (the engine marks a host up as soon as its neighbour entry is answered, and that
    // can come before the probes' answers are read: a CI run saw it).
    let live_reason = reason(&live.address_v4().to_string());
    assert!(
        [
            "\"up\" \"port-answered\"",
            "\"up\" \"echo-reply\"",
            "\"up\" \"arp-response\""
        ]
        .contains(&live_reason.as_str()),
        "{live_reason}"
    );
    assert_eq!(
        reason(&guarded.address_v4().to_string()),
        "\"up\" \"arp-response\""
    );
    let down: Vec<&Value> = hosts.iter().filter(|h| h["state"] == "down").collect();
    // 64 addresses: the two hosts, the scanner's own, and 61 that nobody has.
    assert_eq!(down.len(), 61, "{}", run["hosts_up"]);
    // The segment's network and broadcast addresses are refused by our own kernel; every
    // other dead address went unanswered on the link.
    let edges = [segment.address_v4(0), segment.address_v4(63)].map(|a| a.to_string());
    for h in down {
        assert_ne!(h["address"], scanner.as_str());
        if !edges.iter().any(|e| h["address"] == e.as_str()) {
            assert_eq!(h["reason"], "host-unreach", "{h}");
        }
    }
}
