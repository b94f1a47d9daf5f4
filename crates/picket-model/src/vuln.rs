//! Vulnerability knowledge: CVE records with their risk signals (CVSS, CISA KEV, EPSS), the
//! applications Picket sees on the network, CPE 2.3 names, and matches between them.
//!
//! Parsing a CPE name lives here because `Application` carries one and must round-trip through
//! serde; matching CPEs against NVD criteria (version ranges, configurations) lives in
//! `picket-vuln`.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::Timestamp;

/// One vulnerability record (a CVE, or an OSV/GHSA id with CVE aliases), joined with the risk
/// signals that other catalogues publish about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vulnerability {
    /// `CVE-2024-6387`, or the source's own id (`GHSA-...`, `DSA-...`) when it has no CVE.
    pub id: String,
    /// Other ids for the same flaw (CVE <-> GHSA <-> distro advisories).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The English description.
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<Cvss>,
    /// Present when CISA lists the CVE as exploited in the wild.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kev: Option<KevEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epss: Option<Epss>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<Timestamp>,
    /// Reference URLs (advisories, patches, mailing-list posts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
}

impl Vulnerability {
    /// A record with only an id and a summary; the importers fill in the rest.
    pub fn new(id: impl Into<String>, summary: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            aliases: Vec::new(),
            summary: summary.into(),
            cvss: None,
            kev: None,
            epss: None,
            published: None,
            modified: None,
            references: Vec::new(),
        }
    }
}

/// The CVSS base metrics that decided a record's severity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    pub version: CvssVersion,
    pub base_score: f64,
    pub severity: CvssSeverity,
    /// The vector string as published, e.g. `CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H`.
    pub vector: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CvssVersion {
    #[serde(rename = "2.0")]
    V2,
    #[serde(rename = "3.0")]
    V3_0,
    #[serde(rename = "3.1")]
    V3_1,
    #[serde(rename = "4.0")]
    V4_0,
}

impl CvssVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            CvssVersion::V2 => "2.0",
            CvssVersion::V3_0 => "3.0",
            CvssVersion::V3_1 => "3.1",
            CvssVersion::V4_0 => "4.0",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "2.0" | "2" => Some(CvssVersion::V2),
            "3.0" => Some(CvssVersion::V3_0),
            "3.1" => Some(CvssVersion::V3_1),
            "4.0" | "4" => Some(CvssVersion::V4_0),
            _ => None,
        }
    }
}

impl fmt::Display for CvssVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Qualitative severity, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CvssSeverity {
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl CvssSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            CvssSeverity::None => "none",
            CvssSeverity::Low => "low",
            CvssSeverity::Medium => "medium",
            CvssSeverity::High => "high",
            CvssSeverity::Critical => "critical",
        }
    }

    /// Case-insensitive: NVD writes `HIGH`, scanners write `High` or `high`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Some(CvssSeverity::None),
            "low" => Some(CvssSeverity::Low),
            "medium" | "moderate" => Some(CvssSeverity::Medium),
            "high" | "important" => Some(CvssSeverity::High),
            "critical" => Some(CvssSeverity::Critical),
            _ => None,
        }
    }

    /// The CVSS v3/v4 qualitative rating of a base score (v2 has no `critical`, but the
    /// v3 bands are what people read today).
    pub fn from_score(score: f64) -> Self {
        if score >= 9.0 {
            CvssSeverity::Critical
        } else if score >= 7.0 {
            CvssSeverity::High
        } else if score >= 4.0 {
            CvssSeverity::Medium
        } else if score > 0.0 {
            CvssSeverity::Low
        } else {
            CvssSeverity::None
        }
    }
}

impl fmt::Display for CvssSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry of CISA's Known Exploited Vulnerabilities catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KevEntry {
    pub date_added: Date,
    /// The remediation deadline for US federal agencies; a useful urgency signal for everyone.
    pub due_date: Date,
    /// CISA knows of ransomware campaigns using it (`knownRansomwareCampaignUse: Known`).
    pub ransomware: bool,
    /// CISA's required action, verbatim.
    pub action: String,
}

/// FIRST's Exploit Prediction Scoring System: probability of exploitation in the next 30 days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Epss {
    /// Probability, 0.0 ..= 1.0.
    pub score: f64,
    /// Rank among all scored CVEs, 0.0 ..= 1.0.
    pub percentile: f64,
    /// The day the scores were computed (from the file's `score_date` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<Date>,
}

