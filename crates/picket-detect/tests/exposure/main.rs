//! The exposure rules over two realistic runs: diff, suspects, liveness ports, verdicts,
//! corrections and the findings a person reads (snapshots).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use picket_detect::exposure::{
    FindingContext, RecheckInput, Suspect, apply_corrections, diff, findings, liveness_ports,
    recheck, suspects,
};
use picket_model::{
    Evidence, Finding, FindingKind, HostReason, HostState, PortChange, PortState, Protocol, Reason,
    Recheck, RunId, Verdict, Verify,
};
use picket_report::FindingDoc;
use support::{current, ip, last_octet, previous, probes, ts};

fn change(
    host: u8,
    port: u16,
    before: Option<(PortState, Reason)>,
    after: Option<(PortState, Reason)>,
) -> PortChange {
    PortChange {
        host: ip(host),
        port,
        protocol: Protocol::Tcp,
        before: before.map(|(s, _)| s),
        before_reason: before.map(|(_, r)| r),
        after: after.map(|(s, _)| s),
        after_reason: after.map(|(_, r)| r),
    }
}

const OPEN: Option<(PortState, Reason)> = Some((PortState::Open, Reason::SynAck));
const RESET: Option<(PortState, Reason)> = Some((PortState::Closed, Reason::Reset));
const SILENT: Option<(PortState, Reason)> = Some((PortState::Filtered, Reason::NoResponse));

#[test]
fn diff_compares_through_the_summaries() {
    let d = diff(&previous(), &current());
    assert_eq!((d.from, d.to), (RunId(41), RunId(42)));
    assert_eq!(d.hosts_up, vec![ip(14)]);
    assert_eq!(d.hosts_down, vec![ip(12)]);
    assert_eq!(
        d.changes,
        vec![
            // web1: 80 is closed only through this run's summary; 631 was closed only through
            // the previous run's summary.
            change(10, 80, OPEN, RESET),
            change(10, 443, OPEN, SILENT),
            change(10, 631, RESET, OPEN),
            // db1: never decided after the interruption.
            change(11, 25, OPEN, None),
            change(11, 111, OPEN, None),
            change(12, 25, OPEN, None),
            change(13, 21, OPEN, SILENT),
            change(13, 990, OPEN, SILENT),
            change(14, 445, None, OPEN),
        ]
    );
}

#[test]
fn diff_of_a_run_with_itself_is_empty() {
    let d = diff(&current(), &current());
    assert!(d.hosts_up.is_empty() && d.hosts_down.is_empty() && d.changes.is_empty());
    assert_eq!(d.compared_ports, None, "both runs scanned the same ports");
}

#[test]
fn diff_compares_only_the_ports_both_runs_scanned() {
    // The newer run scanned ports 1-100 only: 443, 631, 111, 990 and 445 were not looked at,
    // which is no change to "unknown".
    let mut cur = current();
    cur.profile.ports = "1-100".parse().unwrap();
    for (from, to) in [(previous(), cur.clone()), (cur, previous())] {
        let d = diff(&from, &to);
        assert_eq!(
            d.compared_ports
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("1-100")
        );
        let changed: Vec<(u8, u16)> = d
            .changes
            .iter()
            .map(|c| (last_octet(c.host), c.port))
            .collect();
        assert_eq!(changed, [(10, 80), (11, 25), (12, 25), (13, 21)]);
    }
}

fn suspect(host: u8, name: &str, port: u16, scan_reason: Option<Reason>) -> Suspect {
    Suspect {
        host: ip(host),
        hostname: Some(name.to_owned()),
        port,
        previous_reason: Reason::SynAck,
        scan_reason,
    }
}

#[test]
fn suspects_are_the_ports_no_longer_open() {
    let web1 = "web1.example.net";
    let db1 = "db1.example.net";
    let ftp = "ftp.example.net";
    assert_eq!(
        suspects(&previous(), &current()),
        vec![
            suspect(10, web1, 80, Some(Reason::Reset)),
            suspect(10, web1, 443, Some(Reason::NoResponse)),
            suspect(11, db1, 25, None),
            suspect(11, db1, 111, None),
            suspect(12, "mail.example.net", 25, None),
            suspect(13, ftp, 21, Some(Reason::NoResponse)),
            suspect(13, ftp, 990, Some(Reason::NoResponse)),
        ]
    );
}

