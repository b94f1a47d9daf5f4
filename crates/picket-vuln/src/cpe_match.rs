//! Matching an application's CPE against NVD `cpeMatch` criteria with version ranges.

use std::cmp::Ordering;
use std::fmt;

use picket_model::{Application, Confidence, Cpe, CpePart, CpeValue};
use serde::{Deserialize, Serialize};

use crate::version::GenericVersion;

/// One end of an NVD version range (`versionStartIncluding`, `versionEndExcluding`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bound {
    pub version: String,
    pub inclusive: bool,
}

/// One `cpeMatch` entry: a CPE criterion, whether it names the vulnerable component (or only a
/// platform it must run on), and an optional version range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpeCriterion {
    pub vulnerable: bool,
    pub cpe: Cpe,
    pub start: Option<Bound>,
    pub end: Option<Bound>,
}

/// What one criterion says about one application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CriterionResult {
    /// The criterion is about another product (or another part: an OS, a device).
    OtherProduct,
    /// Same product; this version (or edition, update, target) is not covered.
    Miss,
    /// Covered, with how sure and why.
    Match { confidence: Confidence, why: String },
}

/// A version with its CPE update split out: OpenSSH appears in NVD both as `9.2p1` (version) and
/// as `9.2` + update `p1`, so both sides are brought to the second form before comparing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionUpdate {
    pub version: CpeValue,
    pub update: CpeValue,
}

impl VersionUpdate {
    pub fn split(version: &CpeValue, update: &CpeValue) -> Self {
        let portable = match (version, update) {
            (CpeValue::Value(v), CpeValue::Any) => split_portable(v),
            _ => None,
        };
        if let Some((base, patch)) = portable {
            return VersionUpdate {
                version: CpeValue::Value(base.to_owned()),
                update: CpeValue::Value(patch.to_owned()),
            };
        }
        VersionUpdate {
            version: version.clone(),
            update: update.clone(),
        }
    }
}

/// `9.2p1` -> (`9.2`, `p1`): a dotted number followed by `p` and digits (OpenSSH portable).
fn split_portable(v: &str) -> Option<(&str, &str)> {
    let at = v.rfind('p')?;
    let (base, patch) = (&v[..at], &v[at + 1..]);
    let base_ok = base.starts_with(|c: char| c.is_ascii_digit())
        && base.ends_with(|c: char| c.is_ascii_digit())
        && base.chars().all(|c| c.is_ascii_digit() || c == '.');
    let patch_ok = !patch.is_empty() && patch.chars().all(|c| c.is_ascii_digit());
    (base_ok && patch_ok).then(|| (base, &v[at..]))
}

/// The CPE an application is matched with: its own, or one built from vendor, product and
/// version (an unknown vendor stays `*`).
pub(crate) fn application_cpe(app: &Application) -> Cpe {
    if let Some(cpe) = &app.cpe {
        return cpe.clone();
    }
    let product = normalize_name(&app.product);
    let mut cpe = Cpe::application(
        app.vendor
            .as_deref()
            .map(normalize_name)
            .as_deref()
            .unwrap_or("*"),
        &product,
        app.version.as_deref(),
    );
    if app.vendor.is_none() {
        cpe.vendor = CpeValue::Any;
    }
    cpe
}

/// NVD names are lowercase with `_` for spaces (`http_server`).
pub(crate) fn normalize_name(s: &str) -> String {
    s.trim().to_lowercase().replace(' ', "_")
}

impl fmt::Display for CpeCriterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.cpe)?;
        if let Some(s) = &self.start {
            write!(f, " {} {}", if s.inclusive { ">=" } else { ">" }, s.version)?;
        }
        if let Some(e) = &self.end {
            write!(f, " {} {}", if e.inclusive { "<=" } else { "<" }, e.version)?;
        }
        Ok(())
    }
}

