//! The words of exposure findings: findings built by picket-detect's rules from runs and
//! re-checks, rendered by picket-report's words module, checked sentence by sentence.

use std::time::Duration;

use picket_detect::exposure::testing::{host, one, recheck, run};
use picket_detect::exposure::{FindingContext, findings};
use picket_model::{
    HostReason, HostState, Interference, InterferenceDetail, InterferenceKind, PortState, Reason,
    Verdict,
};
use picket_report::words::{remediation, summary, verify};

use Reason::{AdminProhibited, HostUnreach, NoResponse, Reset, SynAck};

#[test]
fn filtered_names_an_admin_prohibited_filter() {
    let cur = run(host(HostState::Up, HostReason::PortAnswered, 0.0), None);
    let f = one(
        &cur,
        recheck(
            Verdict::Filtered,
            &[AdminProhibited, NoResponse, AdminProhibited],
            &[SynAck],
            vec![],
        ),
    );
    assert_eq!(
        summary(&f),
        "Port 8443/tcp on 192.0.2.20 was open in run 6 and is now filtered: a filter answered \
         2 of 3 re-check probes with ICMP admin-prohibited and 1 of 3 re-check probes went \
         unanswered while the host answers on port 22."
    );
    assert!(
        remediation(&f.remediation[0]).starts_with(
            "A firewall or security group now rejects (ICMP admin-prohibited) port 8443"
        )
    );
    assert_eq!(f.current_state, Some(PortState::Filtered));
}

#[test]
fn filtered_by_a_single_reset_says_what_proved_the_host_alive() {
    let cur = run(host(HostState::Up, HostReason::PortAnswered, 0.0), None);
    let r = recheck(
        Verdict::Filtered,
        &[NoResponse, Reset, NoResponse],
        &[NoResponse],
        vec![],
    );
    assert!(summary(&one(&cur, r)).ends_with(
        "2 of 3 re-check probes went unanswered while the host answered one probe with a reset."
    ));
}

#[test]
fn host_down_says_who_said_so() {
    let cur = run(host(HostState::Up, HostReason::PortAnswered, 0.0), None);
    let routed = one(
        &cur,
        recheck(Verdict::HostDown, &[HostUnreach, HostUnreach], &[], vec![]),
    );
    assert_eq!(
        summary(&routed),
        "192.0.2.20 is down: a router answered the re-check with host-unreach; port 8443/tcp \
         was open on it in run 6."
    );
    assert_eq!(routed.remediation.len(), 3);

    let cur = run(host(HostState::Down, HostReason::NoResponse, 0.0), None);
    let silent = one(
        &cur,
        recheck(Verdict::HostDown, &[NoResponse; 3], &[NoResponse], vec![]),
    );
    assert_eq!(
        summary(&silent),
        "192.0.2.20 is down: neither the scan nor 4 re-check probes got an answer from it; \
         port 8443/tcp was open on it in run 6."
    );
    assert_eq!(silent.remediation.len(), 2, "no router to blame");
    assert_eq!(verify(&silent.verify), "picket scan 192.0.2.20 -p 8443");
}

#[test]
fn scan_interrupted_by_loss_suggests_settings_from_the_measurements() {
    let cur = run(
        host(HostState::Up, HostReason::PortAnswered, 0.31),
        Some(300.0),
    );
    let lossy = Interference {
        kind: InterferenceKind::RateLimited,
        detail: InterferenceDetail::Written("lost".to_owned()),
    };
    let f = one(
        &cur,
        recheck(Verdict::ScanInterrupted, &[SynAck], &[], vec![lossy]),
    );
    assert_eq!(
        summary(&f),
        "Port 8443/tcp on 192.0.2.20 is open (the re-check got a syn-ack), but the scan \
         reported it filtered (no-response) because the scan lost 31% of its probes to the \
         host: the scan was disturbed, not the port."
    );
    assert_eq!(
        f.remediation[1..]
            .iter()
            .map(remediation)
            .collect::<Vec<_>>(),
        [
            "Lower --max-rate: --max-rate 150.",
            "Lower --max-checks (this run allowed 4,096 probes in flight): --max-checks 1024.",
            "Raise --read-timeout (the scan waited 1200ms per probe, and lost 31% of its \
             probes): --read-timeout 3s.",
        ]
    );
    assert_eq!(
        verify(&f.verify),
        "picket scan 192.0.2.20 -p 8443 --max-rate 150 --read-timeout 3s"
    );
}