/// A piece of software Picket found (by banner, package inventory or a scanner report).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Application {
    /// Product name as NVD spells it where known (`openssh`, `nginx`, `http_server`).
    pub product: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// The upstream version as seen (`9.2p1`, `1.22.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpe: Option<Cpe>,
    /// OSV ecosystem name (`Debian:12`, `Alpine:v3.20`, `npm`, `crates.io`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem: Option<String>,
    /// The installed distro or language package, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<Package>,
}

impl Application {
    /// An application known by product name only.
    pub fn new(product: impl Into<String>) -> Self {
        Self {
            product: product.into(),
            vendor: None,
            version: None,
            cpe: None,
            ecosystem: None,
            package: None,
        }
    }

    pub fn with_vendor(mut self, vendor: impl Into<String>) -> Self {
        self.vendor = Some(vendor.into());
        self
    }

    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    pub fn with_cpe(mut self, cpe: Cpe) -> Self {
        self.cpe = Some(cpe);
        self
    }

    pub fn with_package(mut self, ecosystem: impl Into<String>, package: Package) -> Self {
        self.ecosystem = Some(ecosystem.into());
        self.package = Some(package);
        self
    }
}

impl fmt::Display for Application {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(vendor) = &self.vendor {
            write!(f, "{vendor}:")?;
        }
        f.write_str(&self.product)?;
        if let Some(version) = &self.version {
            write!(f, " {version}")?;
        }
        if let Some(package) = &self.package {
            write!(f, " (package {package})")?;
        }
        Ok(())
    }
}

/// An installed package: name and the package manager's full version string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Package {
    pub name: String,
    /// As the package manager reports it, e.g. `1:9.2p1-2+deb12u3`.
    pub version: String,
}

impl Package {
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
        }
    }

    /// Parses `"NAME VERSION"` (one space between), e.g. `openssh-server 1:9.2p1-2+deb12u3`.
    pub fn parse(s: &str) -> Result<Self, VulnModelError> {
        let mut parts = s.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(name), Some(version), None) => Ok(Self::new(name, version)),
            _ => Err(VulnModelError::BadPackage {
                input: s.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

impl TryFrom<String> for Package {
    type Error = VulnModelError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Package::parse(&s)
    }
}

impl From<Package> for String {
    fn from(p: Package) -> String {
        p.to_string()
    }
}

/// How sure a match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// Only the product is known (no version): the product has this vulnerability in some versions.
    ProductOnly,
    /// The version falls inside a published affected range.
    VersionRange,
    /// The exact version (or package version) is listed as affected.
    Exact,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Exact => "exact",
            Confidence::VersionRange => "version-range",
            Confidence::ProductOnly => "product-only",
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One application found vulnerable to one vulnerability, with the risk signals joined in so
/// that alerting can rank it without another lookup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VulnMatch {
    pub vuln_id: String,
    pub application: Application,
    pub confidence: Confidence,
    /// Human-readable reason: which criterion or range matched.
    pub why: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<Cvss>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kev: Option<KevEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epss: Option<Epss>,
}

/// Why a CPE name or package string was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum VulnModelError {
    #[error("bad CPE {input:?}: {why}")]
    BadCpe { input: String, why: String },
    #[error("bad package {input:?}: expected \"NAME VERSION\"")]
    BadPackage { input: String },
}

/// A CPE 2.3 name (formatted string binding), e.g.
/// `cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cpe {
    pub part: CpePart,
    pub vendor: CpeValue,
    pub product: CpeValue,
    pub version: CpeValue,
    pub update: CpeValue,
    pub edition: CpeValue,
    pub language: CpeValue,
    pub sw_edition: CpeValue,
    pub target_sw: CpeValue,
    pub target_hw: CpeValue,
    pub other: CpeValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CpePart {
    Application,
    OperatingSystem,
    Hardware,
    /// `*` in the part position: any of the above.
    Any,
}

impl CpePart {
    fn as_str(self) -> &'static str {
        match self {
            CpePart::Application => "a",
            CpePart::OperatingSystem => "o",
            CpePart::Hardware => "h",
            CpePart::Any => "*",
        }
    }
}

