//! Distributed scans in the network-namespace lab: a NATS JetStream server in the scanner
//! namespace (the coordinator's), and `picket worker` processes each in a namespace of its own
//! on the same segment as the target, so each scans from its own source address. A full-range
//! scan through the workers stores what a local scan stores, port for port; a worker killed
//! (SIGKILL) mid-shard changes nothing: its shard comes back after the ack wait. Skipped
//! (passing) without root or without Debian's nats-server.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use picket_lab::{Firewall, Lab, Listeners, Target};
use picket_model::ScanRun;
use picket_store::prelude::*;

use crate::support::{Db, PICKET};

const NATS_PORT: u16 = 4222;
/// Listening on the target: low, middle and high ports.
const OPEN: [u16; 7] = [22, 80, 443, 3306, 8080, 31337, 60001];

/// A lab with a target, worker namespaces and a NATS server for them.
pub struct QueueLab {
    /// Processes started in the lab, killed when it goes (a failed assertion leaves none).
    pids: std::cell::RefCell<Vec<u32>>,
    pub lab: Lab,
    pub target: Target,
    pub workers: Vec<Target>,
    pub url: String,
    pub db: Db,
    nats: Child,
    _store_dir: tempfile::TempDir,
    _listeners: Listeners,
}

impl Drop for QueueLab {
    fn drop(&mut self) {
        for pid in self.pids.borrow().iter() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.nats.kill();
        let _ = self.nats.wait();
    }
}

/// Whether nats-server is installed; says `skipped:` when not.
pub fn have_nats_server() -> bool {
    let found = std::process::Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("skipped: `nats-server` is missing (apt-get install -y nats-server)");
    }
    found
}

impl QueueLab {
    pub fn new(name: &str, workers: usize, firewall: Option<Firewall>) -> Option<Self> {
        let mut lab = Lab::try_new(name).unwrap()?;
        if !have_nats_server() {
            return None;
        }
        let segment = lab.add_segment().unwrap();
        let target = lab.add_host(&segment, 10).unwrap();
        let listeners = target.listen(&OPEN).unwrap();
        if let Some(rules) = firewall {
            target.firewall(&rules).unwrap();
        }
        let workers = (0..workers)
            .map(|i| lab.add_host(&segment, 20 + i as u8).unwrap())
            .collect();
        let server = segment.scanner_address_v4();
        let store_dir = tempfile::tempdir().unwrap();
        let nats = lab
            .scanner_command("nats-server")
            .args([
                "-a",
                &server.to_string(),
                "-p",
                &NATS_PORT.to_string(),
                "-js",
                "-sd",
            ])
            .arg(store_dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = SocketAddr::from((server, NATS_PORT));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let up = lab
                .in_scanner(move || {
                    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                })
                .unwrap();
            if up {
                break;
            }
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Self {
            pids: Default::default(),
            lab,
            target,
            workers,
            url: format!("nats://{addr}"),
            db: Db::new(),
            nats,
            _store_dir: store_dir,
            _listeners: listeners,
        })
    }

    /// Starts `picket worker` in worker namespace `i`; its stderr lines arrive on the channel.
    pub fn spawn_worker(&self, i: usize, extra: &[&str]) -> (Child, mpsc::Receiver<String>) {
        let mut child = self.workers[i]
            .command(PICKET)
            .args(["worker", "--nats", &self.url, "--id", &format!("w{i}")])
            .args(extra)
            .env_remove("PICKET_DB")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.pids.borrow_mut().push(child.id());
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }

    /// `picket scan TARGET -p- ...` from the scanner namespace; the stored run.
    pub fn scan(&self, extra: &[&str]) -> ScanRun {
        let target = self.target.address_v4().to_string();
        let out = self
            .lab
            .scanner_command(PICKET)
            .args([
                "--db",
                self.db.arg(),
                "scan",
                &target,
                "-p-",
                "--format",
                "json",
            ])
            .args(extra)
            .env_remove("PICKET_DB")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scan failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let id = doc["run_id"].as_i64().expect("a run id");
        let store = picket_store::open(self.db.arg()).unwrap();
        store.run(picket_model::RunId(id)).unwrap().unwrap()
    }
}

/// Waits for a line containing `needle` (for at most `secs`).
pub fn wait_for(lines: &mpsc::Receiver<String>, needle: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line with {needle:?} within {secs}s: {e}"),
        }
    }
}

