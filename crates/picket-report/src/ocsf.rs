//! Alerts as OCSF 1.3.0 Detection Findings, for SIEMs and data lakes that read the Open
//! Cybersecurity Schema Framework.
//!
//! Schema: <https://schema.ocsf.io/1.3.0/classes/detection_finding> (class `detection_finding`,
//! extends `finding`, extends `base_event`). The attributes used, by object:
//!
//! - event: `class_uid` 2004 and `class_name`, `category_uid` 2 (Findings) and
//!   `category_name`, `activity_id` 1 Create / 2 Update and `activity_name`, `type_uid`
//!   (`class_uid * 100 + activity_id`) and `type_name`, `time` (the alert's last connection),
//!   `start_time` / `end_time` (first and last connection), `timezone_offset` 0 (UTC), `severity_id` (1 Informational,
//!   2 Low, 3 Medium, 4 High, 5 Critical) and `severity`, `status_id` 1 New and `status`,
//!   `confidence_id` and `confidence` (how sure the vulnerability match is: an exact package
//!   version High, a version range Medium, the product alone Low), `message`, `metadata`,
//!   `finding_info`, `resources`, `evidences`, `vulnerabilities`, `observables`,
//!   `enrichments`. Every time is epoch milliseconds (`timestamp_t`). No `is_alert`: it came
//!   with OCSF 1.4.0.
//! - `metadata`: `version` (the schema version, `1.3.0`), `product` {`name` "Picket",
//!   `vendor_name` "Picket"}, `log_provider` "Picket".
//! - `finding_info`: `uid` (the alert's dedup key, equal for the Create and every Update of one
//!   alert), `title`, `desc` (summary and the severity's reasons), `types` (the alert kind),
//!   `analytic` {`name` (the rule: the alert kind), `type_id` 1 Rule, `type`},
//!   `first_seen_time`, `last_seen_time`, `data_sources` (the log files the connections came
//!   from).
//! - `resources[]` (Affected Resources): the host port the client reached {`uid` the host's
//!   address, `name` host:port/transport, `type` "Network Service"}.
//! - `evidences[]` (Evidence Artifacts): `src_endpoint` {`ip`}, `dst_endpoint` {`ip`, `port`},
//!   `connection_info` {`protocol_name`, `protocol_num`, `direction` "Inbound", `direction_id`
//!   1}, `data` (the connection counts, bytes and packets each way, the largest connection, the
//!   first log locations).
//! - `vulnerabilities[]` (Vulnerability Details): `cve` {`uid`, `cvss[]` {`version`,
//!   `base_score`, `severity`, `vector_string`}, `epss` {`score`, `percentile`,
//!   `created_time`}}, `severity`, `is_exploit_available` (true when CISA's KEV catalog lists
//!   it; left out otherwise, since absence from KEV does not prove no exploit exists), `desc`
//!   (the KEV date), `affected_packages[]` {`name`, `version`}. `cve.uid` carries the source's
//!   own id when a vulnerability has no CVE id. No `kb_article_list`: Picket has no KB articles.
//!   EPSS `score` is a string in the schema (`string_t`), `percentile` a number.
//! - `observables[]`: the client and host addresses (`type_id` 2, IP Address).
//! - `enrichments[]`: one per feed entry listing the client {`name`, `value`, `type`
//!   "threat-intel", `provider` (the feed), `data` (network, score, category, first and last
//!   seen)}.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;

use ipnet::IpNet;
use picket_model::{Alert, AlertVuln, Confidence, Severity, Timestamp, Transport};
use serde::Serialize;
use serde_json::Value;

use crate::{Format, ReportError, json};

/// The OCSF schema version the output follows.
pub const OCSF_VERSION: &str = "1.3.0";

const CLASS_UID: u32 = 2004;

/// Whether an OCSF event reports a new finding or a change to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OcsfActivity {
    /// `activity_id` 1: the alert's first connection.
    Create,
    /// `activity_id` 2: a further connection moved the alert's counts or severity.
    Update,
}

impl OcsfActivity {
    fn id(self) -> u32 {
        match self {
            OcsfActivity::Create => 1,
            OcsfActivity::Update => 2,
        }
    }

    fn name(self) -> &'static str {
        match self {
            OcsfActivity::Create => "Create",
            OcsfActivity::Update => "Update",
        }
    }
}

