//! Threat alerts: a listed outside client talking to an inside application with known
//! vulnerabilities, with everything a person needs to judge it (who, what, where, when, how much,
//! why), and the suppressions that silence alerts a person has already judged.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::addr::{canonical_ip, canonical_net};
use crate::{
    Application, Confidence, Cvss, CvssSeverity, CvssVersion, Epss, SourceRef, Timestamp,
    Transport, VulnMatch,
};

/// How urgent an alert is, ordered from least to most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Case-insensitive; `informational` is accepted for `info` (OCSF and SIEMs spell it so).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("informational") {
            return Some(Severity::Info);
        }
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| {
            format!("unknown severity {s:?} (expected info, low, medium, high or critical)")
        })
    }
}

/// Which rule raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertKind {
    /// A client listed by threat-intelligence feeds connected from outside the home network to
    /// an application with known vulnerabilities.
    BadClientToVulnerableApp,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::BadClientToVulnerableApp => "bad-client-to-vulnerable-app",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bad-client-to-vulnerable-app" => Some(AlertKind::BadClientToVulnerableApp),
            _ => None,
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One feed's entry covering the alert's client: what that feed said about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntelHit {
    /// The name the feed was registered under.
    pub feed: String,
    /// The listed network that covers the client (the client itself for a /32 or /128).
    pub network: IpNet,
    /// The feed's own weight for the entry (IPsum: lists carrying it); not comparable across
    /// feeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
}

impl From<&crate::Indicator> for IntelHit {
    fn from(i: &crate::Indicator) -> Self {
        Self {
            feed: i.feed.clone(),
            network: i.network,
            score: i.score,
            category: i.category.clone(),
            first_seen: i.first_seen,
            last_seen: i.last_seen,
        }
    }
}

/// One vulnerability of the alert's application, with the risk signals that rank it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertVuln {
    /// `CVE-2024-6387`, or the source's own id when there is no CVE.
    pub id: String,
    /// Base score, severity, version and vector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<Cvss>,
    /// CISA lists it as exploited in the wild.
    pub kev: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kev_date_added: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epss: Option<Epss>,
    /// How sure the match between application and vulnerability is.
    pub confidence: Confidence,
}

impl From<&VulnMatch> for AlertVuln {
    fn from(m: &VulnMatch) -> Self {
        Self {
            id: m.vuln_id.clone(),
            cvss: m.cvss.clone(),
            kev: m.kev.is_some(),
            kev_date_added: m.kev.as_ref().map(|k| k.date_added),
            epss: m.epss.clone(),
            confidence: m.confidence,
        }
    }
}

/// One step of an alert's severity scoring: the signal, what it was, and the points it gave.
/// `picket-report` puts each into a sentence.
///
/// Stored in the alert's JSON externally tagged (kebab-case); reasons an older build stored as
/// sentences read back as [`SeverityReason::Written`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeverityReason {
    /// The distinct feeds listing the client (points capped at `cap`).
    Feeds {
        client: IpAddr,
        feeds: Vec<String>,
        points: i32,
        cap: i32,
    },
    /// The most severe vulnerability by CVSS base score, and its band.
    WorstCvss {
        id: String,
        version: CvssVersion,
        score: f64,
        band: CvssSeverity,
        points: i32,
    },
    /// None of the `vulns` vulnerabilities has a CVSS score.
    NoCvss { vulns: usize, points: i32 },
    /// The vulnerabilities in CISA's KEV catalog (none: empty).
    Kev { ids: Vec<String>, points: i32 },
    /// Every match is by product name only, the version unknown.
    ProductOnly { product: String, points: i32 },
    /// How many of the connections were established.
    Connections {
        connections: u64,
        established: u64,
        points: i32,
    },
    /// The most bytes one connection carried, against the meaningful-transfer threshold.
    Transfer {
        largest: u64,
        threshold: u64,
        points: i32,
    },
    /// The total and the severity it maps to, with the points each severity starts at.
    Score {
        points: i32,
        severity: Severity,
        bands: SeverityBands,
    },
    /// A reason an older build stored as its sentence.
    #[serde(untagged)]
    Written(String),
}