#[test]
fn suspects_skip_ports_and_hosts_this_run_did_not_scan() {
    let prev = previous();
    let mut cur = current();
    cur.profile.ports = "1-100".parse().unwrap();
    cur.hosts.retain(|h| h.address != ip(12));
    let left: Vec<(u8, u16)> = suspects(&prev, &cur)
        .iter()
        .map(|s| (last_octet(s.host), s.port))
        .collect();
    // 443, 111 and 990 were not in -p; mail (.12) is no longer in the run.
    assert_eq!(left, vec![(10, 80), (11, 25), (13, 21)]);
}

#[test]
fn no_suspects_when_nothing_closed() {
    assert!(suspects(&previous(), &previous()).is_empty());
}

#[test]
fn liveness_ports_over_the_runs() {
    let prev = previous();
    let cur = current();
    let ports_of = |last: u8, n: usize| {
        let sus: Vec<u16> = suspects(&prev, &cur)
            .iter()
            .filter(|s| s.host == ip(last))
            .map(|s| s.port)
            .collect();
        liveness_ports(cur.host(ip(last)), prev.host(ip(last)), &sus, n)
    };
    // web1: both open ports of this run, fastest first; the summarised resets are not listed.
    assert_eq!(ports_of(10, 3), vec![631, 22]);
    assert_eq!(ports_of(10, 1), vec![631]);
    assert_eq!(ports_of(11, 3), vec![22]);
    // mail is down and its one open port is the suspect: nothing can prove it alive.
    assert!(ports_of(12, 3).is_empty());
    // ftp: no open port now; nothing else was open before.
    assert!(ports_of(13, 3).is_empty());
}

/// Re-checks every suspect the way the engine would report it, with fixed probe outcomes.
fn rechecks() -> Vec<Recheck> {
    use Reason::{NoResponse, Reset, SynAck};
    let prev = previous();
    let cur = current();
    // (host, port) -> (outcomes of the port's probes, liveness probes as (port, outcome)).
    type Outcomes = (Vec<Reason>, Vec<(u16, Reason)>);
    let outcomes: BTreeMap<(u8, u16), Outcomes> = [
        (
            (10, 80),
            (vec![Reset, Reset, Reset], vec![(631, SynAck), (22, SynAck)]),
        ),
        (
            (10, 443),
            (vec![NoResponse; 4], vec![(631, SynAck), (22, SynAck)]),
        ),
        (
            (11, 25),
            (
                vec![NoResponse; 4],
                vec![(22, NoResponse), (22, NoResponse)],
            ),
        ),
        (
            (11, 111),
            (vec![NoResponse, SynAck, SynAck], vec![(22, SynAck)]),
        ),
        ((12, 25), (vec![NoResponse; 4], vec![])),
        (
            (13, 21),
            (
                vec![SynAck, NoResponse, NoResponse, SynAck, NoResponse],
                vec![],
            ),
        ),
        ((13, 990), (vec![SynAck, SynAck], vec![])),
    ]
    .into_iter()
    .collect();

    suspects(&prev, &cur)
        .iter()
        .map(|s| {
            let (port, live) = &outcomes[&(last_octet(s.host), s.port)];
            let probes = probes(s.port, port);
            let liveness: Vec<_> = live
                .iter()
                .enumerate()
                .map(|(i, &(p, r))| {
                    let mut rec = support::probes(p, &[r]).remove(0);
                    rec.at_ms = 250 + 500 * i as u64;
                    rec
                })
                .collect();
            recheck(
                &RecheckInput {
                    suspect: s,
                    host: cur.host(s.host),
                    probes: &probes,
                    liveness: &liveness,
                },
                prev.id,
                20.0,
                Duration::from_secs(2),
            )
        })
        .collect()
}

#[test]
fn every_verdict_over_the_runs() {
    let verdicts: Vec<(u16, Verdict)> = rechecks().iter().map(|r| (r.port, r.verdict)).collect();
    assert_eq!(
        verdicts,
        vec![
            (80, Verdict::Closed),
            (443, Verdict::Filtered),
            (25, Verdict::ScanInterrupted),
            (111, Verdict::ScanInterrupted),
            (25, Verdict::HostDown),
            (21, Verdict::Flapping),
            (990, Verdict::StillOpen),
        ]
    );
}

