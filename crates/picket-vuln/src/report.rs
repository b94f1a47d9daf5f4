//! Scanner reports: Trivy JSON, Grype JSON and CycloneDX JSON with `vulnerabilities[]` (VEX).
//! The scanner already decided which package has which vulnerability; these importers keep that
//! decision (confidence `Exact`: the scanner matched the installed package version) and the
//! vulnerability details it carried.

use std::collections::HashMap;
use std::io::Read;

pub use picket_model::ReportFormat;
use picket_model::{
    Application, Confidence, Cpe, Cvss, CvssSeverity, CvssVersion, Package, VulnMatch,
    Vulnerability,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::VulnError;
use crate::json::{from_value, parse_document};
use crate::nvd::parse_time;

/// What a scanner report says: vulnerability details and package-level matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScannerReport {
    pub format: ReportFormat,
    pub vulnerabilities: Vec<Vulnerability>,
    pub matches: Vec<VulnMatch>,
}

/// Reads a scanner report, telling the format from its shape (`Results` for Trivy, `matches`
/// for Grype, `bomFormat: CycloneDX`).
pub fn read_report<R: Read>(reader: R, file: &str) -> Result<ScannerReport, VulnError> {
    let value: Value = parse_document(reader, file)?;
    if value.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        cyclonedx(file, from_value(file, "", value)?)
    } else if value.get("matches").is_some() {
        grype(file, from_value(file, "", value)?)
    } else if value.get("SchemaVersion").is_some() || value.get("Results").is_some() {
        trivy(file, from_value(file, "", value)?)
    } else {
        Err(VulnError::field(
            file,
            ".",
            "not a Trivy (Results), Grype (matches) or CycloneDX (bomFormat) report",
        ))
    }
}

/// OSV-style ecosystem name of a package URL type (`pkg:deb/debian/...?distro=debian-12`).
fn ecosystem_from_purl(purl: &str) -> Option<String> {
    let rest = purl.strip_prefix("pkg:")?;
    let (kind, rest) = rest.split_once('/')?;
    let namespace = rest.split('/').next().unwrap_or("");
    let eco = match kind {
        "deb" if namespace == "ubuntu" => "Ubuntu",
        "deb" => "Debian",
        "rpm" => match namespace {
            "redhat" => "Red Hat",
            "almalinux" => "AlmaLinux",
            "rocky" => "Rocky Linux",
            "opensuse" => "openSUSE",
            _ => "rpm",
        },
        "apk" => "Alpine",
        "npm" => "npm",
        "cargo" => "crates.io",
        "pypi" => "PyPI",
        "golang" => "Go",
        "maven" => "Maven",
        "gem" => "RubyGems",
        "nuget" => "NuGet",
        "composer" => "Packagist",
        other => other,
    };
    Some(eco.to_owned())
}

/// Trivy's `Result.Type` (`debian`, `ubuntu`, `redhat`, `cargo`, `gomod`, ...) as an ecosystem.
fn ecosystem_from_trivy(kind: &str) -> String {
    match kind {
        "debian" => "Debian",
        "ubuntu" => "Ubuntu",
        "redhat" => "Red Hat",
        "alma" => "AlmaLinux",
        "rocky" => "Rocky Linux",
        "alpine" => "Alpine",
        "npm" | "yarn" | "pnpm" | "node-pkg" => "npm",
        "cargo" | "rustbinary" => "crates.io",
        "gomod" | "gobinary" => "Go",
        "pip" | "pipenv" | "poetry" | "python-pkg" => "PyPI",
        "jar" | "pom" | "gradle" => "Maven",
        "bundler" | "gemspec" => "RubyGems",
        "composer" => "Packagist",
        other => other,
    }
    .to_owned()
}

fn package_app(name: &str, version: &str, ecosystem: Option<String>) -> Application {
    let mut app = Application::new(name).with_version(version);
    app.package = Some(Package::new(name, version));
    app.ecosystem = ecosystem;
    app
}

fn fix_text(fixed: &[String]) -> String {
    if fixed.is_empty() {
        "no fixed version published".to_owned()
    } else {
        format!("fixed in {}", fixed.join(", "))
    }
}

// ---- Trivy -----------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyReport {
    #[serde(default)]
    results: Vec<TrivyResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyResult {
    #[serde(default)]
    target: String,
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(default)]
    vulnerabilities: Vec<TrivyVuln>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyVuln {
    #[serde(rename = "VulnerabilityID")]
    vulnerability_id: String,
    pkg_name: String,
    installed_version: String,
    fixed_version: Option<String>,
    title: Option<String>,
    description: Option<String>,
    severity: Option<String>,
    #[serde(rename = "CVSS", default)]
    cvss: HashMap<String, TrivyCvss>,
    #[serde(default)]
    references: Vec<String>,
    published_date: Option<String>,
    last_modified_date: Option<String>,
}

