//! Errors as the binary prints them on stderr. Listings and reports have their renderers in
//! picket-report.

pub use picket_report::shown;

/// An error and its causes as one line for stderr: each cause said once (a cause whose text an
/// earlier part already contains is left out), terminal-safe, and elided when long (a bad line
/// quoted in full can be megabytes).
pub fn message(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(text.as_str())) {
            parts.push(text);
        }
    }
    shown(&parts.join(": "))
}