/// Renders alerts as OCSF Detection Findings: one JSON array, or one finding per line when
/// `ndjson`. Each alert is a `Create`: the findings as they stand, for a consumer that has not
/// seen them (a listing or an export). A live stream uses [`alert_change_ocsf`].
pub fn alerts_ocsf(out: &mut dyn Write, alerts: &[Alert], ndjson: bool) -> Result<(), ReportError> {
    let findings: Vec<Finding<'_>> = alerts
        .iter()
        .map(|a| Finding::new(a, OcsfActivity::Create))
        .collect();
    if ndjson {
        findings
            .iter()
            .try_for_each(|f| json::write_line(out, "OCSF findings", f))
    } else {
        serde_json::to_writer_pretty(&mut *out, &findings).map_err(|source| ReportError::Json {
            what: "OCSF findings",
            source,
        })?;
        out.write_all(b"\n")
            .map_err(ReportError::io("OCSF findings", Format::Json))
    }
}

/// Writes one alert change as one OCSF line: `Create` for a new alert, `Update` for a further
/// connection (same `finding_info.uid`).
pub fn alert_change_ocsf(
    out: &mut dyn Write,
    activity: OcsfActivity,
    alert: &Alert,
) -> Result<(), ReportError> {
    json::write_line(out, "OCSF findings", &Finding::new(alert, activity))
}

/// One alert as an OCSF Detection Finding object (for a caller that adds to it; the writers
/// above serialize the finding without building this tree).
pub fn ocsf_finding(alert: &Alert, activity: OcsfActivity) -> Value {
    // Serializing plain data into a `Value` fails only on a map with non-string keys, which a
    // finding has none of.
    serde_json::to_value(Finding::new(alert, activity)).unwrap_or(Value::Null)
}

// The finding as typed documents, serialized as they stand (building a `serde_json::Value` per
// alert made OCSF output six times slower than NDJSON). Every object's fields are in the order
// of their names, which is the order a `Value` prints them in: the output is what it was when
// the finding was built as a `Value` (a test holds the two to the same bytes).

#[derive(Serialize)]
struct Finding<'a> {
    activity_id: u32,
    activity_name: &'static str,
    category_name: &'static str,
    category_uid: u32,
    class_name: &'static str,
    class_uid: u32,
    confidence: &'static str,
    confidence_id: u8,
    end_time: i64,
    enrichments: Vec<Enrichment<'a>>,
    evidences: [Evidence; 1],
    finding_info: FindingInfo<'a>,
    message: String,
    metadata: Metadata,
    observables: [Observable; 2],
    resources: [Resource; 1],
    severity: &'static str,
    severity_id: u8,
    start_time: i64,
    status: &'static str,
    status_id: u32,
    time: i64,
    timezone_offset: i32,
    type_name: String,
    type_uid: u32,
    vulnerabilities: Vec<Vulnerability<'a>>,
}

#[derive(Serialize)]
struct Metadata {
    log_provider: &'static str,
    product: Product,
    version: &'static str,
}

#[derive(Serialize)]
struct Product {
    name: &'static str,
    vendor_name: &'static str,
}

#[derive(Serialize)]
struct FindingInfo<'a> {
    analytic: Analytic,
    data_sources: BTreeSet<&'a str>,
    desc: String,
    first_seen_time: i64,
    last_seen_time: i64,
    title: &'static str,
    types: [&'static str; 1],
    uid: &'a str,
}

#[derive(Serialize)]
struct Analytic {
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    type_id: u32,
}

#[derive(Serialize)]
struct Resource {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    uid: IpAddr,
}

#[derive(Serialize)]
struct Evidence {
    connection_info: ConnectionInfo,
    data: EvidenceData,
    dst_endpoint: Endpoint,
    src_endpoint: Endpoint,
}

#[derive(Serialize)]
struct ConnectionInfo {
    direction: &'static str,
    direction_id: u32,
    protocol_name: Cow<'static, str>,
    protocol_num: u8,
}

#[derive(Serialize)]
struct EvidenceData {
    attempted: u64,
    bytes_to_client: u64,
    bytes_to_server: u64,
    connections: u64,
    established: u64,
    max_bytes_per_connection: u64,
    packets_to_client: u64,
    packets_to_server: u64,
    sources: Vec<String>,
    window_start: i64,
}

#[derive(Serialize)]
struct Endpoint {
    ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
}

#[derive(Serialize)]
struct Observable {
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    type_id: u32,
    value: IpAddr,
}

#[derive(Serialize)]
struct Enrichment<'a> {
    data: EnrichmentData<'a>,
    name: &'static str,
    provider: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    value: IpAddr,
}

#[derive(Serialize)]
struct EnrichmentData<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_seen_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen_time: Option<i64>,
    network: &'a IpNet,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
}