#[derive(Deserialize)]
struct TrivyCvss {
    #[serde(rename = "V3Vector")]
    v3_vector: Option<String>,
    #[serde(rename = "V3Score")]
    v3_score: Option<f64>,
    #[serde(rename = "V2Vector")]
    v2_vector: Option<String>,
    #[serde(rename = "V2Score")]
    v2_score: Option<f64>,
}

fn trivy(file: &str, report: TrivyReport) -> Result<ScannerReport, VulnError> {
    let mut out = ScannerReport {
        format: ReportFormat::Trivy,
        vulnerabilities: Vec::new(),
        matches: Vec::new(),
    };
    for (ri, result) in report.results.into_iter().enumerate() {
        for (vi, v) in result.vulnerabilities.into_iter().enumerate() {
            let path = format!("Results[{ri}].Vulnerabilities[{vi}]");
            let severity = v.severity.as_deref().and_then(CvssSeverity::parse);
            // NVD's score first (the same source the rest of Picket uses), then any vendor's.
            let source = v.cvss.get("nvd").or_else(|| {
                let mut keys: Vec<&String> = v.cvss.keys().collect();
                keys.sort();
                keys.first().and_then(|k| v.cvss.get(*k))
            });
            let cvss = source.and_then(|c| {
                let (version, vector, score) =
                    match (&c.v3_vector, c.v3_score, &c.v2_vector, c.v2_score) {
                        (Some(vec), Some(s), _, _) => (v3_version(vec), vec.clone(), s),
                        (_, _, Some(vec), Some(s)) => (CvssVersion::V2, vec.clone(), s),
                        _ => return None,
                    };
                Some(Cvss {
                    version,
                    base_score: score,
                    severity: severity.unwrap_or_else(|| CvssSeverity::from_score(score)),
                    vector,
                })
            });
            let mut vuln = Vulnerability::new(
                v.vulnerability_id.clone(),
                v.title.or(v.description).unwrap_or_default(),
            );
            vuln.cvss = cvss.clone();
            vuln.references = v.references;
            vuln.published = v
                .published_date
                .as_deref()
                .map(|t| parse_time(file, &format!("{path}.PublishedDate"), t))
                .transpose()?;
            vuln.modified = v
                .last_modified_date
                .as_deref()
                .map(|t| parse_time(file, &format!("{path}.LastModifiedDate"), t))
                .transpose()?;
            let fixed: Vec<String> = v
                .fixed_version
                .into_iter()
                .filter(|f| !f.is_empty())
                .collect();
            out.matches.push(VulnMatch {
                vuln_id: v.vulnerability_id,
                application: package_app(
                    &v.pkg_name,
                    &v.installed_version,
                    Some(ecosystem_from_trivy(&result.kind)),
                ),
                confidence: Confidence::Exact,
                why: format!(
                    "Trivy found {} {} in {}; {}",
                    v.pkg_name,
                    v.installed_version,
                    result.target,
                    fix_text(&fixed)
                ),
                cvss,
                kev: None,
                epss: None,
            });
            out.vulnerabilities.push(vuln);
        }
    }
    Ok(out)
}

fn v3_version(vector: &str) -> CvssVersion {
    if vector.starts_with("CVSS:3.0/") {
        CvssVersion::V3_0
    } else if vector.starts_with("CVSS:4.0/") {
        CvssVersion::V4_0
    } else {
        CvssVersion::V3_1
    }
}

// ---- Grype -----------------------------------------------------------------------------------

