//! Two realistic runs of the same targets, an hour apart, built the way the scan engine stores
//! them: every port of 1-1024 decided, the common state summarised in `extra_ports`.
//!
//! The addresses are from 192.0.2.0/24 (TEST-NET-1, RFC 5737): data only, nothing is sent.
//!
//! | host | previous run (41) | this run (42) |
//! |---|---|---|
//! | .10 web1 | 22, 80, 443 open; rest reset | 22, 631 open; 443 silent; 80 reset via the summary |
//! | .11 db1 | 22, 25, 111 open; rest silent | 22 open, then an interruption: 25, 111 unprobed |
//! | .12 mail | 25 open; rest silent | down, host-unreach |
//! | .13 ftp | 21, 990 open; rest reset | 21, 990 silent (the scan missed them) |
//! | .14 new | not in the run | 445 open; rest reset |

use std::net::IpAddr;
use std::time::Duration;

use picket_model::{
    ExtraPorts, HostReason, HostResult, HostState, HostStats, Interruption, Observation, PortSet,
    PortState, ProbeRecord, Reason, RunId, RunStatus, ScanProfile, ScanRun, Targets, Timestamp,
};

pub fn ip(last: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, last])
}

/// The last octet of a TEST-NET-1 address, as the tests name hosts.
pub fn last_octet(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(v4) => v4.octets()[3],
        IpAddr::V6(_) => panic!("the test runs hold IPv4 addresses only"),
    }
}

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

pub fn scanned() -> PortSet {
    "1-1024".parse().unwrap()
}

/// Every scanned port: `listed` as given (port, reason, rtt µs), the rest `rest`, summarised.
fn ports(listed: &[(u16, Reason, u64)], rest: Reason) -> (Vec<Observation>, Vec<ExtraPorts>) {
    let all = scanned()
        .iter()
        .map(|p| match listed.iter().find(|(port, ..)| *port == p) {
            Some(&(port, reason, rtt)) => Observation::new(
                port,
                reason,
                reason.is_answer().then(|| Duration::from_micros(rtt)),
                if reason.is_answer() { 1 } else { 3 },
            ),
            None => Observation::new(p, rest, None, if rest.is_answer() { 1 } else { 3 }),
        })
        .collect();
    HostResult::summarise(all, 20)
}

fn stats(answers: u64, loss: f64) -> HostStats {
    HostStats {
        probes_sent: 1100,
        answers,
        srtt: Some(Duration::from_micros(800)),
        loss,
        retries: 2,
        read_timeout: Duration::from_millis(250),
    }
}

fn up(last: u8, name: &str, listed: &[(u16, Reason, u64)], rest: Reason) -> HostResult {
    let (ports, extra_ports) = ports(listed, rest);
    let answers = if rest.is_answer() {
        1024
    } else {
        listed.len() as u64
    };
    HostResult {
        address: ip(last),
        hostname: Some(name.to_owned()),
        reverse_name: None,
        state: HostState::Up,
        reason: HostReason::PortAnswered,
        ports,
        extra_ports,
        unprobed: vec![],
        interruptions: vec![],
        stats: stats(answers, 0.01),
    }
}

fn run(id: i64, started: &str, hosts: Vec<HostResult>) -> ScanRun {
    let targets =
        Targets::parse(["192.0.2.8/29", "192.0.2.13-192.0.2.14"], [] as [&str; 0]).unwrap();
    let mut profile = ScanProfile::new(scanned());
    profile.max_checks = 512;
    ScanRun {
        id: RunId(id),
        target_key: targets.key(),
        targets,
        profile,
        started_at: ts(started),
        finished_at: None,
        status: RunStatus::Completed,
        hosts,
        rechecks: vec![],
        unlisted_down: 0,
    }
}

pub fn previous() -> ScanRun {
    use Reason::{NoResponse, Reset, SynAck};
    run(
        41,
        "2026-05-01T13:00:00Z",
        vec![
            up(
                10,
                "web1.example.net",
                &[(22, SynAck, 400), (80, SynAck, 350), (443, SynAck, 380)],
                Reset,
            ),
            up(
                11,
                "db1.example.net",
                &[(22, SynAck, 900), (25, SynAck, 950), (111, SynAck, 870)],
                NoResponse,
            ),
            up(12, "mail.example.net", &[(25, SynAck, 1200)], NoResponse),
            up(
                13,
                "ftp.example.net",
                &[(21, SynAck, 600), (990, SynAck, 650)],
                Reset,
            ),
        ],
    )
}

/// The interruption this run recorded on db1.
pub fn db1_interruption() -> Interruption {
    Interruption {
        at: ts("2026-05-01T14:02:11.482Z"),
        answered_before: 1204,
        silent_probes: 96,
        canary_port: Some(22),
        rate: 850.0,
        resumed: false,
        paused: Duration::from_secs(30),
    }
}

pub fn current() -> ScanRun {
    use Reason::{NoResponse, Reset, SynAck};
    let web1 = up(
        10,
        "web1.example.net",
        &[(22, SynAck, 410), (443, NoResponse, 0), (631, SynAck, 300)],
        Reset,
    );

    let mut db1 = up(11, "db1.example.net", &[(22, SynAck, 880)], NoResponse);
    // The host went silent after port 22 answered: 25 and 111 were never decided, so the
    // summary covers the others only.
    db1.unprobed = vec![25, 111];
    db1.extra_ports = vec![ExtraPorts {
        state: PortState::Filtered,
        reason: NoResponse,
        count: 1021,
    }];
    db1.interruptions = vec![db1_interruption()];
    db1.stats = stats(1204, 0.04);

    let mail = HostResult {
        address: ip(12),
        hostname: Some("mail.example.net".to_owned()),
        reverse_name: None,
        state: HostState::Down,
        reason: HostReason::HostUnreach,
        ports: vec![],
        extra_ports: vec![],
        unprobed: vec![],
        interruptions: vec![],
        stats: HostStats {
            probes_sent: 6,
            ..HostStats::default()
        },
    };

    let ftp = up(
        13,
        "ftp.example.net",
        &[(21, NoResponse, 0), (990, NoResponse, 0)],
        Reset,
    );
    let new = up(14, "new.example.net", &[(445, SynAck, 700)], Reset);

    run(42, "2026-05-01T14:00:00Z", vec![web1, db1, mail, ftp, new])
}

/// Re-check probes of one port, 500 ms apart.
pub fn probes(port: u16, outcomes: &[Reason]) -> Vec<ProbeRecord> {
    outcomes
        .iter()
        .enumerate()
        .map(|(i, &outcome)| ProbeRecord {
            port,
            at_ms: i as u64 * 500,
            outcome,
            rtt: outcome
                .is_answer()
                .then(|| Duration::from_micros(700 + 10 * i as u64)),
        })
        .collect()
}
