//! Version comparison per ecosystem.
//!
//! Each scheme is a total order on the versions it accepts. Semver and Debian versions that do
//! not parse are errors (the caller decides: skip the record and say why); RPM and the generic
//! scheme accept any string.

use std::cmp::Ordering;
use std::fmt;

use crate::VulnError;
use crate::rpm::rpm_evr_cmp;

/// How an ecosystem orders its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionScheme {
    /// Semantic Versioning 2.0 (crates.io, npm, Go, OSV `SEMVER` ranges).
    Semver,
    /// dpkg: `[epoch:]upstream[-revision]`, `~` sorts before everything (Debian, Ubuntu).
    Debian,
    /// rpm: `[epoch:]version[-release]` compared with `rpmvercmp` (Red Hat, Alma, Rocky, SUSE).
    Rpm,
    /// Upstream versions as NVD and banners write them: `9.2p1`, `1.22.1`, `2.4.49`, `1.0rc1`.
    Generic,
}

impl VersionScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionScheme::Semver => "semver",
            VersionScheme::Debian => "debian",
            VersionScheme::Rpm => "rpm",
            VersionScheme::Generic => "generic",
        }
    }

    /// The scheme of an OSV ecosystem name (`Debian:12`, `Red Hat`, `npm`); generic when unknown.
    pub fn for_ecosystem(ecosystem: &str) -> Self {
        let base = ecosystem.split(':').next().unwrap_or(ecosystem).trim();
        match base.to_ascii_lowercase().as_str() {
            "debian" | "ubuntu" => VersionScheme::Debian,
            "red hat" | "redhat" | "almalinux" | "rocky linux" | "opensuse" | "suse" | "mageia"
            | "openeuler" | "fedora" | "centos" | "amazon" | "oracle" | "rpm" => VersionScheme::Rpm,
            "crates.io" | "npm" | "go" | "hex" | "pub" | "semver" => VersionScheme::Semver,
            _ => VersionScheme::Generic,
        }
    }
}

impl fmt::Display for VersionScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares two versions under a scheme.
pub fn compare_versions(scheme: VersionScheme, a: &str, b: &str) -> Result<Ordering, VulnError> {
    match scheme {
        VersionScheme::Semver => Ok(parse_semver(a)?.cmp(&parse_semver(b)?)),
        VersionScheme::Debian => Ok(parse_debian(a)?.cmp(&parse_debian(b)?)),
        VersionScheme::Rpm => Ok(rpm_evr_cmp(a, b)),
        VersionScheme::Generic => Ok(GenericVersion::new(a).cmp(&GenericVersion::new(b))),
    }
}

fn parse_semver(s: &str) -> Result<semver::Version, VulnError> {
    // Go's module versions carry a `v`; OSV's SEMVER ranges do not.
    let bare = s.strip_prefix('v').unwrap_or(s);
    semver::Version::parse(bare).map_err(|e| VulnError::Version {
        scheme: "semver",
        version: s.to_owned(),
        why: e.to_string(),
    })
}

fn parse_debian(s: &str) -> Result<debversion::Version, VulnError> {
    s.parse()
        .map_err(|e: debversion::ParseError| VulnError::Version {
            scheme: "debian",
            version: s.to_owned(),
            why: e.to_string(),
        })
}

/// A version in the generic scheme: runs of digits and runs of letters, everything else a
/// separator. Ordering, per position (missing positions count as `0`):
/// pre-release words (`dev` < `alpha` < `beta` < `pre` < `rc`) < `0` < other words (`p1`, `a`)
/// < `1` < `2` ... So `1.0rc1 < 1.0 = 1.0.0 < 1.0p1 < 1.0.1`, `9.2p1 < 9.3`, and `1.0.2k > 1.0.2`.
#[derive(Debug, Clone)]
pub struct GenericVersion {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    /// Pre-release word with its rank, then the word itself so that distinct words stay distinct.
    Pre(u8, String),
    /// The number zero, and every position past the end of the shorter version.
    Zero,
    Word(String),
    /// A positive number: compared by digit count, then digits.
    Num(usize, String),
}