pub fn stop(mut child: Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "worker exited with {status}");
}

fn assert_same(local: &ScanRun, remote: &ScanRun) {
    let differences = picket_app::distributed::port_differences(local, remote);
    assert!(differences.is_empty(), "{differences:#?}");
    let open: Vec<u16> = remote.hosts[0].open_ports().map(|o| o.port).collect();
    assert_eq!(open, OPEN);
}

#[test]
fn a_full_range_scan_by_two_workers_equals_a_local_scan_port_for_port() {
    let Some(q) = QueueLab::new("queue_equal", 2, None) else {
        return;
    };
    let local = q.scan(&[]);
    let workers: Vec<_> = (0..2).map(|i| q.spawn_worker(i, &[])).collect();
    for (_, lines) in &workers {
        wait_for(lines, "ready", 10);
    }
    let remote = q.scan(&["--queue", &q.url]);
    assert_same(&local, &remote);
    for (child, _) in workers {
        stop(child);
    }
}

#[test]
fn a_worker_killed_mid_shard_changes_nothing() {
    let rules = Firewall::new().syn_rate_limit_per_source(2000);
    let Some(q) = QueueLab::new("queue_kill", 2, Some(rules)) else {
        return;
    };
    let (victim, victim_lines) = q.spawn_worker(0, &["--ack-wait", "3s"]);
    wait_for(&victim_lines, "ready", 10);
    let coordinator = {
        let (url, target, db) = (
            q.url.clone(),
            q.target.address_v4().to_string(),
            q.db.arg().to_owned(),
        );
        q.lab
            .scanner_command(PICKET)
            .args([
                "--db", &db, "scan", &target, "-p-", "--format", "json", "--queue", &url,
            ])
            .env_remove("PICKET_DB")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let started = wait_for(&victim_lines, "started", 20);
    let mut victim = victim;
    victim.kill().unwrap();
    victim.wait().unwrap();
    let (survivor, survivor_lines) = q.spawn_worker(1, &["--ack-wait", "3s"]);
    let out = coordinator.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "scan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let redelivered = wait_for(&survivor_lines, "delivery 2", 5);
    let shard = |line: &str| {
        line.split(" shard ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .map(str::to_owned)
    };
    assert_eq!(
        shard(&started),
        shard(&redelivered),
        "{started} / {redelivered}"
    );
    stop(survivor);

    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = doc["run_id"].as_i64().unwrap();
    let store = picket_store::open(q.db.arg()).unwrap();
    let remote = store.run(picket_model::RunId(id)).unwrap().unwrap();
    drop(store);
    let local = q.scan(&[]);
    assert_same(&local, &remote);
}

/// The nftables ruleset of a namespace.
fn ruleset(ns: &Target) -> String {
    let out = ns
        .command("nft")
        .args(["list", "ruleset"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_enforcer_applies_a_published_block_behind_its_own_allow_list() {
    let Some(q) = QueueLab::new("queue_enforce", 2, None) else {
        return;
    };
    let spawn = |i: usize, extra: &[&str]| {
        let mut child = q.workers[i]
            .command(PICKET)
            .args(["enforce", "--nats", &q.url, "--id", &format!("e{i}")])
            .args(extra)
            .env_remove("PICKET_DB")
            .env_remove("PICKET_ALLOW")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        (child, rx)
    };
    let (a, a_lines) = spawn(0, &[]);
    let (b, b_lines) = spawn(1, &["--allow", "198.51.100.0/24"]);
    wait_for(&a_lines, "ready", 10);
    wait_for(&b_lines, "ready", 10);
    for (net, ttl) in [("203.0.113.7", "1h"), ("198.51.100.9", "2h")] {
        let out = q
            .lab
            .scanner_command(PICKET)
            .args([
                "--db",
                q.db.arg(),
                "block",
                net,
                "--ttl",
                ttl,
                "--nats",
                &q.url,
            ])
            .env_remove("PICKET_DB")
            .env_remove("PICKET_ALLOW")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    wait_for(&a_lines, "198.51.100.9", 10);
    wait_for(&b_lines, "not blocking", 10);
    let (in_a, in_b) = (ruleset(&q.workers[0]), ruleset(&q.workers[1]));
    assert!(
        in_a.contains("203.0.113.7") && in_a.contains("198.51.100.9"),
        "{in_a}"
    );
    assert!(in_b.contains("203.0.113.7"), "{in_b}");
    assert!(
        !in_b.contains("198.51.100.9"),
        "the allow-list guard held: {in_b}"
    );
    // A node that starts later applies what was published before it.
    stop(a);
    let (late, late_lines) = spawn(0, &[]);
    wait_for(&late_lines, "198.51.100.9", 10);
    stop(late);
    stop(b);
}

/// The scale-out benchmark (bench/queue/): a target whose IPS drops SYNs above 2,000 a second
/// from each source address, its full range scanned locally and by 1, 2 and 4 workers, each
/// from its own address; every run must be exact. Run with `bench/queue/run.sh` (ignored by
/// default: it takes minutes).
#[test]
#[ignore = "a benchmark: bench/queue/run.sh"]
fn bench_full_range_behind_a_per_source_ips_with_1_2_and_4_workers() {
    let rules = Firewall::new().syn_rate_limit_per_source(2000);
    let Some(q) = QueueLab::new("queue_bench", 4, Some(rules)) else {
        return;
    };
    let timed = |extra: &[&str]| {
        let started = Instant::now();
        let run = q.scan(extra);
        (started.elapsed(), run)
    };
    let (local_time, local) = timed(&[]);
    assert_same(&local, &local);
    let mut rows = vec![format!(
        "| local (no queue) | {:.1} s | - | {} | {} | {} | - |",
        local_time.as_secs_f64(),
        local.hosts[0].open_ports().count(),
        local.hosts[0].stats.probes_sent,
        local.hosts[0].interruptions.len()
    )];
    let mut one = None;
    for n in [1usize, 2, 4] {
        let pool = format!("bench{n}");
        let workers: Vec<_> = (0..n)
            .map(|i| q.spawn_worker(i, &["--pool", &pool]))
            .collect();
        for (_, lines) in &workers {
            wait_for(lines, "ready", 10);
        }
        let (time, remote) = timed(&["--queue", &q.url, "--pool", &pool]);
        assert_same(&local, &remote);
        let base = *one.get_or_insert(time);
        let mut shards = Vec::new();
        for (child, lines) in workers {
            stop(child);
            std::thread::sleep(Duration::from_millis(300));
            shards.extend(
                lines
                    .try_iter()
                    .filter(|l| l.contains(" open, in ") || l.contains("delivery "))
                    .map(|l| l.rsplit(": ").next().unwrap_or_default().to_owned()),
            );
        }
        rows.push(format!(
            "| {n} worker{} | {:.1} s | {:.2} | {} | {} | {} | {} |",
            if n == 1 { "" } else { "s" },
            time.as_secs_f64(),
            time.as_secs_f64() / base.as_secs_f64(),
            remote.hosts[0].open_ports().count(),
            remote.hosts[0].stats.probes_sent,
            remote.hosts[0].interruptions.len(),
            shards.join("; ")
        ));
    }
    println!(
        "| scan | wall time | vs 1 worker | open found (of {}) | probes |",
        OPEN.len()
    );
    println!("|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}

/// `picket workers` lists a running worker from its heartbeat, and forgets it once it stopped
/// cleanly, on the server the tests run (`PICKET_TEST_NATS_URL`: Debian's nats-server 2.9,
/// which cannot create key-value buckets; heartbeats are a stream keeping the last per
/// subject).
#[test]
fn workers_lists_a_running_worker_and_forgets_a_stopped_one() {
    let Some(url) = crate::support::nats_url() else {
        return;
    };
    let pool = format!("listed-{}", std::process::id());
    let mut child = std::process::Command::new(PICKET)
        .args([
            "worker", "--nats", &url, "--pool", &pool, "--id", "listed-1",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let listed = || -> Vec<serde_json::Value> {
        let out = std::process::Command::new(PICKET)
            .args(["workers", "--nats", &url, "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        all.as_array()
            .unwrap()
            .iter()
            .filter(|w| w["pool"] == pool.as_str())
            .cloned()
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mine = loop {
        let mine = listed();
        if !mine.is_empty() || Instant::now() > deadline {
            break mine;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["id"], "listed-1");
    assert_eq!(mine[0]["role"], "scan");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        listed().is_empty(),
        "a worker that stopped cleanly is not listed"
    );
}