impl CpeCriterion {
    /// Evaluates this criterion against an application's CPE.
    pub fn evaluate(&self, app: &Cpe) -> CriterionResult {
        let c = &self.cpe;
        let part_ok = c.part == CpePart::Any || app.part == CpePart::Any || c.part == app.part;
        if !part_ok || !c.vendor.accepts(&app.vendor) || !c.product.accepts(&app.product) {
            return CriterionResult::OtherProduct;
        }
        let rest_ok = [
            (&c.edition, &app.edition),
            (&c.language, &app.language),
            (&c.sw_edition, &app.sw_edition),
            (&c.target_sw, &app.target_sw),
            (&c.target_hw, &app.target_hw),
            (&c.other, &app.other),
        ]
        .iter()
        .all(|(crit, seen)| crit.accepts(seen));
        if !rest_ok {
            return CriterionResult::Miss;
        }
        let crit = VersionUpdate::split(&c.version, &c.update);
        let seen = VersionUpdate::split(&app.version, &app.update);
        if !crit.update.accepts(&seen.update) {
            return CriterionResult::Miss;
        }
        let CpeValue::Value(version) = &seen.version else {
            return CriterionResult::Match {
                confidence: Confidence::ProductOnly,
                why: format!("version unknown; {self} covers some versions"),
            };
        };
        let shown = match &seen.update {
            CpeValue::Value(u) => format!("{version} update {u}"),
            _ => version.clone(),
        };
        let ranged = self.start.is_some() || self.end.is_some();
        match &crit.version {
            CpeValue::Value(listed) if !ranged => {
                if GenericVersion::new(listed) == GenericVersion::new(version) {
                    CriterionResult::Match {
                        confidence: Confidence::Exact,
                        why: format!("{self} lists {shown}"),
                    }
                } else {
                    CriterionResult::Miss
                }
            }
            CpeValue::Pattern(_) if !ranged => {
                if crit.version.accepts(&seen.version) {
                    CriterionResult::Match {
                        confidence: Confidence::VersionRange,
                        why: format!("{self} matches {shown}"),
                    }
                } else {
                    CriterionResult::Miss
                }
            }
            CpeValue::Any if !ranged => CriterionResult::Match {
                confidence: Confidence::VersionRange,
                why: format!("{self} covers all versions"),
            },
            // `-` is "not applicable" (NISTIR 7696): it names a product without versions, and
            // never matches a real version (CVE-2022-0543's `redis:redis:-` is Debian's packaging
            // of Redis, not every Redis).
            CpeValue::Na if !ranged => CriterionResult::Miss,
            _ => {
                let update = seen.update.as_value();
                let after_start = self.start.as_ref().is_none_or(|b| {
                    let o = cmp_bound(version, update, b);
                    o == Ordering::Greater || (b.inclusive && o == Ordering::Equal)
                });
                let before_end = self.end.as_ref().is_none_or(|b| {
                    let o = cmp_bound(version, update, b);
                    o == Ordering::Less || (b.inclusive && o == Ordering::Equal)
                });
                // A concrete version beside a range must also agree (rare, but NVD has it).
                let listed_ok = !matches!(&crit.version, CpeValue::Value(_) | CpeValue::Pattern(_))
                    || crit.version.accepts(&seen.version)
                    || matches!(&crit.version, CpeValue::Value(l)
                        if GenericVersion::new(l) == GenericVersion::new(version));
                if after_start && before_end && listed_ok {
                    CriterionResult::Match {
                        confidence: Confidence::VersionRange,
                        why: format!("{self} includes {shown}"),
                    }
                } else {
                    CriterionResult::Miss
                }
            }
        }
    }
}