#[test]
fn corrections_list_still_open_ports_as_open() {
    let mut cur = current();
    let rechecks = rechecks();
    apply_corrections(&mut cur, &rechecks);
    let ftp = cur.host(ip(13)).unwrap();
    let o = ftp.ports.iter().find(|o| o.port == 990).unwrap();
    assert_eq!(
        (o.state, o.reason, o.attempts),
        (PortState::Open, Reason::SynAck, 1)
    );
    assert_eq!(o.rtt, Some(Duration::from_micros(700)));
    // The interrupted port the re-check saw open (.11:111) is corrected too; every other host
    // is as the scan left it, and the re-check keeps what the scan said.
    let db1 = cur.host(ip(11)).unwrap();
    assert_eq!(
        db1.state_of(111, &cur.profile.ports),
        Some((PortState::Open, Reason::SynAck))
    );
    let before = current();
    for (after, before) in cur.hosts.iter().zip(&before.hosts) {
        if after.address != ip(11) && after.address != ip(13) {
            assert_eq!(after, before);
        }
    }
    let r990 = rechecks.iter().find(|r| r.port == 990).unwrap();
    assert_eq!(r990.evidence.scan_reason, Some(Reason::NoResponse));
    // The corrected run no longer differs from the previous one on 990.
    assert!(
        !diff(&previous(), &cur)
            .changes
            .iter()
            .any(|c| c.port == 990)
    );
}

fn still_open(host: u8, port: u16, outcomes: &[Reason]) -> Recheck {
    let mut r = rechecks().remove(0);
    r.host = ip(host);
    r.port = port;
    r.verdict = Verdict::StillOpen;
    r.evidence.probes = probes(port, outcomes);
    r
}

#[test]
fn corrections_take_a_port_out_of_the_summary() {
    let mut cur = current();
    let before = cur.host(ip(10)).unwrap().extra_ports[0].count;
    apply_corrections(
        &mut cur,
        &[still_open(10, 80, &[Reason::NoResponse, Reason::SynAck])],
    );
    let web1 = cur.host(ip(10)).unwrap();
    assert_eq!(web1.extra_ports[0].count, before - 1);
    assert_eq!(
        web1.state_of(80, &cur.profile.ports),
        Some((PortState::Open, Reason::SynAck))
    );
    let o = web1.ports.iter().find(|o| o.port == 80).unwrap();
    assert_eq!(o.attempts, 2, "the second re-check probe saw the syn-ack");
    assert!(web1.ports.windows(2).all(|w| w[0].port < w[1].port));
    // A summarised port's neighbours stay in the summary.
    assert_eq!(
        web1.state_of(81, &cur.profile.ports),
        Some((PortState::Closed, Reason::Reset))
    );
}

#[test]
fn corrections_decide_unprobed_ports_and_bring_a_down_host_up() {
    let mut cur = current();
    let filtered_before = cur.host(ip(11)).unwrap().extra_ports[0].count;
    apply_corrections(
        &mut cur,
        &[
            still_open(11, 25, &[Reason::SynAck]),
            still_open(12, 25, &[Reason::SynAck]),
        ],
    );
    let db1 = cur.host(ip(11)).unwrap();
    assert_eq!(db1.unprobed, vec![111]);
    assert_eq!(
        db1.extra_ports[0].count, filtered_before,
        "25 was never in the summary"
    );
    assert_eq!(
        db1.state_of(25, &cur.profile.ports),
        Some((PortState::Open, Reason::SynAck))
    );
    let mail = cur.host(ip(12)).unwrap();
    assert_eq!(
        (mail.state, mail.reason),
        (HostState::Up, HostReason::PortAnswered)
    );
    assert_eq!(
        mail.open_ports().map(|o| o.port).collect::<Vec<_>>(),
        vec![25]
    );
}

#[test]
fn corrections_cover_interrupted_ports_the_recheck_saw_open() {
    let mut cur = current();
    let mut r = still_open(11, 25, &[Reason::NoResponse, Reason::SynAck]);
    r.verdict = Verdict::ScanInterrupted;
    apply_corrections(&mut cur, &[r.clone()]);
    assert_eq!(
        cur.host(ip(11)).unwrap().state_of(25, &cur.profile.ports),
        Some((PortState::Open, Reason::SynAck))
    );
    let mut silent = current();
    r.evidence.probes = probes(25, &[Reason::NoResponse, Reason::NoResponse]);
    apply_corrections(&mut silent, &[r]);
    assert_eq!(silent, current(), "no syn-ack, no correction");
}

#[test]
fn corrections_ignore_other_verdicts_and_unknown_hosts() {
    let mut cur = current();
    let mut rechecks = rechecks();
    rechecks.retain(|r| !matches!(r.verdict, Verdict::StillOpen | Verdict::ScanInterrupted));
    rechecks.push(still_open(99, 22, &[Reason::SynAck]));
    apply_corrections(&mut cur, &rechecks);
    assert_eq!(cur, current());
}