/// One attribute of a CPE name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CpeValue {
    /// `*`: any value.
    Any,
    /// `-`: not applicable (the attribute has no value, e.g. a release without an update).
    Na,
    /// A literal (unescaped, lowercased: CPE matching is case-insensitive).
    Value(String),
    /// A value with unquoted `*` (any run) or `?` (one character) wildcards.
    Pattern(Vec<PatternToken>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatternToken {
    Char(char),
    AnyOne,
    AnyRun,
}

impl CpeValue {
    /// A literal value, lowercased.
    pub fn value(s: &str) -> Self {
        CpeValue::Value(s.to_lowercase())
    }

    /// The literal text, if this is a plain value.
    pub fn as_value(&self) -> Option<&str> {
        match self {
            CpeValue::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Does this attribute (as a criterion) accept the other (as the observed value)?
    ///
    /// An observed `*` means "unknown", which a criterion cannot rule out, so it is accepted.
    pub fn accepts(&self, observed: &CpeValue) -> bool {
        match (self, observed) {
            (CpeValue::Any, _) | (_, CpeValue::Any) => true,
            (CpeValue::Na, CpeValue::Na) => true,
            (CpeValue::Na, _) | (_, CpeValue::Na) => false,
            (CpeValue::Value(a), CpeValue::Value(b)) => a == b,
            (CpeValue::Pattern(p), CpeValue::Value(v)) => glob(p, &v.chars().collect::<Vec<_>>()),
            (CpeValue::Value(v), CpeValue::Pattern(p)) => glob(p, &v.chars().collect::<Vec<_>>()),
            (CpeValue::Pattern(a), CpeValue::Pattern(b)) => a == b,
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "*" => return Ok(CpeValue::Any),
            "-" => return Ok(CpeValue::Na),
            "" => return Err("empty attribute".to_owned()),
            _ => {}
        }
        let mut tokens = Vec::new();
        let mut wild = false;
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e) => tokens.push(PatternToken::Char(e)),
                    None => return Err("trailing backslash".to_owned()),
                },
                '*' => {
                    wild = true;
                    tokens.push(PatternToken::AnyRun);
                }
                '?' => {
                    wild = true;
                    tokens.push(PatternToken::AnyOne);
                }
                c if c.is_whitespace() || c.is_control() => {
                    return Err(format!("unescaped {c:?}"));
                }
                c => tokens.push(PatternToken::Char(c)),
            }
        }
        let lower = |t: PatternToken| match t {
            PatternToken::Char(c) => c.to_lowercase().map(PatternToken::Char).collect(),
            other => vec![other],
        };
        let tokens: Vec<PatternToken> = tokens.into_iter().flat_map(lower).collect();
        if wild {
            Ok(CpeValue::Pattern(tokens))
        } else {
            let text = tokens
                .into_iter()
                .filter_map(|t| match t {
                    PatternToken::Char(c) => Some(c),
                    _ => None,
                })
                .collect();
            Ok(CpeValue::Value(text))
        }
    }
}

/// Characters that the formatted string binding escapes inside a value.
fn needs_escape(c: char) -> bool {
    !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-') || c == '\\'
}

impl fmt::Display for CpeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let write_char = |f: &mut fmt::Formatter<'_>, c: char| {
            if needs_escape(c) {
                write!(f, "\\{c}")
            } else {
                write!(f, "{c}")
            }
        };
        match self {
            CpeValue::Any => f.write_str("*"),
            CpeValue::Na => f.write_str("-"),
            // A literal `-` alone would read back as NA: escape it.
            CpeValue::Value(v) if v == "-" => f.write_str("\\-"),
            CpeValue::Value(v) => v.chars().try_for_each(|c| write_char(f, c)),
            CpeValue::Pattern(tokens) => tokens.iter().try_for_each(|t| match t {
                PatternToken::Char(c) => write_char(f, *c),
                PatternToken::AnyOne => f.write_str("?"),
                PatternToken::AnyRun => f.write_str("*"),
            }),
        }
    }
}

/// Wildcard match by dynamic programming: O(pattern x text), no backtracking blow-up.
fn glob(pattern: &[PatternToken], text: &[char]) -> bool {
    let mut row = vec![false; text.len() + 1];
    row[0] = true;
    for token in pattern {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            next[j] = match token {
                PatternToken::AnyRun => row[j] || (j > 0 && next[j - 1]),
                PatternToken::AnyOne => j > 0 && row[j - 1],
                PatternToken::Char(c) => j > 0 && row[j - 1] && text[j - 1] == *c,
            };
        }
        row = next;
    }
    row[text.len()]
}

