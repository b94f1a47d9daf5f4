//! NVD CVE JSON API 2.0: single records (`{"id": "CVE-...", ...}`) and the feed / API response
//! form (`{"vulnerabilities": [{"cve": {...}}, ...]}`), streamed record by record.

use std::io::Read;

use picket_model::{Cpe, Cvss, CvssSeverity, CvssVersion, Timestamp, Vulnerability};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::VulnError;
use crate::cpe_match::{Bound, CpeCriterion};
use crate::json::{Import, from_value, stream_array};

/// A CVE with its applicability statements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NvdCve {
    pub vulnerability: Vulnerability,
    pub configurations: Vec<Configuration>,
}

impl NvdCve {
    /// The CPE products its criteria name, sorted, each once: the keys a match finds it by.
    pub fn products(&self) -> Vec<String> {
        let mut products: Vec<String> = self
            .configurations
            .iter()
            .flat_map(|c| &c.nodes)
            .flat_map(|n| &n.matches)
            .filter_map(|m| m.cpe.product.as_value().map(str::to_owned))
            .collect();
        products.sort();
        products.dedup();
        products
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    And,
    Or,
}

/// One applicability statement: its nodes combined with `operator` (OR when absent), e.g.
/// "this firmware version AND running on this device".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    pub operator: Operator,
    pub negate: bool,
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub operator: Operator,
    pub negate: bool,
    pub matches: Vec<CpeCriterion>,
}

