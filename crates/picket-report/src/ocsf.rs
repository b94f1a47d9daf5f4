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

use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;

use picket_model::{Alert, AlertVuln, Confidence, Severity, Timestamp, Transport};
use serde_json::{Map, Value, json};

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
    let findings: Vec<Value> = alerts
        .iter()
        .map(|a| ocsf_finding(a, OcsfActivity::Create))
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
    json::write_line(out, "OCSF findings", &ocsf_finding(alert, activity))
}

/// One alert as an OCSF Detection Finding object.
pub fn ocsf_finding(alert: &Alert, activity: OcsfActivity) -> Value {
    let (severity_id, severity) = severity(alert.severity);
    let summary = summary(alert);
    let mut desc = summary.clone();
    for reason in &alert.reasons {
        desc.push(' ');
        desc.push_str(&crate::words::severity_reason(reason));
    }
    let data_sources: BTreeSet<&str> = alert.sources.iter().map(|s| s.file.as_str()).collect();
    let (confidence_id, confidence) = confidence(alert);
    json!({
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": activity.id(),
        "activity_name": activity.name(),
        "type_uid": CLASS_UID * 100 + activity.id(),
        "type_name": format!("Detection Finding: {}", activity.name()),
        "time": millis(alert.last_seen),
        "start_time": millis(alert.first_seen),
        "end_time": millis(alert.last_seen),
        "timezone_offset": 0,
        "severity_id": severity_id,
        "severity": severity,
        "status_id": 1,
        "status": "New",
        "confidence_id": confidence_id,
        "confidence": confidence,
        "message": summary,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "Picket", "vendor_name": "Picket"},
            "log_provider": "Picket",
        },
        "finding_info": {
            "uid": alert.dedup_key,
            "title": crate::words::alert_title(alert.kind),
            "desc": desc,
            "types": [alert.kind.as_str()],
            "analytic": {"name": alert.kind.as_str(), "type_id": 1, "type": "Rule"},
            "first_seen_time": millis(alert.first_seen),
            "last_seen_time": millis(alert.last_seen),
            "data_sources": data_sources,
        },
        "resources": [{
            "uid": alert.host,
            "name": format!("{}/{}", crate::words::endpoint(alert.host, alert.port), alert.transport),
            "type": "Network Service",
        }],
        "evidences": [{
            "src_endpoint": {"ip": alert.client},
            "dst_endpoint": {"ip": alert.host, "port": alert.port},
            "connection_info": {
                "protocol_name": alert.transport.name(),
                "protocol_num": protocol_num(alert.transport, alert.host),
                "direction": "Inbound",
                "direction_id": 1,
            },
            "data": {
                "connections": alert.connections,
                "established": alert.established,
                "attempted": alert.attempted,
                "bytes_to_server": alert.bytes_to_server,
                "bytes_to_client": alert.bytes_to_client,
                "packets_to_server": alert.packets_to_server,
                "packets_to_client": alert.packets_to_client,
                "max_bytes_per_connection": alert.max_bytes_per_connection,
                "window_start": millis(alert.window_start),
                "sources": alert.sources.iter().map(ToString::to_string).collect::<Vec<_>>(),
            },
        }],
        "vulnerabilities": alert.vulns.iter().map(|v| vulnerability(alert, v)).collect::<Vec<_>>(),
        "observables": [
            {"name": "evidences[0].src_endpoint.ip", "type_id": 2, "type": "IP Address", "value": alert.client},
            {"name": "evidences[0].dst_endpoint.ip", "type_id": 2, "type": "IP Address", "value": alert.host},
        ],
        "enrichments": alert.intel.iter().map(|hit| {
            let mut data = Map::new();
            data.insert("network".into(), json!(hit.network));
            if let Some(score) = hit.score {
                data.insert("score".into(), json!(score));
            }
            if let Some(category) = &hit.category {
                data.insert("category".into(), json!(category));
            }
            if let Some(first) = hit.first_seen {
                data.insert("first_seen_time".into(), json!(millis(first)));
            }
            if let Some(last) = hit.last_seen {
                data.insert("last_seen_time".into(), json!(millis(last)));
            }
            json!({
                "name": "evidences[0].src_endpoint.ip",
                "value": alert.client,
                "type": "threat-intel",
                "provider": hit.feed,
                "data": data,
            })
        }).collect::<Vec<_>>(),
    })
}

fn vulnerability(alert: &Alert, v: &AlertVuln) -> Value {
    let mut cve = Map::new();
    cve.insert("uid".into(), json!(v.id));
    if let Some(c) = &v.cvss {
        let mut cvss = json!({
            "version": c.version.as_str(),
            "base_score": c.base_score,
            "severity": title_case(c.severity.as_str()),
        });
        if !c.vector.is_empty() {
            cvss["vector_string"] = json!(c.vector);
        }
        cve.insert("cvss".into(), json!([cvss]));
    }
    if let Some(e) = &v.epss {
        let mut epss = json!({"score": e.score.to_string(), "percentile": e.percentile});
        if let Some(date) = e.date {
            if let Ok(ts) = date.to_zoned_datetime(jiff::tz::TimeZone::UTC) {
                epss["created_time"] = json!(millis(ts.timestamp()));
            }
        }
        cve.insert("epss".into(), epss);
    }
    let mut out = Map::new();
    out.insert("cve".into(), Value::Object(cve));
    if let Some(c) = &v.cvss {
        out.insert("severity".into(), json!(title_case(c.severity.as_str())));
    }
    if v.kev {
        out.insert("is_exploit_available".into(), json!(true));
        let since = v
            .kev_date_added
            .map(|d| format!(" since {d}"))
            .unwrap_or_default();
        out.insert(
            "desc".into(),
            json!(format!(
                "Listed in CISA's Known Exploited Vulnerabilities catalog{since}."
            )),
        );
    }
    let app = &alert.application;
    let package = match (&app.package, &app.version) {
        (Some(p), _) => Some(json!({"name": p.name, "version": p.version})),
        (None, Some(version)) => Some(json!({"name": app.product, "version": version})),
        (None, None) => None,
    };
    if let Some(package) = package {
        out.insert("affected_packages".into(), json!([package]));
    }
    Value::Object(out)
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
