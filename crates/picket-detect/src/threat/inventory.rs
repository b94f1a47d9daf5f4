//! What runs where: host ports mapped to the applications serving them and their
//! vulnerabilities, built by the caller (from scans and `VulnDb::matches`) before detection.

use std::collections::HashMap;
use std::net::IpAddr;

use picket_model::{AlertVuln, Application, Transport, VulnMatch};

/// One application at one host port, with its vulnerabilities ranked for alerting.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryApp {
    pub application: Application,
    /// Most urgent first (see [`rank`]), one entry per vulnerability id.
    pub vulns: Vec<AlertVuln>,
}

/// Host ports to the applications behind them.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Asked for every inbound event: a fast keyed hash (seeded per table) rather than SipHash.
    ports: HashMap<(IpAddr, u16, Transport), Vec<InventoryApp>, foldhash::fast::RandomState>,
}

impl Inventory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `application` serves `host:port` over `transport`, with these matches.
    ///
    /// Adding the same application to the same port again merges the matches. An application
    /// with no vulnerabilities is kept but never alerted on.
    pub fn insert(
        &mut self,
        host: IpAddr,
        port: u16,
        transport: Transport,
        application: Application,
        matches: &[VulnMatch],
    ) {
        let apps = self
            .ports
            .entry((host.to_canonical(), port, transport))
            .or_default();
        let new = matches.iter().map(AlertVuln::from);
        match apps.iter_mut().find(|a| a.application == application) {
            Some(app) => {
                app.vulns.extend(new);
                app.vulns = rank(std::mem::take(&mut app.vulns));
            }
            None => apps.push(InventoryApp {
                application,
                vulns: rank(new.collect()),
            }),
        }
    }

    /// The applications at a host port (none when nothing is known there).
    pub fn get(&self, host: IpAddr, port: u16, transport: Transport) -> &[InventoryApp] {
        self.ports
            .get(&(host.to_canonical(), port, transport))
            .map_or(&[], Vec::as_slice)
    }

    /// Host ports with at least one application.
    pub fn len(&self) -> usize {
        self.ports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }
}

/// Orders vulnerabilities most urgent first: exploited in the wild (KEV), then CVSS base score,
/// then EPSS probability, then id for a stable order. Duplicate ids keep the surest match.
pub fn rank(mut vulns: Vec<AlertVuln>) -> Vec<AlertVuln> {
    vulns.sort_by(|a, b| {
        a.id.cmp(&b.id)
            .then_with(|| b.confidence.cmp(&a.confidence))
    });
    vulns.dedup_by(|later, first| later.id == first.id);
    let score = |v: &AlertVuln| v.cvss.as_ref().map_or(-1.0, |c| c.base_score);
    let epss = |v: &AlertVuln| v.epss.as_ref().map_or(-1.0, |e| e.score);
    vulns.sort_by(|a, b| {
        b.kev
            .cmp(&a.kev)
            .then_with(|| score(b).total_cmp(&score(a)))
            .then_with(|| epss(b).total_cmp(&epss(a)))
            .then_with(|| a.id.cmp(&b.id))
    });
    vulns
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_model::{Confidence, Cvss, CvssSeverity, CvssVersion, Epss};

    pub(crate) fn vuln(id: &str, score: f64, kev: bool, confidence: Confidence) -> AlertVuln {
        AlertVuln {
            id: id.into(),
            cvss: Some(Cvss {
                version: CvssVersion::V3_1,
                base_score: score,
                severity: CvssSeverity::from_score(score),
                vector: String::new(),
            }),
            kev,
            kev_date_added: None,
            epss: None,
            confidence,
        }
    }

    #[test]
    fn rank_puts_kev_then_cvss_then_epss_first() {
        let mut high_epss = vuln("CVE-3", 5.0, false, Confidence::Exact);
        high_epss.epss = Some(Epss {
            score: 0.9,
            percentile: 0.99,
            date: None,
        });
        let ranked = rank(vec![
            vuln("CVE-1", 5.0, false, Confidence::Exact),
            vuln("CVE-2", 9.8, false, Confidence::Exact),
            high_epss,
            vuln("CVE-4", 4.0, true, Confidence::Exact),
        ]);
        let ids: Vec<&str> = ranked.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["CVE-4", "CVE-2", "CVE-3", "CVE-1"]);
    }

    #[test]
    fn rank_keeps_the_surest_duplicate() {
        let ranked = rank(vec![
            vuln("CVE-1", 5.0, false, Confidence::ProductOnly),
            vuln("CVE-1", 5.0, false, Confidence::Exact),
        ]);
        assert_eq!(ranked.len(), 1);
        assert_eq!(ranked[0].confidence, Confidence::Exact);
    }

    #[test]
    fn insert_merges_and_looks_up_mapped_addresses() {
        let mut inv = Inventory::new();
        let host: IpAddr = "10.0.0.5".parse().unwrap();
        let app = Application::new("openssh").with_version("9.2p1");
        let m = |id: &str| VulnMatch {
            vuln_id: id.into(),
            application: app.clone(),
            confidence: Confidence::VersionRange,
            why: String::new(),
            cvss: None,
            kev: None,
            epss: None,
        };
        inv.insert(host, 22, Transport::Tcp, app.clone(), &[m("CVE-A")]);
        inv.insert(
            host,
            22,
            Transport::Tcp,
            app.clone(),
            &[m("CVE-B"), m("CVE-A")],
        );
        let mapped: IpAddr = "::ffff:10.0.0.5".parse().unwrap();
        let apps = inv.get(mapped, 22, Transport::Tcp);
        assert_eq!(apps.len(), 1);
        assert_eq!(apps[0].vulns.len(), 2);
        assert!(inv.get(host, 22, Transport::Udp).is_empty());
        assert!(inv.get(host, 2222, Transport::Tcp).is_empty());
        assert_eq!(inv.len(), 1);
    }
}