/// The points at which each severity above info starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityBands {
    pub low: i32,
    pub medium: i32,
    pub high: i32,
    pub critical: i32,
}

/// How many event locations an alert keeps: enough to find the traffic in the logs, bounded
/// so that a long window of a busy client does not grow the alert without end.
pub const ALERT_MAX_SOURCES: usize = 5;

/// One alert: one client, one host port, one application, one dedup window.
///
/// Counts aggregate every connection of the window. `connections` is `established + attempted`
/// plus the connections whose source did not say how far they got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The store's id, once stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub kind: AlertKind,
    /// Equal for every update of the same alert, different for any other (see
    /// [`Alert::dedup_key_for`]).
    pub dedup_key: String,
    /// The start of the dedup window this alert belongs to.
    pub window_start: Timestamp,
    /// The outside address that connected.
    pub client: IpAddr,
    /// The inside address it connected to.
    pub host: IpAddr,
    pub port: u16,
    pub transport: Transport,
    pub application: Application,
    /// Every feed entry covering the client.
    pub intel: Vec<IntelHit>,
    /// The application's vulnerabilities, most severe first.
    pub vulns: Vec<AlertVuln>,
    /// The first and last connection of the window.
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub connections: u64,
    /// Connections the server took part in.
    pub established: u64,
    /// Connections that got no usable answer or were refused.
    pub attempted: u64,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    pub packets_to_server: u64,
    pub packets_to_client: u64,
    /// The most bytes (both ways) one connection carried.
    pub max_bytes_per_connection: u64,
    pub severity: Severity,
    /// Why the alert has its severity: one step of the scoring each.
    pub reasons: Vec<SeverityReason>,
    /// Where the first connections were logged (at most [`ALERT_MAX_SOURCES`]).
    pub sources: Vec<SourceRef>,
}

impl Alert {
    /// The key that names one alert: kind, client, host, port, transport, application and window.
    /// Stores use it to turn an update into an upsert.
    pub fn dedup_key_for(
        kind: AlertKind,
        client: IpAddr,
        host: IpAddr,
        port: u16,
        transport: Transport,
        application: &Application,
        window_start: Timestamp,
    ) -> String {
        format!(
            "{kind}|{client}|{}|{transport}|{application}|{window_start}",
            std::net::SocketAddr::new(host, port),
        )
    }

    /// Connections whose source did not say how far they got.
    pub fn unknown_outcome(&self) -> u64 {
        self.connections
            .saturating_sub(self.established)
            .saturating_sub(self.attempted)
    }
}

/// A person's decision to silence alerts: every criterion given must match, a criterion left
/// empty matches anything (so a suppression with none silences every alert until it expires).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// The store's id, once stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Clients inside this network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<IpNet>,
    /// The host port connected to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The application's product name (`openssh`), compared case-insensitively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// Why a person silenced these alerts.
    pub reason: String,
    pub created_at: Timestamp,
    /// Connections at or after this instant are no longer silenced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

impl Suppression {
    /// A suppression of everything, until criteria are added.
    pub fn new(reason: impl Into<String>, created_at: Timestamp) -> Self {
        Self {
            id: None,
            client: None,
            port: None,
            application: None,
            reason: reason.into(),
            created_at,
            expires_at: None,
        }
    }

    /// Whether it silences this alert. Expiry is judged by the alert's last connection, not by
    /// a clock, so that replaying old logs gives the same answer as reading them live; the
    /// creation time is not a bound, so that a suppression also covers logs read after the fact.
    pub fn matches(&self, alert: &Alert) -> bool {
        self.matches_connection(
            alert.client,
            alert.port,
            &alert.application.product,
            alert.last_seen,
        )
    }

