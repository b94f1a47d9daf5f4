//! Vulnerability knowledge in the shape it is queried: typed entries keyed the way
//! [`VulnDb::matches`] looks them up, so that a command loads only the entries of the
//! applications it matches instead of rebuilding the whole database.
//!
//! | entry | key | value |
//! |---|---|---|
//! | `product` | CPE product | a CVE id whose criteria name the product |
//! | `configurations` | CVE id | its NVD configurations |
//! | `package` | `["ecosystem base","name"]` | an advisory id and its affected entry |
//! | `reported` | `["package name","version"]` | a match a scanner reported |
//! | `vulnerability` | id | one source's record of it (merged on load, NVD first) |
//! | `kev`, `epss` | CVE id | its KEV entry, its EPSS score |
//!
//! [`Source`] turns one parsed import into its entries; [`application_keys`] names the keys an
//! application needs; [`load`] asks for them (then for the records, configurations, KEV and
//! EPSS of the ids they name) and builds a `VulnDb` that matches those applications exactly as
//! one built from every record would.
//!
//! This module must never do I/O: the caller's `fetch` reads the store. A stored row that does
//! not decode is an error naming its kind and key, never a panic.

use std::collections::BTreeSet;

use picket_model::{
    Application, Epss, KevEntry, KnowledgeKey, KnowledgeKind, KnowledgeRow, KnowledgeSource,
    VulnMatch, Vulnerability,
};
use serde::{Deserialize, Serialize};

use crate::db::{ecosystem_base, product_key};
use crate::epss::EpssFile;
use crate::kev::KevCatalog;
use crate::nvd::{Configuration, NvdCve};
use crate::osv::{OsvAffected, OsvRecord};
use crate::report::ScannerReport;
use crate::{VulnDb, VulnError};

/// The kinds of source an import stores, as the store names them.
pub const SOURCE_NVD: &str = "nvd";
pub const SOURCE_OSV: &str = "osv";
pub const SOURCE_KEV: &str = "kev";
pub const SOURCE_EPSS: &str = "epss";
pub const SOURCE_REPORT: &str = "report";

/// One typed piece of knowledge (see the module doc for its key).
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Product {
        product: String,
        id: String,
    },
    Configurations {
        id: String,
        configurations: Vec<Configuration>,
    },
    Package {
        /// The ecosystem's base name (`debian` for `Debian:12`).
        ecosystem: String,
        name: String,
        id: String,
        affected: OsvAffected,
    },
    Reported {
        name: String,
        version: String,
        m: Box<VulnMatch>,
    },
    Vulnerability(Vulnerability),
    Kev {
        cve: String,
        entry: KevEntry,
    },
    Epss {
        cve: String,
        score: Epss,
    },
}

/// The body of a `package` row.
#[derive(Serialize, Deserialize)]
struct PackageBody<'a> {
    id: std::borrow::Cow<'a, str>,
    affected: std::borrow::Cow<'a, OsvAffected>,
}

fn pair_key(a: &str, b: &str) -> String {
    serde_json::Value::from(vec![a, b]).to_string()
}

fn stored_error(kind: KnowledgeKind, key: &str, e: impl std::fmt::Display) -> VulnError {
    VulnError::Stored {
        kind,
        key: key.to_owned(),
        message: e.to_string(),
    }
}

impl Entry {
    /// Where the entry is found.
    pub fn key(&self) -> KnowledgeKey {
        match self {
            Entry::Product { product, .. } => KnowledgeKey::new(KnowledgeKind::Product, product),
            Entry::Configurations { id, .. } => {
                KnowledgeKey::new(KnowledgeKind::Configurations, id)
            }
            Entry::Package {
                ecosystem, name, ..
            } => KnowledgeKey::new(KnowledgeKind::Package, pair_key(ecosystem, name)),
            Entry::Reported { name, version, .. } => {
                KnowledgeKey::new(KnowledgeKind::Reported, pair_key(name, version))
            }
            Entry::Vulnerability(v) => KnowledgeKey::new(KnowledgeKind::Vulnerability, &v.id),
            Entry::Kev { cve, .. } => KnowledgeKey::new(KnowledgeKind::Kev, cve),
            Entry::Epss { cve, .. } => KnowledgeKey::new(KnowledgeKind::Epss, cve),
        }
    }

