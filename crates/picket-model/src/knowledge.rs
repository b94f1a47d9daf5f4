//! Vulnerability knowledge as it is stored: rows keyed the way a match looks them up, each
//! carrying one typed value as JSON. `picket-vuln` decides what the keys and bodies are and
//! (de)serialises them; the store keeps and finds them by key without knowing their types.
//!
//! This module must never interpret a body: it only names where a row is found.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a row's lookup key names, and so what its body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KnowledgeKind {
    /// A CPE product name -> a CVE whose criteria name it.
    Product,
    /// A CVE id -> its NVD configurations.
    Configurations,
    /// An (ecosystem, package name) pair -> an advisory's affected entry.
    Package,
    /// A (package name, version) pair -> a match a scanner reported.
    Reported,
    /// A vulnerability id -> one source's record of it.
    Vulnerability,
    /// A CVE id -> its CISA KEV entry.
    Kev,
    /// A CVE id -> its EPSS score.
    Epss,
}

impl KnowledgeKind {
    pub const ALL: [KnowledgeKind; 7] = [
        KnowledgeKind::Product,
        KnowledgeKind::Configurations,
        KnowledgeKind::Package,
        KnowledgeKind::Reported,
        KnowledgeKind::Vulnerability,
        KnowledgeKind::Kev,
        KnowledgeKind::Epss,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KnowledgeKind::Product => "product",
            KnowledgeKind::Configurations => "configurations",
            KnowledgeKind::Package => "package",
            KnowledgeKind::Reported => "reported",
            KnowledgeKind::Vulnerability => "vulnerability",
            KnowledgeKind::Kev => "kev",
            KnowledgeKind::Epss => "epss",
        }
    }
}

impl fmt::Display for KnowledgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KnowledgeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KnowledgeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown knowledge kind {s:?}"))
    }
}

/// Where a row is found: its kind and the key within it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KnowledgeKey {
    pub kind: KnowledgeKind,
    pub key: String,
}

impl KnowledgeKey {
    pub fn new(kind: KnowledgeKind, key: impl Into<String>) -> Self {
        Self {
            kind,
            key: key.into(),
        }
    }
}

/// One stored row: its lookup key and its value as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnowledgeRow {
    pub key: KnowledgeKey,
    pub body: String,
}

/// Everything one imported source contributes (one NVD or OSV record, a KEV catalogue, an EPSS
/// file, a scanner report), replaced as a whole when the same source is imported again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnowledgeSource {
    /// `nvd`, `osv`, `kev`, `epss` or `report`.
    pub kind: String,
    /// The source's name within its kind: a CVE id, `catalog`, `scores`, a report's file ...
    pub id: String,
    /// In the order they apply: of two rows with one key, the later one wins.
    pub rows: Vec<KnowledgeRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in KnowledgeKind::ALL {
            assert_eq!(kind.as_str().parse::<KnowledgeKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.as_str())
            );
        }
        assert!("cpe".parse::<KnowledgeKind>().is_err());
    }
}
