//! The exposure job in the network-namespace lab: exact full-range scans through loss and an
//! IPS, then every re-check verdict from a real cause. No open port may ever be reported closed.

use std::time::Duration;

use picket_lab::{Firewall, Lab, Listeners, Target};
use serde_json::Value;

use crate::support::{Db, findings, json, open_ports, picket_in, ports_in_state};

/// 463 ports spread over the whole range, as in the lab the issue describes.
fn spread_ports() -> Vec<u16> {
    let mut x: u32 = 777;
    let mut ports = std::collections::BTreeSet::new();
    while ports.len() < 463 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        ports.insert(((x >> 8) % 65535 + 1) as u16);
    }
    ports.into_iter().collect()
}

struct Scenario {
    lab: Lab,
    target: Target,
    db: Db,
    addr: String,
}

impl Scenario {
    fn new(name: &str) -> Option<Self> {
        let mut lab = Lab::try_new(name).unwrap()?;
        let target = lab.add_target().unwrap();
        let addr = target.address_v4().to_string();
        Some(Self {
            lab,
            target,
            db: Db::new(),
            addr,
        })
    }

    fn scan(&self, ports: &str, extra: &[&str]) -> Value {
        let mut args = vec![
            "scan",
            &self.addr,
            "-p",
            ports,
            "--db",
            self.db.arg(),
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        json(&picket_in(&self.lab, &args))
    }
}

/// Listening ports must never be reported closed, in any run.
fn assert_never_closed(doc: &Value, host: &str, listening: &[u16]) {
    let closed = ports_in_state(doc, host, "closed");
    let wrong: Vec<_> = listening.iter().filter(|p| closed.contains(p)).collect();
    assert!(
        wrong.is_empty(),
        "listening ports reported closed: {wrong:?}"
    );
}

fn assert_exact(doc: &Value, host: &str, expected: &[u16]) {
    let found = open_ports(doc, host);
    let missed: Vec<_> = expected.iter().filter(|p| !found.contains(p)).collect();
    let extra: Vec<_> = found.iter().filter(|p| !expected.contains(p)).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "missed {missed:?}, false positives {extra:?}"
    );
    assert_never_closed(doc, host, expected);
}

#[test]
fn full_range_is_exact_with_three_percent_loss() {
    let Some(s) = Scenario::new("e2e_loss") else {
        return;
    };
    let ports = spread_ports();
    let _l = s.target.listen(&ports).unwrap();
    s.target.firewall(&Firewall::new().random_loss(3)).unwrap();
    let doc = s.scan("-", &[]);
    assert_exact(&doc, &s.addr, &ports);
}

#[test]
fn full_range_is_exact_behind_an_ips_limiting_syns_to_2000_per_second() {
    let Some(s) = Scenario::new("e2e_ips") else {
        return;
    };
    let ports = spread_ports();
    let _l = s.target.listen(&ports).unwrap();
    s.target
        .firewall(&Firewall::new().syn_rate_limit(2000))
        .unwrap();
    let doc = s.scan("-", &[]);
    assert_exact(&doc, &s.addr, &ports);
}

const RANGE: &str = "1-10000";
const STAYS: [u16; 4] = [22, 80, 443, 2049];

/// A baseline run with `STAYS` and `extra` open; returns the guards, `extra`'s separately.
fn baseline(s: &Scenario, extra: &[u16]) -> (Listeners, Listeners) {
    let stays = s.target.listen(&STAYS).unwrap();
    let changing = s.target.listen(extra).unwrap();
    let doc = s.scan(RANGE, &[]);
    let mut expected = [STAYS.as_slice(), extra].concat();
    expected.sort_unstable();
    assert_exact(&doc, &s.addr, &expected);
    (stays, changing)
}

fn recheck_verdicts(doc: &Value) -> Vec<(u16, String)> {
    findings(doc)
        .into_iter()
        .filter(|(kind, ..)| kind == "open-port-recheck")
        .map(|(_, port, verdict)| (port, verdict))
        .collect()
}