#[derive(Deserialize)]
struct FeedItem {
    cve: RawCve,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCve {
    id: String,
    published: Option<String>,
    last_modified: Option<String>,
    #[serde(default)]
    descriptions: Vec<LangString>,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    configurations: Vec<RawConfiguration>,
    #[serde(default)]
    references: Vec<RawReference>,
}

#[derive(Deserialize)]
struct LangString {
    lang: String,
    value: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawMetrics {
    #[serde(default)]
    cvss_metric_v31: Vec<RawMetric>,
    #[serde(default)]
    cvss_metric_v30: Vec<RawMetric>,
    #[serde(default)]
    cvss_metric_v40: Vec<RawMetric>,
    #[serde(default)]
    cvss_metric_v2: Vec<RawMetric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMetric {
    #[serde(rename = "type")]
    kind: Option<String>,
    cvss_data: RawCvssData,
    /// CVSS v2 keeps the severity beside `cvssData`, v3 and v4 inside it.
    base_severity: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCvssData {
    version: String,
    vector_string: String,
    base_score: f64,
    base_severity: Option<String>,
}

#[derive(Deserialize)]
struct RawConfiguration {
    operator: Option<String>,
    #[serde(default)]
    negate: bool,
    #[serde(default)]
    nodes: Vec<RawNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawNode {
    operator: String,
    #[serde(default)]
    negate: bool,
    #[serde(default)]
    cpe_match: Vec<RawCpeMatch>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCpeMatch {
    vulnerable: bool,
    criteria: String,
    version_start_including: Option<String>,
    version_start_excluding: Option<String>,
    version_end_including: Option<String>,
    version_end_excluding: Option<String>,
}

#[derive(Deserialize)]
struct RawReference {
    url: String,
}

/// Reads NVD JSON: a single CVE record or a `vulnerabilities` feed. `file` names the source in
/// errors. A record that is valid JSON but not a valid CVE is skipped and reported.
pub fn read_nvd<R: Read>(reader: R, file: &str) -> Result<Import<NvdCve>, VulnError> {
    let mut import = Import::default();
    let mut saw_feed = false;
    let rest = stream_array(reader, file, "vulnerabilities", &mut |i, value| {
        saw_feed = true;
        let path = format!("vulnerabilities[{i}]");
        import.push(
            from_value::<FeedItem>(file, &path, value)
                .and_then(|item| convert(file, &format!("{path}.cve"), item.cve)),
        );
    })?;
    if !saw_feed && rest.contains_key("id") {
        let record = from_value::<RawCve>(file, "", Value::Object(rest))
            .and_then(|raw| convert(file, "", raw));
        import.push(record);
    }
    Ok(import)
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

fn convert(file: &str, path: &str, raw: RawCve) -> Result<NvdCve, VulnError> {
    if !raw.id.starts_with("CVE-") {
        return Err(VulnError::field(
            file,
            join(path, "id"),
            format!("{:?} is not a CVE id", raw.id),
        ));
    }
    let summary = raw
        .descriptions
        .iter()
        .find(|d| d.lang == "en")
        .or_else(|| raw.descriptions.first())
        .map(|d| d.value.clone())
        .unwrap_or_default();
    let mut vulnerability = Vulnerability::new(raw.id, summary);
    vulnerability.cvss = best_cvss(file, &join(path, "metrics"), &raw.metrics)?;
    vulnerability.published = raw
        .published
        .as_deref()
        .map(|t| parse_time(file, &join(path, "published"), t))
        .transpose()?;
    vulnerability.modified = raw
        .last_modified
        .as_deref()
        .map(|t| parse_time(file, &join(path, "lastModified"), t))
        .transpose()?;
    vulnerability.references = raw.references.into_iter().map(|r| r.url).collect();
    let mut configurations = Vec::with_capacity(raw.configurations.len());
    for (ci, c) in raw.configurations.into_iter().enumerate() {
        let cpath = join(path, &format!("configurations[{ci}]"));
        let mut nodes = Vec::with_capacity(c.nodes.len());
        for (ni, n) in c.nodes.into_iter().enumerate() {
            let npath = format!("{cpath}.nodes[{ni}]");
            let mut matches = Vec::with_capacity(n.cpe_match.len());
            for (mi, m) in n.cpe_match.into_iter().enumerate() {
                matches.push(criterion(file, &format!("{npath}.cpeMatch[{mi}]"), m)?);
            }
            nodes.push(Node {
                operator: operator(file, &format!("{npath}.operator"), Some(&n.operator))?,
                negate: n.negate,
                matches,
            });
        }
        configurations.push(Configuration {
            operator: operator(file, &format!("{cpath}.operator"), c.operator.as_deref())?,
            negate: c.negate,
            nodes,
        });
    }
    Ok(NvdCve {
        vulnerability,
        configurations,
    })
}

fn operator(file: &str, path: &str, op: Option<&str>) -> Result<Operator, VulnError> {
    match op {
        None | Some("OR") => Ok(Operator::Or),
        Some("AND") => Ok(Operator::And),
        Some(other) => Err(VulnError::field(
            file,
            path,
            format!("operator {other:?} is not AND or OR"),
        )),
    }
}

fn criterion(file: &str, path: &str, m: RawCpeMatch) -> Result<CpeCriterion, VulnError> {
    let cpe = Cpe::parse(&m.criteria)
        .map_err(|e| VulnError::field(file, format!("{path}.criteria"), e.to_string()))?;
    let bound = |inc: Option<String>, exc: Option<String>, name: &str| match (inc, exc) {
        (Some(_), Some(_)) => Err(VulnError::field(
            file,
            format!("{path}.{name}"),
            "both Including and Excluding are set",
        )),
        (Some(v), None) => Ok(Some(Bound {
            version: v,
            inclusive: true,
        })),
        (None, Some(v)) => Ok(Some(Bound {
            version: v,
            inclusive: false,
        })),
        (None, None) => Ok(None),
    };
    Ok(CpeCriterion {
        vulnerable: m.vulnerable,
        cpe,
        start: bound(
            m.version_start_including,
            m.version_start_excluding,
            "versionStart",
        )?,
        end: bound(
            m.version_end_including,
            m.version_end_excluding,
            "versionEnd",
        )?,
    })
}

/// The CVSS the record is best described by: v3.1, then v3.0, v4.0, v2; within a version the
/// `Primary` (NVD's own) score before the CNA's.
fn best_cvss(file: &str, path: &str, metrics: &RawMetrics) -> Result<Option<Cvss>, VulnError> {
    let lists = [
        ("cvssMetricV31", &metrics.cvss_metric_v31),
        ("cvssMetricV30", &metrics.cvss_metric_v30),
        ("cvssMetricV40", &metrics.cvss_metric_v40),
        ("cvssMetricV2", &metrics.cvss_metric_v2),
    ];
    for (name, list) in lists {
        let chosen = list
            .iter()
            .enumerate()
            .find(|(_, m)| m.kind.as_deref() == Some("Primary"))
            .or_else(|| list.iter().enumerate().next());
        let Some((i, m)) = chosen else { continue };
        let here = format!("{path}.{name}[{i}].cvssData");
        let d = &m.cvss_data;
        let version = CvssVersion::parse(&d.version).ok_or_else(|| {
            VulnError::field(
                file,
                format!("{here}.version"),
                format!("unknown CVSS version {:?}", d.version),
            )
        })?;
        if !(0.0..=10.0).contains(&d.base_score) {
            return Err(VulnError::field(
                file,
                format!("{here}.baseScore"),
                format!("{} is outside 0..=10", d.base_score),
            ));
        }
        let severity = d
            .base_severity
            .as_deref()
            .or(m.base_severity.as_deref())
            .and_then(CvssSeverity::parse)
            .unwrap_or_else(|| CvssSeverity::from_score(d.base_score));
        return Ok(Some(Cvss {
            version,
            base_score: d.base_score,
            severity,
            vector: d.vector_string.clone(),
        }));
    }
    Ok(None)
}

/// NVD writes UTC times without an offset (`2024-07-01T13:15:06.467`); OSV and scanners write
/// RFC 3339. Both are accepted.
pub(crate) fn parse_time(file: &str, path: &str, s: &str) -> Result<Timestamp, VulnError> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    s.parse::<jiff::civil::DateTime>()
        .and_then(|dt| jiff::tz::TimeZone::UTC.to_timestamp(dt))
        .map_err(|e| VulnError::field(file, path, format!("bad time {s:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_form_with_a_bad_record_keeps_the_good_ones() {
        let feed = br#"{"resultsPerPage":2,"format":"NVD_CVE","version":"2.0","vulnerabilities":[
            {"cve":{"id":"CVE-2000-0001","published":"2000-01-01T00:00:00.000","descriptions":[{"lang":"en","value":"x"}],
                    "configurations":[{"nodes":[{"operator":"OR","negate":false,"cpeMatch":[{"vulnerable":true,"criteria":"cpe:2.3:a:v:p:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0"}]}]}]}},
            {"cve":{"id":"CVE-2000-0002","configurations":[{"nodes":[{"operator":"OR","cpeMatch":[{"vulnerable":true,"criteria":"cpe:2.3:q:v:p"}]}]}]}},
            {"cve":{"id":"CVE-2000-0003","metrics":{"cvssMetricV31":[{"cvssData":{"version":"3.1","vectorString":"v","baseScore":"high"}}]}}}
        ]}"#;
        let import = read_nvd(&feed[..], "feed.json").unwrap();
        assert_eq!(import.records.len(), 1);
        assert_eq!(import.records[0].vulnerability.id, "CVE-2000-0001");
        assert_eq!(
            import.records[0].configurations[0].nodes[0].matches[0]
                .end
                .as_ref()
                .unwrap()
                .version,
            "2.0"
        );
        let errors: Vec<String> = import.skipped.iter().map(|e| e.to_string()).collect();
        assert!(errors[0].starts_with("feed.json: at vulnerabilities[1].cve.configurations[0].nodes[0].cpeMatch[0].criteria: bad CPE"), "{}", errors[0]);
        assert!(errors[1].starts_with("feed.json: at vulnerabilities[2].cve.metrics.cvssMetricV31[0].cvssData.baseScore: invalid type"), "{}", errors[1]);
    }

    #[test]
    fn times_in_both_forms() {
        let a = parse_time("f", "p", "2024-07-01T13:15:06.467").unwrap();
        let b = parse_time("f", "p", "2024-07-01T13:15:06.467Z").unwrap();
        assert_eq!(a, b);
        assert!(
            parse_time("f", "published", "yesterday")
                .unwrap_err()
                .to_string()
                .contains("at published")
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(read_nvd(&b"not json"[..], "x").is_err());
        let empty = read_nvd(&b"{}"[..], "x").unwrap();
        assert!(empty.records.is_empty() && empty.skipped.is_empty());
    }
}
