//! What service listens on a port, as service and version detection identified it.
//!
//! The versions here are what the service *said*. Distributions backport security fixes without
//! changing the upstream number (Debian 12's OpenSSH stays `9.2p1` through every `+deb12uN`
//! update), so an upstream version alone never proves a vulnerability: a match made from it is
//! version-based and must carry lower confidence than one made from [`ServiceInfo::package`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::vuln::{Application, Cpe, CpeValue, Package};

/// The highest [`ServiceInfo::confidence`]: a signature that names the product and its version.
pub const SERVICE_CONFIDENCE_MAX: u8 = 10;

/// One identified service on one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// The protocol, in Nmap's service names where one exists: `ssh`, `http`, `ftp`, `smtp`,
    /// `redis`, `memcached`, `mysql`, `postgresql`, `imap`, `pop3`, `tls`; `unknown` when the
    /// port answered but no signature matched (then [`ServiceInfo::raw`] holds what it said).
    pub name: String,
    /// The product as its makers spell it: `OpenSSH`, `nginx`, `Apache httpd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// The upstream version the service announced (`9.2p1`, `1.22.1`), never a package version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Anything else the banner told: a distro suffix (`Debian-2+deb12u3`), a protocol variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extrainfo: Option<String>,
    /// The CPE 2.3 name of the product, with the version where known (NVD's spelling, e.g.
    /// `cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*`). Serialized as the formatted string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpe: Option<Cpe>,
    /// The distro package the banner names, when it names one: the *source* package (what the
    /// distro's advisories and OSV key on) with its full version, e.g. `openssh 1:9.2p1-2+deb12u3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<Package>,
    /// The OSV ecosystem of [`ServiceInfo::package`]: `Debian:12` when the revision names the
    /// release (`+deb12u3`), else `Debian` or `Ubuntu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem: Option<String>,
    /// What made the service talk.
    pub method: DetectionMethod,
    /// 0..=10, like Nmap's `conf`: 10 for a product and version match, lower for a match on the
    /// protocol alone, 0 for `unknown`.
    pub confidence: u8,
    /// The first bytes (about 200) the service sent, escaped: printable ASCII as is, `\\`, `\r`,
    /// `\n`, `\t`, and `\xHH` for every other byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

/// How the service was made to reveal itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectionMethod {
    /// It spoke first (SSH, FTP, SMTP, IMAP, POP3, MySQL).
    Banner,
    /// It answered the named probe (`http-get`, `redis-info`, `tls-hello`, ...).
    Probe(String),
}

impl fmt::Display for DetectionMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetectionMethod::Banner => f.write_str("banner"),
            DetectionMethod::Probe(name) => write!(f, "probe {name}"),
        }
    }
}

impl ServiceInfo {
    /// A service known by protocol name only.
    pub fn new(name: impl Into<String>, method: DetectionMethod, confidence: u8) -> Self {
        Self {
            name: name.into(),
            product: None,
            version: None,
            extrainfo: None,
            cpe: None,
            package: None,
            ecosystem: None,
            method,
            confidence: confidence.min(SERVICE_CONFIDENCE_MAX),
            raw: None,
        }
    }

    /// The application for the inventory and vulnerability matching, named as NVD names it
    /// (vendor and product from the CPE), or `None` when no product is known.
    pub fn application(&self) -> Option<Application> {
        let cpe = self.cpe.as_ref()?;
        let product = cpe.product.as_value()?;
        let mut app = Application::new(product).with_cpe(cpe.clone());
        if let CpeValue::Value(vendor) = &cpe.vendor {
            app = app.with_vendor(vendor.clone());
        }
        if let Some(version) = &self.version {
            app = app.with_version(version.clone());
        }
        if let (Some(package), Some(ecosystem)) = (&self.package, &self.ecosystem) {
            app = app.with_package(ecosystem.clone(), package.clone());
        }
        Some(app)
    }
}

impl fmt::Display for ServiceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(product) = &self.product {
            write!(f, " {product}")?;
        }
        if let Some(version) = &self.version {
            write!(f, " {version}")?;
        }
        if let Some(extrainfo) = &self.extrainfo {
            write!(f, " ({extrainfo})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openssh() -> ServiceInfo {
        let mut info = ServiceInfo::new("ssh", DetectionMethod::Banner, 10);
        info.product = Some("OpenSSH".to_owned());
        info.version = Some("9.2p1".to_owned());
        info.extrainfo = Some("Debian-2+deb12u3".to_owned());
        info.cpe = Some(Cpe::parse("cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*").unwrap());
        info.package = Some(Package::new("openssh", "1:9.2p1-2+deb12u3"));
        info.ecosystem = Some("Debian:12".to_owned());
        info.raw = Some("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\\r\\n".to_owned());
        info
    }

    #[test]
    fn serde_round_trip_and_shape() {
        let info = openssh();
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["cpe"], "cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*");
        assert_eq!(json["package"], "openssh 1:9.2p1-2+deb12u3");
        assert_eq!(json["method"], "banner");
        let back: ServiceInfo = serde_json::from_value(json).unwrap();
        assert_eq!(back, info);
        let probe = ServiceInfo::new("http", DetectionMethod::Probe("http-get".into()), 5);
        let json = serde_json::to_value(&probe).unwrap();
        assert_eq!(json["method"]["probe"], "http-get");
        assert!(json.get("product").is_none());
    }

    #[test]
    fn application_from_cpe_and_package() {
        let app = openssh().application().unwrap();
        assert_eq!(app.product, "openssh");
        assert_eq!(app.vendor.as_deref(), Some("openbsd"));
        assert_eq!(app.version.as_deref(), Some("9.2p1"));
        assert_eq!(app.ecosystem.as_deref(), Some("Debian:12"));
        assert_eq!(app.package.unwrap().version, "1:9.2p1-2+deb12u3");
        assert!(
            ServiceInfo::new("tls", DetectionMethod::Banner, 5)
                .application()
                .is_none()
        );
    }

    #[test]
    fn confidence_is_capped_and_display_reads() {
        assert_eq!(
            ServiceInfo::new("x", DetectionMethod::Banner, 200).confidence,
            10
        );
        assert_eq!(
            openssh().to_string(),
            "ssh OpenSSH 9.2p1 (Debian-2+deb12u3)"
        );
    }
}
