//! CISA Known Exploited Vulnerabilities catalog (JSON feed).

use std::io::Read;

use jiff::civil::Date;
use picket_model::KevEntry;
use serde::{Deserialize, Serialize};

use crate::VulnError;
use crate::json::{from_value, stream_array};

/// The catalog as read: its version and the entries, plus entries skipped as malformed.
#[derive(Debug, Default)]
pub struct KevCatalog {
    pub catalog_version: Option<String>,
    /// How many entries the catalog says it holds (its `count`).
    pub count: Option<u64>,
    pub records: Vec<KevRecord>,
    pub skipped: Vec<VulnError>,
}

/// One catalog entry: the CVE, who makes the product, and the model's `KevEntry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KevRecord {
    pub cve_id: String,
    pub vendor: String,
    pub product: String,
    pub name: String,
    pub entry: KevEntry,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKev {
    #[serde(rename = "cveID")]
    cve_id: String,
    #[serde(default)]
    vendor_project: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    vulnerability_name: String,
    date_added: Date,
    due_date: Date,
    #[serde(default)]
    required_action: String,
    #[serde(default)]
    known_ransomware_campaign_use: String,
}

/// Reads `known_exploited_vulnerabilities.json`.
pub fn read_kev<R: Read>(reader: R, file: &str) -> Result<KevCatalog, VulnError> {
    let mut catalog = KevCatalog::default();
    let rest = stream_array(
        reader,
        file,
        "vulnerabilities",
        &mut |i, value| match from_value::<RawKev>(file, &format!("vulnerabilities[{i}]"), value) {
            Ok(raw) => catalog.records.push(KevRecord {
                cve_id: raw.cve_id,
                vendor: raw.vendor_project,
                product: raw.product,
                name: raw.vulnerability_name,
                entry: KevEntry {
                    date_added: raw.date_added,
                    due_date: raw.due_date,
                    ransomware: raw
                        .known_ransomware_campaign_use
                        .eq_ignore_ascii_case("known"),
                    action: raw.required_action,
                },
            }),
            Err(e) => catalog.skipped.push(e),
        },
    )?;
    catalog.catalog_version = rest
        .get("catalogVersion")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    catalog.count = rest.get("count").and_then(serde_json::Value::as_u64);
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_dates_name_the_entry() {
        let doc = br#"{"catalogVersion":"1","vulnerabilities":[
            {"cveID":"CVE-1","dateAdded":"2021-11-03","dueDate":"2021-11-17","knownRansomwareCampaignUse":"Known"},
            {"cveID":"CVE-2","dateAdded":"03/11/2021","dueDate":"2021-11-17"}]}"#;
        let catalog = read_kev(&doc[..], "kev.json").unwrap();
        assert_eq!(catalog.catalog_version.as_deref(), Some("1"));
        assert_eq!(catalog.count, None);
        assert!(catalog.records[0].entry.ransomware);
        assert_eq!(catalog.skipped.len(), 1);
        let err = catalog.skipped[0].to_string();
        assert!(
            err.starts_with("kev.json: at vulnerabilities[1].dateAdded:"),
            "{err}"
        );
    }
}