#[derive(Deserialize)]
struct GrypeReport {
    matches: Vec<GrypeMatch>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GrypeMatch {
    vulnerability: GrypeVuln,
    artifact: GrypeArtifact,
    #[serde(default)]
    match_details: Vec<GrypeDetail>,
}

#[derive(Deserialize)]
struct GrypeVuln {
    id: String,
    description: Option<String>,
    severity: Option<String>,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    cvss: Vec<GrypeCvss>,
    fix: Option<GrypeFix>,
}

#[derive(Deserialize)]
struct GrypeCvss {
    #[serde(rename = "type")]
    kind: Option<String>,
    version: String,
    vector: String,
    metrics: GrypeMetrics,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GrypeMetrics {
    base_score: f64,
}

#[derive(Deserialize)]
struct GrypeFix {
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Deserialize)]
struct GrypeArtifact {
    name: String,
    version: String,
    #[serde(rename = "type", default)]
    kind: String,
    purl: Option<String>,
    #[serde(default)]
    cpes: Vec<String>,
}

#[derive(Deserialize)]
struct GrypeDetail {
    matcher: Option<String>,
}

fn grype(file: &str, report: GrypeReport) -> Result<ScannerReport, VulnError> {
    let mut out = ScannerReport {
        format: ReportFormat::Grype,
        vulnerabilities: Vec::new(),
        matches: Vec::new(),
    };
    for (i, m) in report.matches.into_iter().enumerate() {
        let v = m.vulnerability;
        let severity = v.severity.as_deref().and_then(CvssSeverity::parse);
        let best = v
            .cvss
            .iter()
            .enumerate()
            .filter(|(_, c)| CvssVersion::parse(&c.version).is_some())
            .max_by_key(|(_, c)| {
                (
                    c.kind.as_deref() == Some("Primary"),
                    CvssVersion::parse(&c.version),
                )
            });
        let cvss = match best {
            Some((ci, c)) => {
                if !(0.0..=10.0).contains(&c.metrics.base_score) {
                    return Err(VulnError::field(
                        file,
                        format!("matches[{i}].vulnerability.cvss[{ci}].metrics.baseScore"),
                        format!("{} is outside 0..=10", c.metrics.base_score),
                    ));
                }
                CvssVersion::parse(&c.version).map(|version| Cvss {
                    version,
                    base_score: c.metrics.base_score,
                    severity: CvssSeverity::from_score(c.metrics.base_score),
                    vector: c.vector.clone(),
                })
            }
            None => None,
        };
        let mut vuln = Vulnerability::new(v.id.clone(), v.description.unwrap_or_default());
        vuln.cvss = cvss.clone();
        vuln.references = v.urls;
        let a = m.artifact;
        let ecosystem = a
            .purl
            .as_deref()
            .and_then(ecosystem_from_purl)
            .or_else(|| (!a.kind.is_empty()).then(|| a.kind.clone()));
        let mut app = package_app(&a.name, &a.version, ecosystem);
        app.cpe = a.cpes.iter().find_map(|c| Cpe::parse(c).ok());
        let fixed = v.fix.map(|f| f.versions).unwrap_or_default();
        let matcher = m
            .match_details
            .iter()
            .find_map(|d| d.matcher.clone())
            .unwrap_or_else(|| "grype".to_owned());
        out.matches.push(VulnMatch {
            vuln_id: v.id,
            why: format!(
                "Grype ({matcher}) found {} {}{}; {}",
                a.name,
                a.version,
                severity
                    .map(|s| format!(", severity {s}"))
                    .unwrap_or_default(),
                fix_text(&fixed)
            ),
            application: app,
            confidence: Confidence::Exact,
            cvss,
            kev: None,
            epss: None,
        });
        out.vulnerabilities.push(vuln);
    }
    Ok(out)
}

// ---- CycloneDX -------------------------------------------------------------------------------

#[derive(Deserialize)]
struct Bom {
    #[serde(default)]
    components: Vec<Component>,
    #[serde(default)]
    vulnerabilities: Vec<BomVuln>,
}

#[derive(Deserialize)]
struct Component {
    #[serde(rename = "bom-ref")]
    bom_ref: Option<String>,
    name: String,
    version: Option<String>,
    purl: Option<String>,
    cpe: Option<String>,
    #[serde(default)]
    components: Vec<Component>,
}

#[derive(Deserialize)]
struct BomVuln {
    id: String,
    description: Option<String>,
    #[serde(default)]
    ratings: Vec<Rating>,
    #[serde(default)]
    advisories: Vec<Advisory>,
    published: Option<String>,
    updated: Option<String>,
    analysis: Option<Analysis>,
    #[serde(default)]
    affects: Vec<Affects>,
}

#[derive(Deserialize)]
struct Rating {
    score: Option<f64>,
    severity: Option<String>,
    method: Option<String>,
    vector: Option<String>,
}

#[derive(Deserialize)]
struct Advisory {
    url: String,
}

#[derive(Deserialize)]
struct Analysis {
    state: Option<String>,
}

#[derive(Deserialize)]
struct Affects {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    versions: Vec<AffectedVersion>,
}

#[derive(Deserialize)]
struct AffectedVersion {
    version: Option<String>,
    status: Option<String>,
}

fn flatten<'a>(components: &'a [Component], out: &mut HashMap<&'a str, &'a Component>) {
    for c in components {
        if let Some(r) = &c.bom_ref {
            out.insert(r.as_str(), c);
        }
        flatten(&c.components, out);
    }
}

