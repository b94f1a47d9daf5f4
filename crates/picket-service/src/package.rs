//! Distro packages named in banners, and the upstream versions they were built from.
//!
//! Debian and Ubuntu patch OpenSSH so that its banner carries the package revision
//! (`SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`); MariaDB and Ubuntu's MySQL put it in their
//! server version (`10.11.6-MariaDB-0+deb12u1`, `8.0.36-0ubuntu0.22.04.1`). From such a banner
//! Picket derives the *source* package (what Debian's and Ubuntu's advisories and OSV key on;
//! `openssh-server` is built from `openssh` and has the same version) and its full version
//! `EPOCH:UPSTREAM-REVISION`. The epoch is not in the banner: it is a fixed fact of the
//! distro's package, recorded in the signature (`package_epoch`). Most banners name no package
//! (nginx says `nginx/1.22.1`, Apache `Apache/2.4.57 (Debian)`): then only the upstream version
//! is known.
//!
//! Distributions backport security fixes without changing the upstream number: Debian 12's
//! `openssh 1:9.2p1-2+deb12u3` is fixed for CVE-2024-6387 although NVD's range for that CVE
//! covers 9.2p1. So a vulnerability match made from [`upstream_version`] alone is version-based
//! and must carry lower confidence; a match on the package version against the distro's own
//! advisories is the one that can be exact.

use picket_model::{Package, ServiceInfo};

/// The upstream version the service announced, the one NVD's ranges speak of. Not proof of a
/// vulnerability: see the module docs.
pub fn upstream_version(info: &ServiceInfo) -> Option<&str> {
    info.version.as_deref()
}

/// The upstream part of a Debian package version as `dpkg-query -W -f='${Version}'` prints it:
/// without the epoch (`1:`), the revision (after the last `-`) and a repack suffix (`+dfsg`,
/// `~ds`) that upstream never announces. `1:9.2p1-2+deb12u10` -> `9.2p1`,
/// `5:7.0.15-1~deb12u10` -> `7.0.15`, `3.0.3-13+b2` -> `3.0.3`.
pub fn debian_upstream(version: &str) -> &str {
    let no_epoch = version.split_once(':').map_or(version, |(_, rest)| rest);
    let no_revision = no_epoch.rsplit_once('-').map_or(no_epoch, |(up, _)| up);
    no_revision.split(['+', '~']).next().unwrap_or(no_revision)
}

/// The distro package a banner names: `source` package, `epoch` from the signature, the
/// announced `upstream` version and the banner's `revision`. `distro` is the banner's own word
/// (`Debian`, `Ubuntu`) when it says one; otherwise the revision must tell (`+deb12u1`,
/// `0ubuntu0.22.04.1`). Returns the package and its OSV ecosystem (`Debian:12` when the revision
/// names the release, else `Debian` or `Ubuntu`), or `None` when the parts do not look like a
/// Debian-style version or the distro is not known.
pub fn distro_package(
    source: &str,
    epoch: Option<u32>,
    upstream: &str,
    distro: Option<&str>,
    revision: &str,
) -> Option<(Package, String)> {
    let version_chars = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~'))
    };
    if !version_chars(upstream) || !version_chars(revision) || source.is_empty() {
        return None;
    }
    let distro = match distro.map(str::to_ascii_lowercase).as_deref() {
        Some("debian") => Distro::Debian,
        Some("ubuntu") => Distro::Ubuntu,
        Some(_) => return None,
        None if revision.contains("ubuntu") => Distro::Ubuntu,
        None if debian_release(revision).is_some() => Distro::Debian,
        None => return None,
    };
    let ecosystem = match distro {
        Distro::Ubuntu => "Ubuntu".to_owned(),
        Distro::Debian => match debian_release(revision) {
            Some(release) => format!("Debian:{release}"),
            None => "Debian".to_owned(),
        },
    };
    let version = match epoch {
        Some(epoch) => format!("{epoch}:{upstream}-{revision}"),
        None => format!("{upstream}-{revision}"),
    };
    Some((Package::new(source, version), ecosystem))
}

enum Distro {
    Debian,
    Ubuntu,
}

/// The Debian release a revision was built for: `2+deb12u3` (stable update), `1~deb12u10`,
/// `1~bpo12+1` (backport) -> 12.
fn debian_release(revision: &str) -> Option<u32> {
    ["deb", "bpo"].iter().find_map(|marker| {
        let at = revision.find(marker)? + marker.len();
        let digits: String = revision[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_of_dpkg_versions() {
        assert_eq!(debian_upstream("1:9.2p1-2+deb12u10"), "9.2p1");
        assert_eq!(debian_upstream("5:7.0.15-1~deb12u10"), "7.0.15");
        assert_eq!(debian_upstream("3.0.3-13+b2"), "3.0.3");
        assert_eq!(debian_upstream("1.22.1-9+deb12u11"), "1.22.1");
        assert_eq!(debian_upstream("4.96-15+deb12u10"), "4.96");
        assert_eq!(debian_upstream("1.2.3+dfsg-1"), "1.2.3");
        assert_eq!(debian_upstream("2.0"), "2.0");
    }

    #[test]
    fn openssh_debian_and_ubuntu() {
        let (p, eco) =
            distro_package("openssh", Some(1), "9.2p1", Some("Debian"), "2+deb12u3").unwrap();
        assert_eq!(p.to_string(), "openssh 1:9.2p1-2+deb12u3");
        assert_eq!(eco, "Debian:12");
        let (p, eco) =
            distro_package("openssh", Some(1), "9.6p1", Some("Ubuntu"), "3ubuntu13.5").unwrap();
        assert_eq!(p.version, "1:9.6p1-3ubuntu13.5");
        assert_eq!(eco, "Ubuntu");
        let (_, eco) = distro_package("openssh", Some(1), "9.9p1", Some("Debian"), "3").unwrap();
        assert_eq!(eco, "Debian");
    }

    #[test]
    fn distro_inferred_from_revision_or_refused() {
        let (p, eco) = distro_package("mariadb", Some(1), "10.11.6", None, "0+deb12u1").unwrap();
        assert_eq!(p.version, "1:10.11.6-0+deb12u1");
        assert_eq!(eco, "Debian:12");
        let (p, eco) =
            distro_package("mysql-8.0", None, "8.0.36", None, "0ubuntu0.22.04.1").unwrap();
        assert_eq!(p.to_string(), "mysql-8.0 8.0.36-0ubuntu0.22.04.1");
        assert_eq!(eco, "Ubuntu");
        assert_eq!(debian_release("1~bpo11+1"), Some(11));
        // Whose package is "log"? Nobody's: no guess.
        assert!(distro_package("mariadb", None, "10.6.5", None, "log").is_none());
        assert!(distro_package("openssh", None, "9.2p1", Some("FreeBSD"), "2").is_none());
        assert!(distro_package("openssh", None, "9.2p1 x", Some("Debian"), "2").is_none());
        assert!(distro_package("openssh", None, "9.2p1", Some("Debian"), "").is_none());
    }
}