    /// The stored row: the key and the value as JSON.
    pub fn to_row(&self) -> Result<KnowledgeRow, VulnError> {
        let key = self.key();
        let body = match self {
            Entry::Product { id, .. } => serde_json::to_string(id),
            Entry::Configurations { configurations, .. } => serde_json::to_string(configurations),
            Entry::Package { id, affected, .. } => serde_json::to_string(&PackageBody {
                id: id.into(),
                affected: std::borrow::Cow::Borrowed(affected),
            }),
            Entry::Reported { m, .. } => serde_json::to_string(m),
            Entry::Vulnerability(v) => serde_json::to_string(v),
            Entry::Kev { entry, .. } => serde_json::to_string(entry),
            Entry::Epss { score, .. } => serde_json::to_string(score),
        }
        .map_err(|e| stored_error(key.kind, &key.key, e))?;
        Ok(KnowledgeRow { key, body })
    }

    /// A stored row read back.
    pub fn from_row(row: &KnowledgeRow) -> Result<Entry, VulnError> {
        let KnowledgeKey { kind, key } = &row.key;
        let err = |e: &dyn std::fmt::Display| stored_error(*kind, key, e);
        let pair = || -> Result<(String, String), VulnError> {
            serde_json::from_str::<(String, String)>(key).map_err(|e| err(&e))
        };
        let body = row.body.as_str();
        let entry = match kind {
            KnowledgeKind::Product => Entry::Product {
                product: key.clone(),
                id: serde_json::from_str(body).map_err(|e| err(&e))?,
            },
            KnowledgeKind::Configurations => Entry::Configurations {
                id: key.clone(),
                configurations: serde_json::from_str(body).map_err(|e| err(&e))?,
            },
            KnowledgeKind::Package => {
                let (ecosystem, name) = pair()?;
                let b: PackageBody = serde_json::from_str(body).map_err(|e| err(&e))?;
                Entry::Package {
                    ecosystem,
                    name,
                    id: b.id.into_owned(),
                    affected: b.affected.into_owned(),
                }
            }
            KnowledgeKind::Reported => {
                let (name, version) = pair()?;
                Entry::Reported {
                    name,
                    version,
                    m: serde_json::from_str(body).map_err(|e| err(&e))?,
                }
            }
            KnowledgeKind::Vulnerability => {
                Entry::Vulnerability(serde_json::from_str(body).map_err(|e| err(&e))?)
            }
            KnowledgeKind::Kev => Entry::Kev {
                cve: key.clone(),
                entry: serde_json::from_str(body).map_err(|e| err(&e))?,
            },
            KnowledgeKind::Epss => Entry::Epss {
                cve: key.clone(),
                score: serde_json::from_str(body).map_err(|e| err(&e))?,
            },
        };
        Ok(entry)
    }

    /// The vulnerability id an index entry points at (`None` for records and signals).
    fn points_at(&self) -> Option<&str> {
        match self {
            Entry::Product { id, .. } | Entry::Package { id, .. } => Some(id),
            Entry::Reported { m, .. } => Some(&m.vuln_id),
            _ => None,
        }
    }
}

/// Everything one import contributes, replaced as a whole when the same source comes again.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// One of the `SOURCE_*` names.
    pub kind: &'static str,
    pub id: String,
    /// In the order they apply.
    pub entries: Vec<Entry>,
}

impl Source {
    /// One NVD CVE: the products its criteria name, its configurations and its record.
    pub fn nvd(cve: NvdCve) -> Self {
        let id = cve.vulnerability.id.clone();
        let products = cve.products();
        let mut entries: Vec<Entry> = products
            .into_iter()
            .map(|product| Entry::Product {
                product,
                id: id.clone(),
            })
            .collect();
        entries.push(Entry::Configurations {
            id: id.clone(),
            configurations: cve.configurations,
        });
        entries.push(Entry::Vulnerability(cve.vulnerability));
        Source {
            kind: SOURCE_NVD,
            id,
            entries,
        }
    }