fn pre_rank(word: &str) -> Option<u8> {
    match word {
        "dev" | "snapshot" => Some(0),
        "alpha" => Some(1),
        "beta" => Some(2),
        "pre" | "preview" => Some(3),
        "rc" => Some(4),
        _ => None,
    }
}

impl GenericVersion {
    pub fn new(s: &str) -> Self {
        let mut tokens = Vec::new();
        let mut chars = s.chars().peekable();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_digit() {
                let mut digits = String::new();
                while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(d);
                    chars.next();
                }
                let trimmed = digits.trim_start_matches('0');
                tokens.push(if trimmed.is_empty() {
                    Token::Zero
                } else {
                    Token::Num(trimmed.len(), trimmed.to_owned())
                });
            } else if c.is_alphabetic() {
                let mut word = String::new();
                while let Some(&d) = chars.peek().filter(|d| d.is_alphabetic()) {
                    word.extend(d.to_lowercase());
                    chars.next();
                }
                tokens.push(match pre_rank(&word) {
                    Some(rank) => Token::Pre(rank, word),
                    None => Token::Word(word),
                });
            } else {
                chars.next();
            }
        }
        // Trailing zeros are padding: `1.21` and `1.21.0` are the same release.
        while tokens.last() == Some(&Token::Zero) {
            tokens.pop();
        }
        GenericVersion { tokens }
    }
}