fn ctx() -> FindingContext<'static> {
    FindingContext {
        now: ts("2026-05-01T14:09:30Z"),
        db: Some("/var/lib/picket/scans.db"),
    }
}

fn all_findings() -> Vec<Finding> {
    let prev = previous();
    let mut cur = current();
    let rechecks = rechecks();
    apply_corrections(&mut cur, &rechecks);
    findings(Some(&prev), &cur, &rechecks, &ctx())
}

#[test]
fn findings_for_every_verdict_and_new_port() {
    // (host, port, verdict or None for new-open-port, state after the run and its re-check)
    type Row = (u8, u16, Option<Verdict>, Option<PortState>);
    let found = all_findings();
    let got: Vec<Row> = found
        .iter()
        .map(|f| (last_octet(f.host), f.port, f.verdict, f.current_state))
        .collect();
    let open = Some(PortState::Open);
    assert_eq!(
        got,
        vec![
            (10, 80, Some(Verdict::Closed), Some(PortState::Closed)),
            (10, 443, Some(Verdict::Filtered), Some(PortState::Filtered)),
            (10, 631, None, open),
            (11, 25, Some(Verdict::ScanInterrupted), None),
            (11, 111, Some(Verdict::ScanInterrupted), None),
            (12, 25, Some(Verdict::HostDown), None),
            (13, 21, Some(Verdict::Flapping), None),
            (14, 445, None, open),
        ]
    );
    for f in &found {
        let expected = match f.verdict {
            Some(_) => FindingKind::OpenPortRecheck,
            None => FindingKind::NewOpenPort,
        };
        assert_eq!(f.kind, expected, "{}:{}", f.host, f.port);
    }
}

#[test]
fn findings_carry_the_recheck_evidence() {
    let rechecks = rechecks();
    for f in all_findings()
        .iter()
        .filter(|f| f.kind == FindingKind::OpenPortRecheck)
    {
        assert_eq!(f.previous_state, Some(PortState::Open));
        let r = rechecks
            .iter()
            .find(|r| r.host == f.host && r.port == f.port)
            .unwrap();
        assert_eq!(f.evidence, Evidence::OpenPortRecheck(r.evidence.clone()));
        let Verify::Scan { host, port, db, .. } = &f.verify else {
            panic!("{:?}", f.verify)
        };
        assert_eq!((*host, *port), (f.host, f.port));
        assert_eq!(db.as_deref(), Some("/var/lib/picket/scans.db"));
        assert_eq!(f.created_at, ctx().now);
        assert_eq!(f.run_id, RunId(42));
    }
}

#[test]
fn the_first_run_is_the_baseline() {
    let cur = current();
    assert!(findings(None, &cur, &[], &ctx()).is_empty());
}

/// The database named in a finding's verify command.
fn verify_db(f: &Finding) -> Option<&str> {
    match &f.verify {
        Verify::Scan { db, .. } => db.as_deref(),
        Verify::Written(_) => None,
    }
}

#[test]
fn the_verify_command_names_the_database_the_user_named() {
    let cur = current();
    let ctx = FindingContext {
        now: ts("2026-05-01T14:09:30Z"),
        db: Some("/home/ops/my scans.db"),
    };
    let f = findings(Some(&previous()), &cur, &[], &ctx);
    assert_eq!(verify_db(&f[0]), Some("/home/ops/my scans.db"));
    let no_db = FindingContext {
        now: ctx.now,
        db: None,
    };
    assert_eq!(
        verify_db(&findings(Some(&previous()), &cur, &[], &no_db)[0]),
        None
    );
}

#[test]
fn a_database_password_never_reaches_the_verify_command() {
    let cur = current();
    for (db, shown) in [
        (
            "postgres://picket:s3cret@10.0.0.2/picket",
            "postgres://picket@10.0.0.2/picket",
        ),
        (
            "host=10.0.0.2 user=picket password=s3cret",
            "host=10.0.0.2 user=picket",
        ),
    ] {
        let ctx = FindingContext {
            now: ts("2026-05-01T14:09:30Z"),
            db: Some(db),
        };
        let f = findings(Some(&previous()), &cur, &[], &ctx);
        assert_eq!(verify_db(&f[0]), Some(shown));
    }
}

#[test]
fn findings_json_for_each_verdict() {
    for f in all_findings() {
        let name = match f.verdict {
            Some(v) => format!("{}_{}_{}", v, f.host, f.port),
            None => format!("{}_{}_{}", f.kind, f.host, f.port),
        };
        // As every output prints it: the typed words rendered by picket-report.
        insta::assert_json_snapshot!(name, FindingDoc::new(&f));
    }
}