/// Compares a version (and update) with a range bound. A bound written `8.5p1` compares the
/// update too; a bound written `9.8` bounds the version only, so `9.8p1` equals it (and
/// `versionEndExcluding: 9.8` excludes it).
fn cmp_bound(version: &str, update: Option<&str>, bound: &Bound) -> Ordering {
    let split = VersionUpdate::split(&CpeValue::Value(bound.version.clone()), &CpeValue::Any);
    let bound_version = split
        .version
        .as_value()
        .unwrap_or(&bound.version)
        .to_owned();
    GenericVersion::new(version)
        .cmp(&GenericVersion::new(&bound_version))
        .then_with(|| match (update, split.update.as_value()) {
            (Some(u), Some(b)) => GenericVersion::new(u).cmp(&GenericVersion::new(b)),
            _ => Ordering::Equal,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crit(cpe: &str, start: Option<(&str, bool)>, end: Option<(&str, bool)>) -> CpeCriterion {
        let b = |(v, inclusive): (&str, bool)| Bound {
            version: v.to_owned(),
            inclusive,
        };
        CpeCriterion {
            vulnerable: true,
            cpe: Cpe::parse(cpe).unwrap(),
            start: start.map(b),
            end: end.map(b),
        }
    }

    fn ssh(version: &str) -> Cpe {
        Cpe::application("openbsd", "openssh", Some(version))
    }

    fn confidence(r: CriterionResult) -> Option<Confidence> {
        match r {
            CriterionResult::Match { confidence, .. } => Some(confidence),
            _ => None,
        }
    }

    #[test]
    fn not_applicable_never_matches_a_real_version() {
        // CVE-2022-0543: `redis:redis:-` (Debian's packaging), not every Redis.
        let c = crit("cpe:2.3:a:redis:redis:-:*:*:*:*:*:*:*", None, None);
        let redis = Cpe::application("redis", "redis", Some("7.0.15"));
        assert_eq!(confidence(c.evaluate(&redis)), None);
        let any = crit("cpe:2.3:a:redis:redis:*:*:*:*:*:*:*:*", None, None);
        assert_eq!(
            confidence(any.evaluate(&redis)),
            Some(Confidence::VersionRange)
        );
    }

    #[test]
    fn portable_versions_split() {
        assert_eq!(split_portable("9.2p1"), Some(("9.2", "p1")));
        assert_eq!(split_portable("10.0p2"), Some(("10.0", "p2")));
        assert_eq!(split_portable("9.2"), None);
        assert_eq!(split_portable("p1"), None);
        assert_eq!(split_portable("1.0.2p"), None);
        assert_eq!(split_portable("openssh9.2p1"), None);
    }

    #[test]
    fn openssh_both_spellings() {
        let listed = crit("cpe:2.3:a:openbsd:openssh:8.5:p1:*:*:*:*:*:*", None, None);
        assert_eq!(
            confidence(listed.evaluate(&ssh("8.5p1"))),
            Some(Confidence::Exact)
        );
        assert_eq!(listed.evaluate(&ssh("8.5p2")), CriterionResult::Miss);
        let joined = crit("cpe:2.3:a:openbsd:openssh:8.5p1:*:*:*:*:*:*:*", None, None);
        let split_app = Cpe::parse("cpe:2.3:a:openbsd:openssh:8.5:p1:*:*:*:*:*:*").unwrap();
        assert_eq!(
            confidence(joined.evaluate(&split_app)),
            Some(Confidence::Exact)
        );
        let na = crit("cpe:2.3:a:openbsd:openssh:9.8:-:*:*:*:*:*:*", None, None);
        assert_eq!(na.evaluate(&ssh("9.8p1")), CriterionResult::Miss);
        assert_eq!(
            confidence(na.evaluate(&ssh("9.8"))),
            Some(Confidence::Exact)
        );
    }

    #[test]
    fn ranges_bound_the_version_not_the_update() {
        let r = crit(
            "cpe:2.3:a:openbsd:openssh:*:*:*:*:*:*:*:*",
            Some(("8.6", true)),
            Some(("9.8", false)),
        );
        assert_eq!(
            confidence(r.evaluate(&ssh("9.2p1"))),
            Some(Confidence::VersionRange)
        );
        assert_eq!(
            confidence(r.evaluate(&ssh("8.6p1"))),
            Some(Confidence::VersionRange)
        );
        assert_eq!(r.evaluate(&ssh("9.8p1")), CriterionResult::Miss);
        assert_eq!(r.evaluate(&ssh("8.5p1")), CriterionResult::Miss);
        // From CVE-2016-6210: `*:p2` up to and including 7.2.
        let p2 = crit(
            "cpe:2.3:a:openbsd:openssh:*:p2:*:*:*:*:*:*",
            None,
            Some(("7.2", true)),
        );
        assert!(confidence(p2.evaluate(&ssh("7.2p2"))).is_some());
        assert_eq!(p2.evaluate(&ssh("7.2p1")), CriterionResult::Miss);
        assert_eq!(p2.evaluate(&ssh("7.3p2")), CriterionResult::Miss);
        let with_update = crit(
            "cpe:2.3:a:openbsd:openssh:*:*:*:*:*:*:*:*",
            None,
            Some(("8.5p1", false)),
        );
        assert!(confidence(with_update.evaluate(&ssh("8.4p1"))).is_some());
        assert_eq!(with_update.evaluate(&ssh("8.5p1")), CriterionResult::Miss);
    }

    #[test]
    fn other_products_and_unknown_versions() {
        let r = crit(
            "cpe:2.3:a:f5:nginx:*:*:*:*:*:*:*:*",
            None,
            Some(("1.21.0", false)),
        );
        assert_eq!(r.evaluate(&ssh("9.2p1")), CriterionResult::OtherProduct);
        let unknown = Cpe::application("f5", "nginx", None);
        assert_eq!(
            confidence(r.evaluate(&unknown)),
            Some(Confidence::ProductOnly)
        );
        let os = crit(
            "cpe:2.3:o:debian:debian_linux:12.0:*:*:*:*:*:*:*",
            None,
            None,
        );
        assert_eq!(os.evaluate(&ssh("9.2p1")), CriterionResult::OtherProduct);
    }

    #[test]
    fn application_without_vendor_matches_any_vendor() {
        let app = Application::new("OpenSSH").with_version("9.2p1");
        let cpe = application_cpe(&app);
        assert_eq!(cpe.vendor, CpeValue::Any);
        assert_eq!(cpe.product, CpeValue::value("openssh"));
        let r = crit(
            "cpe:2.3:a:openbsd:openssh:*:*:*:*:*:*:*:*",
            Some(("8.6", true)),
            Some(("9.8", false)),
        );
        assert!(confidence(r.evaluate(&cpe)).is_some());
    }
}