    /// One OSV record: its affected packages and its record.
    pub fn osv(record: OsvRecord) -> Self {
        let id = record.vulnerability.id.clone();
        let mut entries: Vec<Entry> = record
            .affected
            .into_iter()
            .map(|affected| Entry::Package {
                ecosystem: ecosystem_base(&affected.ecosystem),
                name: affected.name.clone(),
                id: id.clone(),
                affected,
            })
            .collect();
        entries.push(Entry::Vulnerability(record.vulnerability));
        Source {
            kind: SOURCE_OSV,
            id,
            entries,
        }
    }

    /// A scanner report stored as `id`: its records and the matches of named packages.
    pub fn report(id: impl Into<String>, report: ScannerReport) -> Self {
        let mut entries: Vec<Entry> = report
            .vulnerabilities
            .into_iter()
            .map(Entry::Vulnerability)
            .collect();
        for m in report.matches {
            if let Some(p) = &m.application.package {
                entries.push(Entry::Reported {
                    name: p.name.clone(),
                    version: p.version.clone(),
                    m: Box::new(m),
                });
            }
        }
        Source {
            kind: SOURCE_REPORT,
            id: id.into(),
            entries,
        }
    }

    /// The KEV catalogue: the newest replaces the one before it.
    pub fn kev(catalog: &KevCatalog) -> Self {
        Source {
            kind: SOURCE_KEV,
            id: "catalog".into(),
            entries: catalog
                .records
                .iter()
                .map(|r| Entry::Kev {
                    cve: r.cve_id.clone(),
                    entry: r.entry.clone(),
                })
                .collect(),
        }
    }

    /// An EPSS file: the newest replaces the one before it.
    pub fn epss(file: &EpssFile) -> Self {
        Source {
            kind: SOURCE_EPSS,
            id: "scores".into(),
            entries: file
                .scores
                .iter()
                .map(|(cve, score)| Entry::Epss {
                    cve: cve.clone(),
                    score: score.clone(),
                })
                .collect(),
        }
    }