#[derive(Serialize)]
struct Vulnerability<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    affected_packages: Option<[AffectedPackage<'a>; 1]>,
    cve: Cve<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    desc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_exploit_available: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<String>,
}

#[derive(Serialize)]
struct AffectedPackage<'a> {
    name: &'a str,
    version: &'a str,
}

#[derive(Serialize)]
struct Cve<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cvss: Option<[CvssScore<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    epss: Option<EpssScore>,
    uid: &'a str,
}

#[derive(Serialize)]
struct CvssScore<'a> {
    base_score: f64,
    severity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    vector_string: Option<&'a str>,
    version: &'static str,
}

#[derive(Serialize)]
struct EpssScore {
    #[serde(skip_serializing_if = "Option::is_none")]
    created_time: Option<i64>,
    percentile: f64,
    /// A string in the schema (`string_t`).
    score: String,
}

impl<'a> Finding<'a> {
    fn new(alert: &'a Alert, activity: OcsfActivity) -> Self {
        let (severity_id, severity) = severity(alert.severity);
        let message = summary(alert);
        let mut desc = message.clone();
        for reason in &alert.reasons {
            desc.push(' ');
            desc.push_str(&crate::words::severity_reason(reason));
        }
        let (confidence_id, confidence) = confidence(alert);
        let kind = alert.kind.as_str();
        Finding {
            activity_id: activity.id(),
            activity_name: activity.name(),
            category_name: "Findings",
            category_uid: 2,
            class_name: "Detection Finding",
            class_uid: CLASS_UID,
            confidence,
            confidence_id,
            end_time: millis(alert.last_seen),
            enrichments: alert
                .intel
                .iter()
                .map(|hit| Enrichment {
                    data: EnrichmentData {
                        category: hit.category.as_deref(),
                        first_seen_time: hit.first_seen.map(millis),
                        last_seen_time: hit.last_seen.map(millis),
                        network: &hit.network,
                        score: hit.score,
                    },
                    name: "evidences[0].src_endpoint.ip",
                    provider: &hit.feed,
                    kind: "threat-intel",
                    value: alert.client,
                })
                .collect(),
            evidences: [Evidence {
                connection_info: ConnectionInfo {
                    direction: "Inbound",
                    direction_id: 1,
                    protocol_name: alert.transport.name(),
                    protocol_num: protocol_num(alert.transport, alert.host),
                },
                data: EvidenceData {
                    attempted: alert.attempted,
                    bytes_to_client: alert.bytes_to_client,
                    bytes_to_server: alert.bytes_to_server,
                    connections: alert.connections,
                    established: alert.established,
                    max_bytes_per_connection: alert.max_bytes_per_connection,
                    packets_to_client: alert.packets_to_client,
                    packets_to_server: alert.packets_to_server,
                    sources: alert.sources.iter().map(ToString::to_string).collect(),
                    window_start: millis(alert.window_start),
                },
                dst_endpoint: Endpoint {
                    ip: alert.host,
                    port: Some(alert.port),
                },
                src_endpoint: Endpoint {
                    ip: alert.client,
                    port: None,
                },
            }],
            finding_info: FindingInfo {
                analytic: Analytic {
                    name: kind,
                    kind: "Rule",
                    type_id: 1,
                },
                data_sources: alert.sources.iter().map(|s| s.file.as_str()).collect(),
                desc,
                first_seen_time: millis(alert.first_seen),
                last_seen_time: millis(alert.last_seen),
                title: crate::words::alert_title(alert.kind),
                types: [kind],
                uid: &alert.dedup_key,
            },
            message,
            metadata: Metadata {
                log_provider: "Picket",
                product: Product {
                    name: "Picket",
                    vendor_name: "Picket",
                },
                version: OCSF_VERSION,
            },
            observables: [
                Observable {
                    name: "evidences[0].src_endpoint.ip",
                    kind: "IP Address",
                    type_id: 2,
                    value: alert.client,
                },
                Observable {
                    name: "evidences[0].dst_endpoint.ip",
                    kind: "IP Address",
                    type_id: 2,
                    value: alert.host,
                },
            ],
            resources: [Resource {
                name: format!(
                    "{}/{}",
                    crate::words::endpoint(alert.host, alert.port),
                    alert.transport
                ),
                kind: "Network Service",
                uid: alert.host,
            }],
            severity,
            severity_id,
            start_time: millis(alert.first_seen),
            status: "New",
            status_id: 1,
            time: millis(alert.last_seen),
            timezone_offset: 0,
            type_name: format!("Detection Finding: {}", activity.name()),
            type_uid: CLASS_UID * 100 + activity.id(),
            vulnerabilities: alert
                .vulns
                .iter()
                .map(|v| Vulnerability::new(alert, v))
                .collect(),
        }
    }
}