fn cyclonedx(file: &str, bom: Bom) -> Result<ScannerReport, VulnError> {
    let mut by_ref = HashMap::new();
    flatten(&bom.components, &mut by_ref);
    let mut out = ScannerReport {
        format: ReportFormat::CycloneDx,
        vulnerabilities: Vec::new(),
        matches: Vec::new(),
    };
    for (i, v) in bom.vulnerabilities.iter().enumerate() {
        let path = format!("vulnerabilities[{i}]");
        let cvss = v
            .ratings
            .iter()
            .filter_map(|r| {
                let version = match r.method.as_deref()? {
                    "CVSSv2" => CvssVersion::V2,
                    "CVSSv3" => CvssVersion::V3_0,
                    "CVSSv31" => CvssVersion::V3_1,
                    "CVSSv4" => CvssVersion::V4_0,
                    _ => return None,
                };
                let score = r.score.filter(|s| (0.0..=10.0).contains(s))?;
                Some(Cvss {
                    version,
                    base_score: score,
                    severity: r
                        .severity
                        .as_deref()
                        .and_then(CvssSeverity::parse)
                        .unwrap_or_else(|| CvssSeverity::from_score(score)),
                    vector: r.vector.clone().unwrap_or_default(),
                })
            })
            .max_by_key(|c| c.version);
        let mut vuln = Vulnerability::new(v.id.clone(), v.description.clone().unwrap_or_default());
        vuln.cvss = cvss.clone();
        vuln.references = v.advisories.iter().map(|a| a.url.clone()).collect();
        vuln.published = v
            .published
            .as_deref()
            .map(|t| parse_time(file, &format!("{path}.published"), t))
            .transpose()?;
        vuln.modified = v
            .updated
            .as_deref()
            .map(|t| parse_time(file, &format!("{path}.updated"), t))
            .transpose()?;
        out.vulnerabilities.push(vuln);
        // VEX: an analysis that rules the vulnerability out means no match at all.
        let state = v.analysis.as_ref().and_then(|a| a.state.as_deref());
        if matches!(
            state,
            Some("not_affected" | "false_positive" | "resolved" | "resolved_with_pedigree")
        ) {
            continue;
        }
        for (ai, affects) in v.affects.iter().enumerate() {
            let Some(component) = by_ref.get(affects.reference.as_str()) else {
                return Err(VulnError::field(
                    file,
                    format!("{path}.affects[{ai}].ref"),
                    format!("no component has bom-ref {:?}", affects.reference),
                ));
            };
            let version = component.version.clone().unwrap_or_default();
            let unaffected = affects.versions.iter().any(|av| {
                av.status.as_deref() == Some("unaffected")
                    && av.version.as_deref() == Some(version.as_str())
            });
            if unaffected {
                continue;
            }
            let ecosystem = component.purl.as_deref().and_then(ecosystem_from_purl);
            let mut app = package_app(&component.name, &version, ecosystem);
            app.cpe = component.cpe.as_deref().and_then(|c| Cpe::parse(c).ok());
            out.matches.push(VulnMatch {
                vuln_id: v.id.clone(),
                why: format!(
                    "CycloneDX BOM lists {} {} as affected{}",
                    component.name,
                    version,
                    state
                        .map(|s| format!(" (analysis: {s})"))
                        .unwrap_or_default()
                ),
                application: app,
                confidence: Confidence::Exact,
                cvss: cvss.clone(),
                kev: None,
                epss: None,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purl_ecosystems() {
        assert_eq!(
            ecosystem_from_purl("pkg:deb/debian/openssh-server@1%3A9.2p1?distro=debian-12")
                .as_deref(),
            Some("Debian")
        );
        assert_eq!(
            ecosystem_from_purl("pkg:cargo/serde@1.0.0").as_deref(),
            Some("crates.io")
        );
        assert_eq!(ecosystem_from_purl("not a purl"), None);
    }

    #[test]
    fn unknown_shapes_are_errors() {
        let err = read_report(&b"{\"foo\": 1}"[..], "r.json").unwrap_err();
        assert!(err.to_string().contains("not a Trivy"), "{err}");
        let err = read_report(&b"{\"matches\": [{}]}"[..], "g.json").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("g.json: at matches[0]: missing field `vulnerability`"),
            "{err}"
        );
    }
}