impl Cpe {
    /// Parses the CPE 2.3 formatted string binding: `cpe:2.3:` then 11 attributes separated by
    /// unescaped `:`. A shorter name is padded with `*`, as NVD's tools do.
    pub fn parse(input: &str) -> Result<Self, VulnModelError> {
        let bad = |why: String| VulnModelError::BadCpe {
            input: input.to_owned(),
            why,
        };
        let rest = input
            .strip_prefix("cpe:2.3:")
            .ok_or_else(|| bad("does not start with cpe:2.3:".to_owned()))?;
        let mut fields: Vec<String> = Vec::with_capacity(11);
        let mut current = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    current.push('\\');
                    match chars.next() {
                        Some(e) => current.push(e),
                        None => return Err(bad("trailing backslash".to_owned())),
                    }
                }
                ':' => fields.push(std::mem::take(&mut current)),
                c => current.push(c),
            }
        }
        fields.push(current);
        if fields.len() > 11 {
            return Err(bad(format!("{} attributes, at most 11", fields.len())));
        }
        fields.resize(11, "*".to_owned());
        let mut values = Vec::with_capacity(10);
        for (name, raw) in ATTRIBUTE_NAMES.iter().zip(&fields[1..]) {
            values.push(CpeValue::parse(raw).map_err(|why| bad(format!("{name}: {why}")))?);
        }
        let part = match fields[0].as_str() {
            "a" => CpePart::Application,
            "o" => CpePart::OperatingSystem,
            "h" => CpePart::Hardware,
            "*" => CpePart::Any,
            other => return Err(bad(format!("part {other:?} is not a, o, h or *"))),
        };
        let mut it = values.into_iter();
        let mut next = || it.next().unwrap_or(CpeValue::Any);
        Ok(Cpe {
            part,
            vendor: next(),
            product: next(),
            version: next(),
            update: next(),
            edition: next(),
            language: next(),
            sw_edition: next(),
            target_sw: next(),
            target_hw: next(),
            other: next(),
        })
    }

    /// An application CPE with every attribute after the version left as `*`.
    pub fn application(vendor: &str, product: &str, version: Option<&str>) -> Self {
        Cpe {
            part: CpePart::Application,
            vendor: CpeValue::value(vendor),
            product: CpeValue::value(product),
            version: version.map_or(CpeValue::Any, CpeValue::value),
            update: CpeValue::Any,
            edition: CpeValue::Any,
            language: CpeValue::Any,
            sw_edition: CpeValue::Any,
            target_sw: CpeValue::Any,
            target_hw: CpeValue::Any,
            other: CpeValue::Any,
        }
    }

    /// The attributes after `part`, in binding order.
    pub fn attributes(&self) -> [(&'static str, &CpeValue); 10] {
        [
            ("vendor", &self.vendor),
            ("product", &self.product),
            ("version", &self.version),
            ("update", &self.update),
            ("edition", &self.edition),
            ("language", &self.language),
            ("sw_edition", &self.sw_edition),
            ("target_sw", &self.target_sw),
            ("target_hw", &self.target_hw),
            ("other", &self.other),
        ]
    }
}

const ATTRIBUTE_NAMES: [&str; 10] = [
    "vendor",
    "product",
    "version",
    "update",
    "edition",
    "language",
    "sw_edition",
    "target_sw",
    "target_hw",
    "other",
];

impl fmt::Display for Cpe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cpe:2.3:{}", self.part.as_str())?;
        for (_, value) in self.attributes() {
            write!(f, ":{value}")?;
        }
        Ok(())
    }
}

impl FromStr for Cpe {
    type Err = VulnModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cpe::parse(s)
    }
}

impl TryFrom<String> for Cpe {
    type Error = VulnModelError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Cpe::parse(&s)
    }
}

impl From<Cpe> for String {
    fn from(c: Cpe) -> String {
        c.to_string()
    }
}

/// One application of the inventory, at a host port, as one source says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryEntry {
    pub host: std::net::IpAddr,
    pub port: u16,
    pub application: Application,
    /// Who said so: `manual`, `scan`, `report:FILE` ...
    pub source: String,
    pub updated_at: Timestamp,
}

/// The scanner whose report was imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReportFormat {
    Trivy,
    Grype,
    CycloneDx,
}

