//! Which vulnerability document a file holds, from its first bytes and (for JSON) its top-level
//! keys, as picket-intel and picket-ingest recognise their formats beside their parsers. It must
//! never guess past the evidence: a document it cannot place is an error naming the keys seen.

use serde_json::Value;

use crate::error::VulnError;

/// The kinds of documents `picket vuln import` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// NVD CVE JSON 2.0 (a record, or a feed of `{"cve": ...}`).
    Nvd,
    /// OSV records.
    Osv,
    /// The CISA KEV catalog.
    Kev,
    /// EPSS scores (CSV).
    Epss,
    /// A Trivy, Grype or CycloneDX report.
    Report,
}

/// Recognises the document in `bytes` (read from `file`, named in errors).
pub fn sniff(file: &str, bytes: &[u8]) -> Result<Document, VulnError> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(256)]);
    let first = head.trim_start();
    if first.starts_with("#model_version") || first.starts_with("cve,epss") {
        return Ok(Document::Epss);
    }
    let unrecognised = |message: String| VulnError::Unrecognised {
        file: file.to_owned(),
        message,
    };
    if !first.starts_with('{') {
        return Err(unrecognised("not JSON and not an EPSS CSV".to_owned()));
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| unrecognised(format!("not valid JSON: {e}")))?;
    let has = |k: &str| value.get(k).is_some();
    Ok(
        if has("catalogVersion") || has("dateReleased") && has("vulnerabilities") {
            Document::Kev
        } else if has("bomFormat") || has("matches") || has("SchemaVersion") || has("Results") {
            Document::Report
        } else if has("cve")
            || has("vulnerabilities")
            || has("configurations")
            || has("sourceIdentifier")
        {
            // Records may carry `affected` too: NVD's keys decide first.
            Document::Nvd
        } else if has("affected") || (has("id") && has("modified")) {
            Document::Osv
        } else {
            return Err(unrecognised(format!(
                "not an NVD, OSV, KEV or scanner-report document (top-level keys: {})",
                value
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            )));
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_told_apart_by_their_keys() {
        for (text, kind) in [
            (
                "#model_version:v2023.03.01\ncve,epss,percentile\n",
                Document::Epss,
            ),
            (
                r#"{"catalogVersion":"1","vulnerabilities":[]}"#,
                Document::Kev,
            ),
            (r#"{"bomFormat":"CycloneDX"}"#, Document::Report),
            (r#"{"SchemaVersion":2,"Results":[]}"#, Document::Report),
            (r#"{"vulnerabilities":[]}"#, Document::Nvd),
            (
                r#"{"id":"GHSA-1","modified":"2024-01-01T00:00:00Z"}"#,
                Document::Osv,
            ),
        ] {
            assert_eq!(sniff("f", text.as_bytes()).unwrap(), kind, "{text}");
        }
    }

    #[test]
    fn an_unknown_document_names_its_keys() {
        let err = sniff("f.json", br#"{"hello":1}"#).unwrap_err().to_string();
        assert!(
            err.starts_with("f.json: ") && err.contains("hello"),
            "{err}"
        );
        assert!(sniff("f.json", b"PK\x03\x04").is_err());
        assert!(
            sniff("f.json", b"{ nope")
                .unwrap_err()
                .to_string()
                .contains("not valid JSON")
        );
    }
}