    /// The source as the store keeps it.
    pub fn to_stored(&self) -> Result<KnowledgeSource, VulnError> {
        Ok(KnowledgeSource {
            kind: self.kind.to_owned(),
            id: self.id.clone(),
            rows: self
                .entries
                .iter()
                .map(Entry::to_row)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The index keys `VulnDb::matches` reads for this application: its CPE product, its package
/// in its ecosystem, and its package version as scanners report it.
pub fn application_keys(app: &Application) -> Vec<KnowledgeKey> {
    let mut keys = vec![KnowledgeKey::new(KnowledgeKind::Product, product_key(app))];
    if let Some(package) = &app.package {
        if let Some(ecosystem) = &app.ecosystem {
            keys.push(KnowledgeKey::new(
                KnowledgeKind::Package,
                pair_key(&ecosystem_base(ecosystem), &package.name),
            ));
        }
        keys.push(KnowledgeKey::new(
            KnowledgeKind::Reported,
            pair_key(&package.name, &package.version),
        ));
    }
    keys
}

/// A `VulnDb` holding exactly what matching `apps` needs: the index entries of their keys, then
/// the records and configurations of the ids those name, then the KEV and EPSS entries of those
/// ids and their aliases. `fetch` returns the stored rows of the keys it is given, rows of one
/// key in the order they apply (records of one id NVD first, as the store orders sources).
pub fn load<E: From<VulnError>>(
    apps: &[Application],
    mut fetch: impl FnMut(&[KnowledgeKey]) -> Result<Vec<KnowledgeRow>, E>,
) -> Result<VulnDb, E> {
    let mut db = VulnDb::new();
    let keys: BTreeSet<KnowledgeKey> = apps.iter().flat_map(application_keys).collect();
    if keys.is_empty() {
        return Ok(db);
    }
    let mut ids: BTreeSet<String> = BTreeSet::new();
    for row in fetch(&keys.into_iter().collect::<Vec<_>>())? {
        let entry = Entry::from_row(&row)?;
        ids.extend(entry.points_at().map(str::to_owned));
        db.add_entry(entry);
    }
    if ids.is_empty() {
        return Ok(db);
    }
    let keys: Vec<KnowledgeKey> = ids
        .iter()
        .flat_map(|id| {
            [KnowledgeKind::Vulnerability, KnowledgeKind::Configurations]
                .map(|kind| KnowledgeKey::new(kind, id))
        })
        .collect();
    for row in fetch(&keys)? {
        let entry = Entry::from_row(&row)?;
        if let Entry::Vulnerability(v) = &entry {
            ids.extend(v.aliases.iter().cloned());
        }
        db.add_entry(entry);
    }
    let keys: Vec<KnowledgeKey> = ids
        .iter()
        .flat_map(|id| [KnowledgeKind::Kev, KnowledgeKind::Epss].map(|k| KnowledgeKey::new(k, id)))
        .collect();
    for row in fetch(&keys)? {
        db.add_entry(Entry::from_row(&row)?);
    }
    Ok(db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_model::{Confidence, Package};

    #[test]
    fn every_entry_round_trips_through_its_row() {
        let affected = OsvAffected {
            ecosystem: "Debian:12".into(),
            name: "openssh".into(),
            purl: None,
            ranges: Vec::new(),
            versions: vec!["1:9.2p1-2".into()],
        };
        let app =
            Application::new("openssh").with_package("Debian:12", Package::new("openssh", "1"));
        let entries = [
            Entry::Product {
                product: "openssh".into(),
                id: "CVE-1".into(),
            },
            Entry::Configurations {
                id: "CVE-1".into(),
                configurations: Vec::new(),
            },
            Entry::Package {
                ecosystem: "debian".into(),
                name: "openssh".into(),
                id: "DSA-1".into(),
                affected,
            },
            Entry::Reported {
                name: "openssh".into(),
                version: "1".into(),
                m: Box::new(VulnMatch {
                    vuln_id: "CVE-1".into(),
                    application: app,
                    confidence: Confidence::Exact,
                    why: "reported".into(),
                    cvss: None,
                    kev: None,
                    epss: None,
                }),
            },
            Entry::Vulnerability(Vulnerability::new("CVE-1", "a flaw")),
            Entry::Epss {
                cve: "CVE-1".into(),
                score: Epss {
                    score: 0.5,
                    percentile: 0.9,
                    date: None,
                },
            },
        ];
        for entry in entries {
            let row = entry.to_row().unwrap();
            assert_eq!(Entry::from_row(&row).unwrap(), entry);
        }
    }

    #[test]
    fn a_row_that_does_not_decode_names_its_kind_and_key() {
        for kind in KnowledgeKind::ALL {
            let row = KnowledgeRow {
                key: KnowledgeKey::new(kind, "CVE-2024-6387"),
                body: "{not json".into(),
            };
            let err = Entry::from_row(&row).unwrap_err().to_string();
            assert!(
                err.contains(kind.as_str()) && err.contains("CVE-2024-6387"),
                "{err}"
            );
        }
    }

    #[test]
    fn an_application_without_a_package_needs_only_its_product() {
        let app = Application::new("OpenSSH").with_version("9.2p1");
        assert_eq!(
            application_keys(&app),
            [KnowledgeKey::new(KnowledgeKind::Product, "openssh")]
        );
        let app = app.with_package("Debian:12", Package::new("openssh", "1:9.2p1-2"));
        let kinds: Vec<KnowledgeKind> = application_keys(&app).iter().map(|k| k.kind).collect();
        assert_eq!(
            kinds,
            [
                KnowledgeKind::Product,
                KnowledgeKind::Package,
                KnowledgeKind::Reported
            ]
        );
    }
}
