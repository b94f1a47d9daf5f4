//! `vulnerable-service` findings: a service detected by the scan runs a version with known
//! vulnerabilities.
//!
//! Distributions patch their packages without changing the upstream version (Debian 12's
//! OpenSSH 9.2p1 carries the fix for CVE-2024-6387, yet NVD's range flags every 9.2p1). So when
//! the service names a distribution package and only an upstream range matched, the finding
//! says the match is version-based and may be fixed by a backport, and tells how to check,
//! instead of claiming certainty.

use std::net::IpAddr;

use picket_model::{
    Confidence, Evidence, Finding, FindingKind, PortState, Protocol, Remediation, RunId,
    ServiceInfo, ServiceVuln, Summary, VulnMatch, VulnerableServiceEvidence,
};

use super::findings::{FindingContext, Knobs, verify_command};

/// A detected service and the vulnerabilities that matched its version.
#[derive(Debug, Clone)]
pub struct DetectedService<'a> {
    pub host: IpAddr,
    pub hostname: Option<String>,
    pub port: u16,
    pub service: &'a ServiceInfo,
    pub matches: Vec<VulnMatch>,
}

/// One finding per service with at least one matching vulnerability, in the given order.
pub fn vulnerable_service_findings(
    run: RunId,
    services: &[DetectedService],
    ctx: &FindingContext,
) -> Vec<Finding> {
    services
        .iter()
        .filter(|s| !s.matches.is_empty())
        .map(|s| finding(run, s, ctx))
        .collect()
}

fn finding(run: RunId, s: &DetectedService, ctx: &FindingContext) -> Finding {
    let packaged = s.service.package.is_some();
    let mut vulns: Vec<ServiceVuln> = s
        .matches
        .iter()
        .map(|m| ServiceVuln {
            id: m.vuln_id.clone(),
            cvss: m.cvss.clone(),
            kev: m.kev.clone(),
            epss: m.epss.clone(),
            confidence: m.confidence,
            backport_possible: packaged && m.confidence != Confidence::Exact,
            why: m.why.clone(),
            fixed_in: fixed_in(&m.why),
        })
        .collect();
    vulns.sort_by(|a, b| {
        let score = |v: &ServiceVuln| v.cvss.as_ref().map_or(0.0, |c| c.base_score);
        (b.kev.is_some(), score(b))
            .partial_cmp(&(a.kev.is_some(), score(a)))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.id.cmp(&b.id))
    });
    vulns.dedup_by(|a, b| a.id == b.id);

    let kev: Vec<String> = vulns
        .iter()
        .filter(|v| v.kev.is_some())
        .map(|v| v.id.clone())
        .collect();
    let summary = Summary::VulnerableService {
        service: service_name(s.service),
        vulns: vulns.len(),
        worst: vulns[0].id.clone(),
        worst_cvss: vulns[0].cvss.as_ref().map(|c| c.base_score),
        kev: kev.len(),
        version_based: vulns.iter().all(|v| v.backport_possible),
    };

    let mut remediation = Vec::new();
    if !kev.is_empty() {
        remediation.push(Remediation::PatchExploitedFirst {
            ids: kev,
            port: s.port,
        });
    }
    remediation.push(Remediation::Upgrade {
        product: s
            .service
            .product
            .clone()
            .unwrap_or_else(|| s.service.name.clone()),
        to: upgrade_target(&vulns),
    });
    if let Some(package) = &s.service.package
        && let Some(first) = vulns.iter().find(|v| v.backport_possible)
    {
        remediation.push(Remediation::CheckDistributionPackage {
            package: package.name.clone(),
            version: package.version.clone(),
            cve: first.id.clone(),
        });
    }
    let knobs = Knobs {
        service_detect: true,
        ..Knobs::default()
    };
    Finding {
        id: None,
        run_id: run,
        kind: FindingKind::VulnerableService,
        host: s.host,
        hostname: s.hostname.clone(),
        port: s.port,
        protocol: Protocol::Tcp,
        previous_state: None,
        current_state: Some(PortState::Open),
        verdict: None,
        summary,
        evidence: Evidence::VulnerableService(Box::new(VulnerableServiceEvidence {
            service: s.service.clone(),
            vulns,
        })),
        remediation,
        verify: verify_command(s.host, s.port, knobs, ctx),
        created_at: ctx.now,
    }
}

fn service_name(s: &ServiceInfo) -> String {
    match (&s.product, &s.version) {
        (Some(p), Some(v)) => format!("{p} {v}"),
        (Some(p), None) => p.clone(),
        _ => s.name.clone(),
    }
}

/// The upper bound of the range a match names, when it is exclusive (`< 9.8`): the first
/// version outside it. `<=` bounds and exact listings name no fixed version.
///
/// picket-vuln words a range match as `CRITERION [>= A] < B includes V`; this reads `< B`.
fn fixed_in(why: &str) -> Option<String> {
    let mut words = why.split_whitespace();
    while let Some(w) = words.next() {
        if w == "<" {
            return words.next().map(str::to_owned);
        }
    }
    None
}

