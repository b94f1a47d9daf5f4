//! OSV schema records (osv.dev, GHSA, distro advisories): affected packages with version ranges
//! (`SEMVER`, `ECOSYSTEM`, `GIT`) and explicit affected version lists.

use std::cmp::Ordering;
use std::io::Read;

use picket_model::{Confidence, Vulnerability};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::VulnError;
use crate::json::{Import, from_value, stream_array};
use crate::nvd::parse_time;
use crate::version::{VersionScheme, compare_versions};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OsvRecord {
    pub vulnerability: Vulnerability,
    pub affected: Vec<OsvAffected>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsvAffected {
    /// `Debian:12`, `npm`, `crates.io`, ...
    pub ecosystem: String,
    pub name: String,
    pub purl: Option<String>,
    pub ranges: Vec<OsvRange>,
    /// Versions listed as affected (exact strings).
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsvRange {
    pub kind: OsvRangeKind,
    pub events: Vec<OsvEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OsvRangeKind {
    Semver,
    Ecosystem,
    /// Commit hashes: cannot be compared with a version; the `versions` list stands in.
    Git,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OsvEvent {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

#[derive(Deserialize)]
struct RawOsv {
    id: String,
    #[serde(default)]
    aliases: Vec<String>,
    summary: Option<String>,
    details: Option<String>,
    modified: Option<String>,
    published: Option<String>,
    #[serde(default)]
    references: Vec<RawRef>,
    #[serde(default)]
    affected: Vec<RawAffected>,
}

#[derive(Deserialize)]
struct RawRef {
    url: String,
}

#[derive(Deserialize)]
struct RawAffected {
    package: Option<RawPackage>,
    #[serde(default)]
    ranges: Vec<RawRange>,
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Deserialize)]
struct RawPackage {
    ecosystem: String,
    name: String,
    purl: Option<String>,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type")]
    kind: String,
    events: Vec<std::collections::BTreeMap<String, String>>,
}

/// Reads one OSV record, or an OSV API response (`{"vulns": [...]}`).
pub fn read_osv<R: Read>(reader: R, file: &str) -> Result<Import<OsvRecord>, VulnError> {
    let mut import = Import::default();
    let mut saw_list = false;
    let rest = stream_array(reader, file, "vulns", &mut |i, value| {
        saw_list = true;
        import.push(convert(file, &format!("vulns[{i}]"), value));
    })?;
    if !saw_list && rest.contains_key("id") {
        import.push(convert(file, "", Value::Object(rest)));
    }
    Ok(import)
}

fn at(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

fn convert(file: &str, path: &str, value: Value) -> Result<OsvRecord, VulnError> {
    let raw: RawOsv = from_value(file, path, value)?;
    let summary = raw.summary.or(raw.details).unwrap_or_default();
    let mut vulnerability = Vulnerability::new(raw.id, summary);
    vulnerability.aliases = raw.aliases;
    vulnerability.references = raw.references.into_iter().map(|r| r.url).collect();
    vulnerability.published = raw
        .published
        .as_deref()
        .map(|t| parse_time(file, &at(path, "published"), t))
        .transpose()?;
    vulnerability.modified = raw
        .modified
        .as_deref()
        .map(|t| parse_time(file, &at(path, "modified"), t))
        .transpose()?;
    let mut affected = Vec::new();
    for (ai, a) in raw.affected.into_iter().enumerate() {
        let apath = at(path, &format!("affected[{ai}]"));
        // Entries without a package name a product by CPE or commit only: nothing to index.
        let Some(package) = a.package else { continue };
        let mut ranges = Vec::new();
        for (ri, r) in a.ranges.into_iter().enumerate() {
            let rpath = format!("{apath}.ranges[{ri}]");
            let kind = match r.kind.as_str() {
                "SEMVER" => OsvRangeKind::Semver,
                "ECOSYSTEM" => OsvRangeKind::Ecosystem,
                "GIT" => OsvRangeKind::Git,
                other => {
                    return Err(VulnError::field(
                        file,
                        format!("{rpath}.type"),
                        format!("unknown range type {other:?}"),
                    ));
                }
            };
            let mut events = Vec::new();
            for (ei, e) in r.events.into_iter().enumerate() {
                let epath = format!("{rpath}.events[{ei}]");
                let mut it = e.into_iter();
                let (Some((k, v)), None) = (it.next(), it.next()) else {
                    return Err(VulnError::field(
                        file,
                        epath,
                        "an event has exactly one key",
                    ));
                };
                events.push(match k.as_str() {
                    "introduced" => OsvEvent::Introduced(v),
                    "fixed" => OsvEvent::Fixed(v),
                    "last_affected" => OsvEvent::LastAffected(v),
                    "limit" => OsvEvent::Limit(v),
                    other => {
                        return Err(VulnError::field(
                            file,
                            format!("{epath}.{other}"),
                            "unknown event",
                        ));
                    }
                });
            }
            ranges.push(OsvRange { kind, events });
        }
        affected.push(OsvAffected {
            ecosystem: package.ecosystem,
            name: package.name,
            purl: package.purl,
            ranges,
            versions: a.versions,
        });
    }
    Ok(OsvRecord {
        vulnerability,
        affected,
    })
}

impl OsvAffected {
    /// Is `version` of this package affected? `Ok(None)` when not; an error when a version in
    /// the range cannot be compared under the ecosystem's scheme.
    pub fn affects(&self, version: &str) -> Result<Option<(Confidence, String)>, VulnError> {
        if self.versions.iter().any(|v| v == version) {
            return Ok(Some((
                Confidence::Exact,
                format!(
                    "{} {version} is listed as affected ({})",
                    self.name, self.ecosystem
                ),
            )));
        }
        for range in &self.ranges {
            let scheme = match range.kind {
                OsvRangeKind::Git => continue,
                OsvRangeKind::Semver => VersionScheme::Semver,
                OsvRangeKind::Ecosystem => VersionScheme::for_ecosystem(&self.ecosystem),
            };
            if let Some(why) = range.affects(scheme, version)? {
                return Ok(Some((
                    Confidence::VersionRange,
                    format!(
                        "{} {version} {why} ({}, {scheme})",
                        self.name, self.ecosystem
                    ),
                )));
            }
        }
        Ok(None)
    }
}

impl OsvRange {
    /// OSV's evaluation: sort the events, the last one at or below the version decides (a
    /// `last_affected` counts only once the version is past it). `introduced: 0` is the start.
    fn affects(&self, scheme: VersionScheme, version: &str) -> Result<Option<String>, VulnError> {
        let mut decisive: Option<(&OsvEvent, &str)> = None;
        for event in &self.events {
            let (v, applies) = match event {
                OsvEvent::Introduced(v) if v == "0" => (v.as_str(), true),
                OsvEvent::Introduced(v) | OsvEvent::Fixed(v) => (
                    v.as_str(),
                    compare_versions(scheme, version, v)? != Ordering::Less,
                ),
                OsvEvent::LastAffected(v) => (
                    v.as_str(),
                    compare_versions(scheme, version, v)? == Ordering::Greater,
                ),
                OsvEvent::Limit(_) => continue,
            };
            if !applies {
                continue;
            }
            let later = match decisive {
                None => true,
                Some((prev, pv)) => {
                    let o = if v == "0" {
                        Ordering::Less
                    } else if pv == "0" {
                        Ordering::Greater
                    } else {
                        compare_versions(scheme, v, pv)?
                    };
                    // At the same version a fix wins over an introduction.
                    o == Ordering::Greater
                        || (o == Ordering::Equal && matches!(prev, OsvEvent::Introduced(_)))
                }
            };
            if later {
                decisive = Some((event, v));
            }
        }
        Ok(match decisive {
            Some((OsvEvent::Introduced(v), _)) => {
                let end = self.events.iter().find_map(|e| match e {
                    OsvEvent::Fixed(f) => Some(format!(", fixed in {f}")),
                    OsvEvent::LastAffected(l) => Some(format!(", last affected {l}")),
                    _ => None,
                });
                Some(format!(
                    "is at or after introduced {v}{}",
                    end.unwrap_or_default()
                ))
            }
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(kind: OsvRangeKind, events: Vec<OsvEvent>) -> OsvAffected {
        OsvAffected {
            ecosystem: "Debian:12".to_owned(),
            name: "openssh".to_owned(),
            purl: None,
            ranges: vec![OsvRange { kind, events }],
            versions: vec![],
        }
    }

    #[test]
    fn ecosystem_ranges() {
        use OsvEvent::*;
        let a = range(
            OsvRangeKind::Ecosystem,
            vec![Introduced("0".into()), Fixed("1:9.2p1-2+deb12u3".into())],
        );
        assert!(a.affects("1:9.2p1-2+deb12u2").unwrap().is_some());
        assert!(a.affects("1:9.2p1-2+deb12u3").unwrap().is_none());
        assert!(a.affects("1:9.6p1-1").unwrap().is_none());
        let b = range(
            OsvRangeKind::Semver,
            vec![
                Introduced("1.0.0".into()),
                LastAffected("1.2.0".into()),
                Introduced("2.0.0".into()),
                Fixed("2.1.0".into()),
            ],
        );
        assert!(b.affects("0.9.0").unwrap().is_none());
        assert!(b.affects("1.2.0").unwrap().is_some());
        assert!(b.affects("1.2.1").unwrap().is_none());
        assert!(b.affects("2.0.5").unwrap().is_some());
        assert!(b.affects("2.1.0").unwrap().is_none());
        assert!(b.affects("not-semver").is_err());
        let same = range(
            OsvRangeKind::Semver,
            vec![Introduced("1.0.0".into()), Fixed("1.0.0".into())],
        );
        assert!(same.affects("1.0.0").unwrap().is_none());
    }

    #[test]
    fn git_ranges_use_the_version_list() {
        let mut a = range(
            OsvRangeKind::Git,
            vec![OsvEvent::Introduced("abc123".into())],
        );
        assert!(a.affects("1.0").unwrap().is_none());
        a.versions.push("1.0".into());
        assert_eq!(a.affects("1.0").unwrap().unwrap().0, Confidence::Exact);
    }

    #[test]
    fn bad_events_name_the_path() {
        let doc = br#"{"id":"GHSA-x","affected":[{"package":{"ecosystem":"npm","name":"x"},
            "ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1.0.0"}]}]}]}"#;
        let import = read_osv(&doc[..], "osv.json").unwrap();
        assert_eq!(
            import.skipped[0].to_string(),
            "osv.json: at affected[0].ranges[0].events[0]: an event has exactly one key"
        );
    }
}