#[test]
fn scan_interrupted_without_a_known_rate_suggests_a_patient_one() {
    let mut h = host(HostState::Up, HostReason::PortAnswered, 0.0);
    h.stats.read_timeout = Duration::from_millis(2600);
    let cur = run(h, None);
    let lost = Interference {
        kind: InterferenceKind::LivenessLost,
        detail: InterferenceDetail::Written("lost".to_owned()),
    };
    let f = one(
        &cur,
        recheck(
            Verdict::ScanInterrupted,
            &[NoResponse; 3],
            &[NoResponse],
            vec![lost],
        ),
    );
    assert!(summary(&f).contains(
        "could not be checked because the host answered earlier in the run and answers \
         nothing now"
    ));
    assert_eq!(
        verify(&f.verify),
        "picket scan 192.0.2.20 -p 8443 --max-rate 50 --read-timeout 6s"
    );
}

#[test]
fn flapping_counts_refusals_and_silence() {
    let cur = run(host(HostState::Up, HostReason::PortAnswered, 0.0), None);
    let f = one(
        &cur,
        recheck(
            Verdict::Flapping,
            &[SynAck, Reset, NoResponse, SynAck, NoResponse, NoResponse],
            &[],
            vec![],
        ),
    );
    assert_eq!(
        summary(&f),
        "Port 8443/tcp on 192.0.2.20 answered 2 of 6 re-check probes and refused 1 and \
         ignored 3: the service is unstable."
    );
    assert_eq!(f.current_state, None);
}

#[test]
fn still_open_raises_no_finding() {
    let cur = run(host(HostState::Up, HostReason::PortAnswered, 0.0), None);
    let ctx = FindingContext {
        now: "2026-05-02T09:05:00Z".parse().unwrap(),
        db: None,
    };
    let r = recheck(Verdict::StillOpen, &[SynAck], &[], vec![]);
    assert!(findings(None, &cur, &[r], &ctx).is_empty());
}

mod services {
    use picket_detect::exposure::{DetectedService, FindingContext, vulnerable_service_findings};
    use picket_model::{
        Application, Confidence, DetectionMethod, Package, RunId, ServiceInfo, Timestamp, VulnMatch,
    };
    use picket_report::words::{remediation, summary, verify};

    fn m(id: &str, why: &str, score: f64, kev: bool) -> VulnMatch {
        let mut app = Application::new("openssh");
        app.version = Some("9.2p1".into());
        let mut v = serde_json::json!({
            "vuln_id": id,
            "application": app,
            "confidence": Confidence::VersionRange,
            "why": why,
            "cvss": {"version": "3.1", "base_score": score, "severity": "high", "vector": "CVSS:3.1/AV:N"},
        });
        if kev {
            v["kev"] = serde_json::json!({
                "date_added": "2024-07-01", "due_date": "2024-07-22",
                "ransomware": false, "action": "patch"
            });
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_packaged_service_matched_by_range_is_worded_as_a_lead() {
        let mut svc = ServiceInfo::new("ssh", DetectionMethod::Banner, 10);
        svc.product = Some("OpenSSH".into());
        svc.version = Some("9.2p1".into());
        svc.package = Some(Package::new("openssh", "1:9.2p1-2+deb12u3"));
        let services = [DetectedService {
            host: "192.0.2.5".parse().unwrap(),
            hostname: None,
            port: 22,
            service: &svc,
            matches: vec![
                m(
                    "CVE-2024-6387",
                    "c >= 8.6 < 9.8 includes 9.2 update p1",
                    8.1,
                    true,
                ),
                m(
                    "CVE-2023-38408",
                    "c < 9.3 includes 9.2 update p1",
                    9.8,
                    false,
                ),
            ],
        }];
        let ctx = FindingContext {
            now: "2026-11-23T12:00:00Z".parse::<Timestamp>().unwrap(),
            db: Some("my scans.db"),
        };
        let f = vulnerable_service_findings(RunId(3), &services, &ctx).remove(0);
        assert_eq!(
            summary(&f),
            "OpenSSH 9.2p1 on 192.0.2.5:22 matches 2 known vulnerabilities (worst: CVE-2024-6387, \
             CVSS 8.1); 1 is in CISA's Known Exploited Vulnerabilities catalog (version-based: \
             the distribution may have backported fixes)."
        );
        let steps: Vec<String> = f.remediation.iter().map(remediation).collect();
        assert_eq!(
            steps,
            [
                "Patch first: CVE-2024-6387 is exploited in the wild (CISA KEV); until patched, \
                 restrict who can reach port 22 (firewall, allow-list).",
                "Upgrade OpenSSH to 9.8 or later, which is outside every matched range.",
                "The service runs the distribution package openssh 1:9.2p1-2+deb12u3: \
                 distributions backport fixes without changing the upstream version, so check \
                 each CVE in the distribution's security tracker (for Debian: \
                 https://security-tracker.debian.org/tracker/CVE-2024-6387) and update the \
                 package with the distribution's tools (apt-get install --only-upgrade ...) \
                 rather than upgrading upstream.",
            ]
        );
        assert_eq!(
            verify(&f.verify),
            "picket scan 192.0.2.5 -p 22 --db 'my scans.db' --service-detect"
        );
    }
}