/// The highest fixed version among the matches, when every range match names one: upgrading
/// to it leaves every range. Compared as dotted numbers (`9.8` > `9.3`).
fn upgrade_target(vulns: &[ServiceVuln]) -> Option<String> {
    let fixed: Vec<&str> = vulns
        .iter()
        .map(|v| v.fixed_in.as_deref())
        .collect::<Option<_>>()?;
    fixed
        .into_iter()
        .max_by(|a, b| numeric_parts(a).cmp(&numeric_parts(b)))
        .map(str::to_owned)
}

fn numeric_parts(v: &str) -> Vec<u64> {
    v.split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_model::{Application, DetectionMethod, Package, Timestamp};

    fn m(id: &str, confidence: Confidence, why: &str, score: f64) -> VulnMatch {
        let mut app = Application::new("openssh");
        app.version = Some("9.2p1".into());
        serde_json::from_value(serde_json::json!({
            "vuln_id": id,
            "application": app,
            "confidence": confidence,
            "why": why,
            "cvss": {"version": "3.1", "base_score": score, "severity": "high", "vector": "CVSS:3.1/AV:N"},
        }))
        .unwrap()
    }

    fn ssh(package: bool) -> ServiceInfo {
        let mut s = ServiceInfo::new("ssh", DetectionMethod::Banner, 10);
        s.product = Some("OpenSSH".into());
        s.version = Some("9.2p1".into());
        if package {
            s.package = Some(Package::new("openssh", "1:9.2p1-2+deb12u3"));
        }
        s
    }

    fn ctx() -> FindingContext<'static> {
        FindingContext {
            now: "2026-11-23T12:00:00Z".parse::<Timestamp>().unwrap(),
            db: None,
        }
    }

    #[test]
    fn reads_the_fixed_version_from_a_range() {
        assert_eq!(
            fixed_in("cpe:2.3:a:openbsd:openssh:*:* >= 8.6 < 9.8 includes 9.2 update p1")
                .as_deref(),
            Some("9.8")
        );
        assert_eq!(
            fixed_in("cpe:2.3:a:x:y:* >= 2.4.0 <= 2.4.55 includes 2.4.49"),
            None
        );
        assert_eq!(fixed_in("cpe:2.3:a:x:y:2.3.4 lists 2.3.4"), None);
    }

    #[test]
    fn a_packaged_service_matched_by_range_is_a_lead_not_a_certainty() {
        let svc = ssh(true);
        let services = [DetectedService {
            host: "192.0.2.5".parse().unwrap(),
            hostname: None,
            port: 22,
            service: &svc,
            matches: vec![
                m(
                    "CVE-2024-6387",
                    Confidence::VersionRange,
                    "c >= 8.6 < 9.8 includes 9.2 update p1",
                    8.1,
                ),
                m(
                    "CVE-2023-38408",
                    Confidence::VersionRange,
                    "c < 9.3 includes 9.2 update p1",
                    9.8,
                ),
            ],
        }];
        let f = vulnerable_service_findings(RunId(3), &services, &ctx()).remove(0);
        assert_eq!(f.kind, FindingKind::VulnerableService);
        assert_eq!(
            f.summary,
            Summary::VulnerableService {
                service: "OpenSSH 9.2p1".into(),
                vulns: 2,
                worst: "CVE-2023-38408".into(),
                worst_cvss: Some(9.8),
                kev: 0,
                version_based: true,
            }
        );
        assert_eq!(
            f.remediation,
            [
                Remediation::Upgrade {
                    product: "OpenSSH".into(),
                    to: Some("9.8".into())
                },
                Remediation::CheckDistributionPackage {
                    package: "openssh".into(),
                    version: "1:9.2p1-2+deb12u3".into(),
                    cve: "CVE-2023-38408".into()
                }
            ]
        );
        let Evidence::VulnerableService(e) = &f.evidence else {
            panic!("{:?}", f.evidence)
        };
        assert!(e.vulns.iter().all(|v| v.backport_possible));
        assert!(matches!(
            f.verify,
            picket_model::Verify::Scan {
                service_detect: true,
                ..
            }
        ));
    }

    #[test]
    fn an_upstream_build_is_matched_with_certainty_and_no_match_gives_no_finding() {
        let svc = ssh(false);
        let services = [
            DetectedService {
                host: "192.0.2.5".parse().unwrap(),
                hostname: None,
                port: 22,
                service: &svc,
                matches: vec![m(
                    "CVE-2024-6387",
                    Confidence::VersionRange,
                    "c >= 8.6 < 9.8 includes 9.2",
                    8.1,
                )],
            },
            DetectedService {
                host: "192.0.2.6".parse().unwrap(),
                hostname: None,
                port: 22,
                service: &svc,
                matches: vec![],
            },
        ];
        let found = vulnerable_service_findings(RunId(3), &services, &ctx());
        assert_eq!(found.len(), 1);
        assert!(matches!(
            found[0].summary,
            Summary::VulnerableService {
                version_based: false,
                ..
            }
        ));
    }
}
