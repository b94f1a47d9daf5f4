//! Turns the user's targets into the addresses to scan: expands ranges and CIDRs, resolves
//! hostnames, drops duplicates and exclusions, keeps the order the user gave.

use std::collections::HashSet;
use std::net::IpAddr;

use picket_model::{TargetSpec, Targets, canonical_ip};

use crate::{ScanError, ScanHost};

/// Resolves every target. A hostname scans its first IPv4 address, or its first IPv6 address
/// when it has no IPv4 one (as Nmap does); a name that does not resolve is an error.
pub async fn resolve(targets: &Targets) -> Result<Vec<ScanHost>, ScanError> {
    let mut seen = HashSet::new();
    let mut hosts = Vec::new();
    let mut push = |address: IpAddr, hostname: Option<String>| {
        // A mapped address reaches the IPv4 host it carries: scan, exclude and dedup it as that.
        let address = canonical_ip(address);
        if !targets.is_excluded(address) && seen.insert(address) {
            hosts.push(ScanHost { address, hostname });
        }
    };
    for spec in &targets.include {
        match spec {
            TargetSpec::Host(name) => {
                let addrs: Vec<IpAddr> = tokio::net::lookup_host((name.as_str(), 0))
                    .await
                    .map_err(|source| ScanError::Resolve {
                        name: name.clone(),
                        source,
                    })?
                    .map(|sa| sa.ip())
                    .collect();
                let pick = addrs
                    .iter()
                    .find(|a| a.is_ipv4())
                    .or_else(|| addrs.first())
                    .copied()
                    .ok_or_else(|| ScanError::NoAddress { name: name.clone() })?;
                push(pick, Some(name.clone()));
            }
            literal => literal.addresses().for_each(|a| push(a, None)),
        }
    }
    if hosts.is_empty() {
        return Err(ScanError::NothingToScan);
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn expands_dedups_and_excludes() {
        let t = Targets::parse(["127.0.0.1-4", "127.0.0.2", "localhost"], ["127.0.0.3"]).unwrap();
        let hosts = resolve(&t).await.unwrap();
        let addrs: Vec<String> = hosts.iter().map(|h| h.address.to_string()).collect();
        assert_eq!(
            addrs,
            ["127.0.0.1", "127.0.0.2", "127.0.0.4"],
            "localhost is 127.0.0.1, already listed"
        );
    }

    #[tokio::test]
    async fn exclusions_hold_through_ipv4_mapped_addresses() {
        for (include, exclude) in [
            ("::ffff:127.0.0.3", "127.0.0.3"),
            ("::ffff:127.0.0.0/126", "127.0.0.3"),
            ("127.0.0.0/28", "::ffff:127.0.0.3"),
            ("::ffff:127.0.0.1-::ffff:127.0.0.5", "::ffff:127.0.0.3/128"),
        ] {
            let t = Targets::parse([include, "127.0.0.9"], [exclude]).unwrap();
            let hosts = resolve(&t).await.unwrap();
            let addrs: Vec<String> = hosts.iter().map(|h| h.address.to_string()).collect();
            assert!(
                !addrs.iter().any(|a| a.ends_with("127.0.0.3")),
                "{include} --exclude {exclude}: {addrs:?}"
            );
        }
    }

    #[tokio::test]
    async fn refuses_when_everything_is_excluded() {
        let t = Targets::parse(["127.0.0.1"], ["127.0.0.0/8"]).unwrap();
        assert!(matches!(resolve(&t).await, Err(ScanError::NothingToScan)));
    }
}