impl Ord for GenericVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.tokens.len().max(other.tokens.len());
        (0..n)
            .map(|i| {
                let a = self.tokens.get(i).unwrap_or(&Token::Zero);
                let b = other.tokens.get(i).unwrap_or(&Token::Zero);
                a.cmp(b)
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for GenericVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for GenericVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for GenericVersion {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn g(a: &str, b: &str) -> Ordering {
        compare_versions(VersionScheme::Generic, a, b).unwrap()
    }

    #[test]
    fn generic_upstream_versions() {
        use Ordering::*;
        let cases = [
            ("9.2p1", "9.2", Greater),
            ("9.2p1", "9.3", Less),
            ("9.2p1", "9.2p2", Less),
            ("9.8p1", "9.8", Greater),
            ("8.5p1", "8.6", Less),
            ("1.22.1", "1.22.0", Greater),
            ("1.20.0", "1.21.0", Less),
            ("1.21", "1.21.0", Equal),
            ("2.4.49", "2.4.50", Less),
            ("2.4.9", "2.4.49", Less),
            ("1.0rc1", "1.0", Less),
            ("1.0beta2", "1.0rc1", Less),
            ("1.0.2k", "1.0.2", Greater),
            ("1.0.2k", "1.0.3", Less),
            ("2.3.4", "2.3.4", Equal),
            ("01.2", "1.2", Equal),
            ("1.0-rc1", "1.0", Less),
            ("10", "9", Greater),
            (
                "99999999999999999999999",
                "99999999999999999999998",
                Greater,
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(g(a, b), want, "{a} vs {b}");
            assert_eq!(g(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn debian_dpkg_vectors() {
        // From dpkg's lib/dpkg/t/t-version.c and Debian Policy 5.6.12.
        use Ordering::*;
        let cases = [
            ("1.0", "1.0", Equal),
            ("0:1.0", "1.0", Equal),
            ("1:1.0", "2.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1.0-1", "1.0-2", Less),
            ("1.0-1", "1.0-1.1", Less),
            ("1.0a", "1.0", Greater),
            ("1.0", "1.0.1", Less),
            ("1:9.2p1-2+deb12u2", "1:9.2p1-2+deb12u3", Less),
            ("1:9.2p1-2+deb12u3", "1:9.2p1-2", Greater),
            ("1:9.2p1-2+deb12u3", "1:9.3p1-1", Less),
            ("2.30-1", "2.4-1", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(
                compare_versions(VersionScheme::Debian, a, b).unwrap(),
                want,
                "{a} vs {b}"
            );
        }
        assert!(compare_versions(VersionScheme::Debian, "not a version!", "1.0").is_err());
    }

    #[test]
    fn semver_ordering_and_errors() {
        let s = |a, b| compare_versions(VersionScheme::Semver, a, b).unwrap();
        assert_eq!(s("1.0.0-alpha", "1.0.0"), Ordering::Less);
        assert_eq!(s("1.0.0-alpha.1", "1.0.0-alpha.beta"), Ordering::Less);
        assert_eq!(s("v1.2.3", "1.2.3"), Ordering::Equal);
        assert_eq!(s("1.10.0", "1.9.0"), Ordering::Greater);
        let err = compare_versions(VersionScheme::Semver, "1.2", "1.2.0").unwrap_err();
        assert!(err.to_string().contains("\"1.2\""), "{err}");
    }

    #[test]
    fn ecosystem_schemes() {
        assert_eq!(
            VersionScheme::for_ecosystem("Debian:12"),
            VersionScheme::Debian
        );
        assert_eq!(
            VersionScheme::for_ecosystem("Ubuntu:22.04:LTS"),
            VersionScheme::Debian
        );
        assert_eq!(VersionScheme::for_ecosystem("Red Hat"), VersionScheme::Rpm);
        assert_eq!(
            VersionScheme::for_ecosystem("crates.io"),
            VersionScheme::Semver
        );
        assert_eq!(VersionScheme::for_ecosystem("PyPI"), VersionScheme::Generic);
    }

    fn generic_version() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                "[0-9]{1,3}",
                "[a-cp]{1,2}",
                Just("rc".to_owned()),
                Just("beta".to_owned()),
                Just("0".to_owned())
            ],
            0..6,
        )
        .prop_map(|parts| parts.join("."))
    }

    fn debian_version() -> impl Strategy<Value = String> {
        (
            proptest::option::of(0u8..3),
            "[0-9][0-9a-z.~+]{0,6}",
            proptest::option::of("[0-9a-z.~+]{1,4}"),
        )
            .prop_map(|(epoch, upstream, rev)| {
                let mut v = String::new();
                if let Some(e) = epoch {
                    v.push_str(&format!("{e}:"));
                }
                v.push_str(&upstream);
                if let Some(r) = rev {
                    v.push_str(&format!("-{r}"));
                }
                v
            })
    }

    fn check_total_order(
        scheme: VersionScheme,
        a: &str,
        b: &str,
        c: &str,
    ) -> Result<(), TestCaseError> {
        let cmp = |x: &str, y: &str| compare_versions(scheme, x, y);
        let (Ok(ab), Ok(ba), Ok(bc), Ok(ac), Ok(aa)) =
            (cmp(a, b), cmp(b, a), cmp(b, c), cmp(a, c), cmp(a, a))
        else {
            return Ok(());
        };
        prop_assert_eq!(aa, Ordering::Equal);
        prop_assert_eq!(ab, ba.reverse(), "antisymmetry {} {}", a, b);
        if ab != Ordering::Greater && bc != Ordering::Greater {
            prop_assert_ne!(ac, Ordering::Greater, "transitivity {} {} {}", a, b, c);
        }
        if ab == Ordering::Equal && bc == Ordering::Equal {
            prop_assert_eq!(ac, Ordering::Equal);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn generic_is_a_total_order(a in generic_version(), b in generic_version(), c in generic_version()) {
            check_total_order(VersionScheme::Generic, &a, &b, &c)?;
        }

        #[test]
        fn debian_is_a_total_order(a in debian_version(), b in debian_version(), c in debian_version()) {
            check_total_order(VersionScheme::Debian, &a, &b, &c)?;
        }

        #[test]
        fn semver_is_a_total_order(
            a in "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}(-[a-z0-9]{1,3}(\\.[a-z0-9]{1,3})?)?",
            b in "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}(-[a-z0-9]{1,3}(\\.[a-z0-9]{1,3})?)?",
            c in "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}(-[a-z0-9]{1,3}(\\.[a-z0-9]{1,3})?)?",
        ) {
            check_total_order(VersionScheme::Semver, &a, &b, &c)?;
        }

        #[test]
        fn version_parsers_never_panic(a in "\\PC{0,40}", b in "\\PC{0,40}") {
            for scheme in [VersionScheme::Semver, VersionScheme::Debian, VersionScheme::Rpm, VersionScheme::Generic] {
                let _ = compare_versions(scheme, &a, &b);
            }
        }
    }
}