#[test]
fn a_port_that_really_closed_is_closed() {
    let Some(s) = Scenario::new("e2e_closed") else {
        return;
    };
    let (_stays, changing) = baseline(&s, &[8080, 9090]);
    drop(changing);
    let doc = s.scan(RANGE, &[]);
    assert_eq!(
        recheck_verdicts(&doc),
        vec![(8080, "closed".into()), (9090, "closed".into())]
    );
    assert_never_closed(&doc, &s.addr, &STAYS);
    let f = &doc["findings"][0];
    assert_eq!(f["current_state"], "closed");
    assert!(
        f["evidence"]["probes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["outcome"] == "reset")
    );
}

#[test]
fn a_port_behind_a_new_filter_is_filtered() {
    let Some(s) = Scenario::new("e2e_filtered") else {
        return;
    };
    let (_stays, _changing) = baseline(&s, &[8080]);
    s.target
        .firewall(&Firewall::new().drop_ports([8080]))
        .unwrap();
    let doc = s.scan(RANGE, &[]);
    assert_eq!(recheck_verdicts(&doc), vec![(8080, "filtered".into())]);
    assert_never_closed(&doc, &s.addr, &[8080]);
}

#[test]
fn a_host_that_went_down_is_host_down() {
    let Some(s) = Scenario::new("e2e_down") else {
        return;
    };
    let (_stays, _changing) = baseline(&s, &[]);
    s.target.set_link(false).unwrap();
    let doc = s.scan(RANGE, &[]);
    let verdicts = recheck_verdicts(&doc);
    assert_eq!(verdicts.len(), STAYS.len(), "{verdicts:?}");
    assert!(
        verdicts.iter().all(|(_, v)| v == "host-down"),
        "{verdicts:?}"
    );
    assert_eq!(doc["hosts"][0]["state"], "down");
}

#[test]
fn an_ips_ban_mid_scan_is_scan_interrupted() {
    let Some(s) = Scenario::new("e2e_ban") else {
        return;
    };
    let (_stays, _changing) = baseline(&s, &[8080]);
    s.target
        .firewall(&Firewall::new().ban_after(300, Duration::from_secs(600)))
        .unwrap();
    // The ban outlasts the patience: the ports it hid are given up as unprobed.
    let doc = s.scan(RANGE, &["--ban-patience", "20s"]);
    let verdicts = recheck_verdicts(&doc);
    // Ports the scan decided before the ban keep their state; every open port it could not
    // confirm must be called an interruption, never closed.
    assert!(!verdicts.is_empty(), "the ban went unnoticed: {doc}");
    assert!(
        verdicts.iter().all(|(_, v)| v == "scan-interrupted"),
        "{verdicts:?}"
    );
    assert!(
        !doc["hosts"][0]["interruptions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_never_closed(&doc, &s.addr, &[STAYS.as_slice(), &[8080]].concat());
    let remediation = doc["findings"][0]["remediation"].to_string();
    assert!(
        remediation.contains("allow-list") || remediation.contains("allow"),
        "{remediation}"
    );
}

#[test]
fn a_flapping_port_is_flapping() {
    let Some(s) = Scenario::new("e2e_flap") else {
        return;
    };
    let (_stays, changing) = baseline(&s, &[8080]);
    drop(changing);
    // Listening for 3 s, refusing for 3 s, ...: scan early in a refusing phase (it takes well
    // under a second), re-check (about 4 s) into the next listening phase.
    let period = Duration::from_secs(3);
    let _flap = s.target.flap(8080, period).unwrap();
    std::thread::sleep(period + Duration::from_millis(100));
    let doc = s.scan("22,80,443,2049,8080", &[]);
    assert_eq!(recheck_verdicts(&doc), vec![(8080, "flapping".into())]);
}

#[test]
fn ports_behind_a_shared_round_robin_are_never_closed() {
    let Some(s) = Scenario::new("e2e_round_robin") else {
        return;
    };
    let shared = [8080, 8081, 8082];
    let _listening = s.target.listen(&shared).unwrap();
    let doc = s.scan("8080-8082", &[]);
    assert_exact(&doc, &s.addr, &shared);
    // Every other SYN to any of the three is reset: the scan sees some of them closed, and the
    // re-check must not confirm that, whatever order its probes take.
    s.target
        .firewall(&Firewall::new().round_robin_reset(shared))
        .unwrap();
    for _ in 0..3 {
        let doc = s.scan("8080-8082", &[]);
        let verdicts = recheck_verdicts(&doc);
        assert!(
            verdicts.iter().all(|(_, v)| v == "flapping"),
            "{verdicts:?}"
        );
    }
}