impl ReportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Trivy => "trivy",
            ReportFormat::Grype => "grype",
            ReportFormat::CycloneDx => "cyclonedx",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_nvd_criteria() {
        let cpe = Cpe::parse("cpe:2.3:a:openbsd:openssh:8.5:p1:*:*:*:*:*:*").unwrap();
        assert_eq!(cpe.part, CpePart::Application);
        assert_eq!(cpe.vendor, CpeValue::value("openbsd"));
        assert_eq!(cpe.version, CpeValue::value("8.5"));
        assert_eq!(cpe.update, CpeValue::value("p1"));
        assert_eq!(cpe.edition, CpeValue::Any);
        let na = Cpe::parse("cpe:2.3:a:openbsd:openssh:9.8:-:*:*:*:*:*:*").unwrap();
        assert_eq!(na.update, CpeValue::Na);
    }

    #[test]
    fn escapes_round_trip() {
        // From NVD: a version with escaped parentheses.
        let s = "cpe:2.3:o:ricon:s9922l_firmware:16.10.3\\(3794\\):*:*:*:*:*:*:*";
        let cpe = Cpe::parse(s).unwrap();
        assert_eq!(cpe.version, CpeValue::value("16.10.3(3794)"));
        assert_eq!(cpe.to_string(), s);
        let colon = Cpe::parse("cpe:2.3:a:x:y\\:z:1\\-:*:*:*:*:*:*:*").unwrap();
        assert_eq!(colon.product, CpeValue::value("y:z"));
        assert_eq!(colon.version, CpeValue::value("1-"));
        assert_eq!(Cpe::parse(&colon.to_string()).unwrap(), colon);
        let dash = Cpe::parse("cpe:2.3:a:x:y:\\-").unwrap();
        assert_eq!(dash.version, CpeValue::value("-"));
        assert_eq!(Cpe::parse(&dash.to_string()).unwrap(), dash);
    }

    #[test]
    fn wildcards_and_case() {
        let pattern = Cpe::parse("cpe:2.3:a:Apache:http_server:2.4.*").unwrap();
        assert_eq!(pattern.vendor, CpeValue::value("apache"));
        assert!(pattern.version.accepts(&CpeValue::value("2.4.49")));
        assert!(!pattern.version.accepts(&CpeValue::value("2.2.1")));
        let one = CpeValue::parse("1.?").unwrap();
        assert!(one.accepts(&CpeValue::value("1.x")));
        assert!(!one.accepts(&CpeValue::value("1.xx")));
        let escaped = CpeValue::parse("a\\*").unwrap();
        assert_eq!(escaped, CpeValue::value("a*"));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "cpe:/a:openbsd:openssh:9.2",
            "cpe:2.3:x:a:b",
            "cpe:2.3:a:b:c:d:e:f:g:h:i:j:k:l",
            "cpe:2.3:a:b:c\\",
            "cpe:2.3:a::c",
            "cpe:2.3:a:b c:d",
        ] {
            assert!(Cpe::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn na_and_any_semantics() {
        assert!(CpeValue::Any.accepts(&CpeValue::Na));
        assert!(CpeValue::Na.accepts(&CpeValue::Any));
        assert!(!CpeValue::Na.accepts(&CpeValue::value("p1")));
        assert!(!CpeValue::value("p1").accepts(&CpeValue::Na));
    }

    #[test]
    fn package_parse_and_serde() {
        let p = Package::parse("openssh-server 1:9.2p1-2+deb12u3").unwrap();
        assert_eq!(p.name, "openssh-server");
        assert_eq!(p.version, "1:9.2p1-2+deb12u3");
        assert!(Package::parse("openssh-server").is_err());
        let app = Application::new("openssh")
            .with_vendor("openbsd")
            .with_version("9.2p1")
            .with_package("Debian:12", p);
        let json = serde_json::to_string(&app).unwrap();
        assert!(json.contains("\"openssh-server 1:9.2p1-2+deb12u3\""));
        assert_eq!(serde_json::from_str::<Application>(&json).unwrap(), app);
    }

    #[test]
    fn severity_bands() {
        assert_eq!(CvssSeverity::from_score(9.8), CvssSeverity::Critical);
        assert_eq!(CvssSeverity::from_score(8.1), CvssSeverity::High);
        assert_eq!(CvssSeverity::from_score(4.0), CvssSeverity::Medium);
        assert_eq!(CvssSeverity::from_score(0.1), CvssSeverity::Low);
        assert_eq!(CvssSeverity::from_score(0.0), CvssSeverity::None);
        assert_eq!(CvssSeverity::parse("HIGH"), Some(CvssSeverity::High));
    }

    proptest! {
        #[test]
        fn cpe_parse_never_panics(s in "\\PC{0,80}") {
            let _ = Cpe::parse(&s);
        }

        #[test]
        fn cpe_display_round_trips(
            fields in proptest::collection::vec("[a-z0-9_.:\\\\()*?-]{1,8}", 10)
        ) {
            let escaped: Vec<String> = fields.iter().map(|f| {
                f.chars().map(|c| if c == ':' || c == '\\' || c == '(' { format!("\\{c}") } else { c.to_string() }).collect()
            }).collect();
            let input = format!("cpe:2.3:a:{}", escaped.join(":"));
            if let Ok(cpe) = Cpe::parse(&input) {
                prop_assert_eq!(Cpe::parse(&cpe.to_string()).unwrap(), cpe);
            }
        }
    }
}