    /// Whether it silences a connection from `client` at `at` to `port` served by `product`:
    /// what [`Suppression::matches`] decides, for a detector that has no alert built yet.
    pub fn matches_connection(
        &self,
        client: IpAddr,
        port: u16,
        product: &str,
        at: Timestamp,
    ) -> bool {
        // A dual-stack socket reports IPv4 peers as `::ffff:a.b.c.d`, and a user may write the
        // suppression that way: compare both as IPv4.
        self.client
            .is_none_or(|net| canonical_net(net).contains(&canonical_ip(client)))
            && self.port.is_none_or(|p| p == port)
            && self
                .application
                .as_deref()
                .is_none_or(|a| a.eq_ignore_ascii_case(product))
            && self.active_at(at)
    }

    /// Whether it has not expired at `at`.
    pub fn active_at(&self, at: Timestamp) -> bool {
        self.expires_at.is_none_or(|end| at < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CvssSeverity, CvssVersion, KevEntry};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn alert() -> Alert {
        let app = Application::new("openssh")
            .with_vendor("openbsd")
            .with_version("9.2p1");
        let start = ts("2024-07-01T12:00:00Z");
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let host: IpAddr = "10.0.0.5".parse().unwrap();
        Alert {
            id: None,
            kind: AlertKind::BadClientToVulnerableApp,
            dedup_key: Alert::dedup_key_for(
                AlertKind::BadClientToVulnerableApp,
                client,
                host,
                22,
                Transport::Tcp,
                &app,
                start,
            ),
            window_start: start,
            client,
            host,
            port: 22,
            transport: Transport::Tcp,
            application: app,
            intel: vec![IntelHit {
                feed: "ipsum".into(),
                network: "203.0.113.7/32".parse().unwrap(),
                score: Some(5.0),
                category: None,
                first_seen: None,
                last_seen: None,
            }],
            vulns: vec![AlertVuln {
                id: "CVE-2024-6387".into(),
                cvss: Some(Cvss {
                    version: CvssVersion::V3_1,
                    base_score: 8.1,
                    severity: CvssSeverity::High,
                    vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H".into(),
                }),
                kev: false,
                kev_date_added: None,
                epss: None,
                confidence: Confidence::VersionRange,
            }],
            first_seen: ts("2024-07-01T12:05:00Z"),
            last_seen: ts("2024-07-01T12:06:00Z"),
            connections: 3,
            established: 1,
            attempted: 1,
            bytes_to_server: 100,
            bytes_to_client: 200,
            packets_to_server: 3,
            packets_to_client: 2,
            max_bytes_per_connection: 300,
            severity: Severity::High,
            reasons: vec![SeverityReason::NoCvss {
                vulns: 1,
                points: 0,
            }],
            sources: vec![SourceRef {
                file: "conn.log".into(),
                line: 9,
            }],
        }
    }

    #[test]
    fn severity_is_ordered_and_parses() {
        assert!(Severity::Info < Severity::Low && Severity::High < Severity::Critical);
        for s in Severity::ALL {
            assert_eq!(s.to_string().parse::<Severity>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
        assert_eq!(Severity::parse("Informational"), Some(Severity::Info));
        assert!("urgent".parse::<Severity>().is_err());
    }

    #[test]
    fn kind_names_round_trip() {
        let k = AlertKind::BadClientToVulnerableApp;
        assert_eq!(AlertKind::parse(k.as_str()), Some(k));
        assert_eq!(
            serde_json::to_value(k).unwrap(),
            "bad-client-to-vulnerable-app"
        );
        assert_eq!(AlertKind::parse("other"), None);
    }

    #[test]
    fn dedup_key_names_every_part() {
        let a = alert();
        assert_eq!(
            a.dedup_key,
            "bad-client-to-vulnerable-app|203.0.113.7|10.0.0.5:22|tcp|openbsd:openssh 9.2p1|2024-07-01T12:00:00Z"
        );
        let v6 = Alert::dedup_key_for(
            a.kind,
            a.client,
            "2001:db8::5".parse().unwrap(),
            22,
            Transport::Tcp,
            &a.application,
            a.window_start,
        );
        assert!(v6.contains("|[2001:db8::5]:22|"), "{v6}");
    }

    #[test]
    fn alert_json_round_trips() {
        let a = alert();
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["kind"], "bad-client-to-vulnerable-app");
        assert_eq!(v["severity"], "high");
        assert_eq!(v["transport"], "tcp");
        assert!(v.get("id").is_none());
        let back: Alert = serde_json::from_value(v).unwrap();
        assert_eq!(back, a);
        assert_eq!(a.unknown_outcome(), 1);
    }

    #[test]
    fn alerts_stored_by_an_older_build_keep_their_written_reasons() {
        let mut v = serde_json::to_value(alert()).unwrap();
        assert_eq!(v["reasons"][0]["no-cvss"]["vulns"], 1);
        v["reasons"] = serde_json::json!(["Listed by 1 feed (ipsum): +1."]);
        let old: Alert = serde_json::from_value(v).unwrap();
        assert_eq!(
            old.reasons,
            [SeverityReason::Written(
                "Listed by 1 feed (ipsum): +1.".into()
            )]
        );
    }

    #[test]
    fn alert_vuln_from_match_keeps_signals() {
        let m = VulnMatch {
            vuln_id: "CVE-2023-38408".into(),
            application: Application::new("openssh"),
            confidence: Confidence::Exact,
            why: "test".into(),
            cvss: None,
            kev: Some(KevEntry {
                date_added: "2024-01-02".parse().unwrap(),
                due_date: "2024-01-23".parse().unwrap(),
                ransomware: false,
                action: "patch".into(),
            }),
            epss: Some(Epss {
                score: 0.5,
                percentile: 0.9,
                date: None,
            }),
        };
        let v = AlertVuln::from(&m);
        assert!(v.kev);
        assert_eq!(v.kev_date_added, Some("2024-01-02".parse().unwrap()));
        assert_eq!(v.epss.unwrap().score, 0.5);
        assert_eq!(v.confidence, Confidence::Exact);
    }

    #[test]
    fn suppression_criteria_all_must_match() {
        let a = alert();
        let created = ts("2024-06-01T00:00:00Z");
        assert!(Suppression::new("all", created).matches(&a));

        let mut s = Suppression::new("scanner we pay for", created);
        s.client = Some("203.0.113.0/24".parse().unwrap());
        s.port = Some(22);
        s.application = Some("OpenSSH".into());
        assert!(s.matches(&a));

        let mut other_net = s.clone();
        other_net.client = Some("198.51.100.0/24".parse().unwrap());
        assert!(!other_net.matches(&a));
        let mut other_port = s.clone();
        other_port.port = Some(2222);
        assert!(!other_port.matches(&a));
        let mut other_app = s.clone();
        other_app.application = Some("nginx".into());
        assert!(!other_app.matches(&a));

        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert!(s.matches_connection(mapped, 22, "openssh", a.last_seen));
    }

    #[test]
    fn suppression_written_as_mapped_address_matches_its_ipv4_client() {
        let a = alert();
        let mut s = Suppression::new("pentest", ts("2024-01-01T00:00:00Z"));
        s.client = Some("::ffff:203.0.113.7/128".parse().unwrap());
        assert!(s.matches(&a), "{}", a.client);
        s.client = Some("::ffff:203.0.113.0/120".parse().unwrap());
        assert!(s.matches(&a));
        s.client = Some("::ffff:198.51.100.7/128".parse().unwrap());
        assert!(!s.matches(&a));
    }

    #[test]
    fn suppression_expires_by_alert_time() {
        let a = alert();
        let mut s = Suppression::new("maintenance", ts("2030-01-01T00:00:00Z"));
        s.expires_at = Some(a.last_seen);
        assert!(!s.matches(&a), "expiry is exclusive");
        s.expires_at = Some(ts("2024-07-01T12:06:01Z"));
        assert!(s.matches(&a), "created later still covers earlier logs");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(serde_json::from_value::<Suppression>(json).unwrap(), s);
    }
}