impl<'a> Vulnerability<'a> {
    fn new(alert: &'a Alert, v: &'a AlertVuln) -> Self {
        let app = &alert.application;
        let affected = match (&app.package, &app.version) {
            (Some(p), _) => Some(AffectedPackage {
                name: &p.name,
                version: &p.version,
            }),
            (None, Some(version)) => Some(AffectedPackage {
                name: &app.product,
                version,
            }),
            (None, None) => None,
        };
        Vulnerability {
            affected_packages: affected.map(|p| [p]),
            cve: Cve {
                cvss: v.cvss.as_ref().map(|c| {
                    [CvssScore {
                        base_score: c.base_score,
                        severity: title_case(c.severity.as_str()),
                        vector_string: (!c.vector.is_empty()).then_some(c.vector.as_str()),
                        version: c.version.as_str(),
                    }]
                }),
                epss: v.epss.as_ref().map(|e| EpssScore {
                    created_time: e
                        .date
                        .and_then(|d| d.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok())
                        .map(|ts| millis(ts.timestamp())),
                    percentile: e.percentile,
                    score: e.score.to_string(),
                }),
                uid: &v.id,
            },
            desc: v.kev.then(|| {
                let since = v
                    .kev_date_added
                    .map(|d| format!(" since {d}"))
                    .unwrap_or_default();
                format!("Listed in CISA's Known Exploited Vulnerabilities catalog{since}.")
            }),
            is_exploit_available: v.kev.then_some(true),
            severity: v.cvss.as_ref().map(|c| title_case(c.severity.as_str())),
        }
    }
}

/// `77.90.185.20 (listed by ipsum) connected 14 times to openssh 9.2p1 on 192.168.1.10:22/tcp
/// (CVE-2023-38408, CVE-2024-6387); 3 established, 11 attempted.`
fn summary(a: &Alert) -> String {
    let mut feeds: Vec<&str> = a.intel.iter().map(|h| h.feed.as_str()).collect();
    feeds.sort_unstable();
    feeds.dedup();
    let vulns: Vec<&str> = a.vulns.iter().map(|v| v.id.as_str()).collect();
    format!(
        "{} (listed by {}) connected {} to {} on {}/{} ({}); {} established, {} attempted.",
        a.client,
        feeds.join(", "),
        times(a.connections),
        a.application,
        crate::words::endpoint(a.host, a.port),
        a.transport,
        vulns.join(", "),
        a.established,
        a.attempted,
    )
}

fn times(n: u64) -> String {
    if n == 1 {
        "once".to_owned()
    } else {
        format!("{n} times")
    }
}

/// OCSF's confidence of the surest vulnerability match (0 Unknown when there is none).
fn confidence(alert: &Alert) -> (u8, &'static str) {
    match alert.vulns.iter().map(|v| v.confidence).max() {
        Some(Confidence::Exact) => (3, "High"),
        Some(Confidence::VersionRange) => (2, "Medium"),
        Some(Confidence::ProductOnly) => (1, "Low"),
        None => (0, "Unknown"),
    }
}

fn severity(s: Severity) -> (u8, &'static str) {
    match s {
        Severity::Info => (1, "Informational"),
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

/// IANA protocol numbers; ICMP is 1 over IPv4 and 58 (ICMPv6) over IPv6.
fn protocol_num(t: Transport, host: IpAddr) -> u8 {
    match t {
        Transport::Tcp => 6,
        Transport::Udp => 17,
        Transport::Icmp if host.is_ipv6() => 58,
        Transport::Icmp => 1,
        Transport::Other(n) => n,
    }
}

fn millis(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

fn title_case(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_map_to_ocsf_ids() {
        let ids: Vec<u8> = Severity::ALL.iter().map(|s| severity(*s).0).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn protocol_numbers() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(protocol_num(Transport::Tcp, v4), 6);
        assert_eq!(protocol_num(Transport::Udp, v6), 17);
        assert_eq!(protocol_num(Transport::Icmp, v4), 1);
        assert_eq!(protocol_num(Transport::Icmp, v6), 58);
        assert_eq!(protocol_num(Transport::Other(132), v4), 132);
        assert_eq!(title_case("high"), "High");
        assert_eq!(title_case(""), "");
        assert_eq!(times(1), "once");
        assert_eq!(times(14), "14 times");
    }
}
