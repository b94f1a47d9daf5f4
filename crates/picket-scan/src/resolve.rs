//! Turns the user's targets into the addresses to scan: resolves hostnames, expands ranges and
//! CIDRs lazily (a /8 is never held in memory), drops duplicates and exclusions, keeps the order
//! the user gave.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use picket_model::{TargetSpec, Targets, canonical_ip};

use crate::{ScanError, ScanHost};

/// The hosts of a set of targets, hostnames resolved, addresses expanded only as they are
/// taken. An address is yielded once, for the first target that names it, unless excluded; a
/// mapped IPv6 address (`::ffff:10.0.0.1`) is the IPv4 host it reaches.
#[derive(Debug, Clone)]
pub struct ScanTargets {
    expansion: Arc<Expansion>,
    len: u64,
}

#[derive(Debug)]
struct Expansion {
    targets: Targets,
    /// Per target: the address a hostname resolved to.
    resolved: Vec<Option<IpAddr>>,
    /// Single addresses (literal or resolved) and the first target that names each.
    singles: HashMap<IpAddr, usize>,
    /// Targets that are networks or ranges, in order.
    spans: Vec<usize>,
}

impl ScanTargets {
    /// Resolves the hostnames among `targets`. A hostname scans its first IPv4 address, or its
    /// first IPv6 address when it has no IPv4 one (as Nmap does); a name that does not resolve
    /// is an error, and so is a set of targets that leaves nothing to scan.
    pub async fn resolve(targets: &Targets) -> Result<Self, ScanError> {
        let mut resolved = Vec::with_capacity(targets.include.len());
        let mut singles = HashMap::new();
        let mut spans = Vec::new();
        for (i, spec) in targets.include.iter().enumerate() {
            let single = match spec {
                TargetSpec::Host(name) => Some(lookup(name).await?),
                TargetSpec::Addr(a) => Some(canonical_ip(*a)),
                TargetSpec::Net(_) | TargetSpec::Range { .. } => {
                    spans.push(i);
                    None
                }
            };
            if let Some(address) = single {
                singles.entry(address).or_insert(i);
            }
            resolved.push(match spec {
                TargetSpec::Host(_) => single,
                _ => None,
            });
        }
        let expansion = Arc::new(Expansion {
            targets: targets.clone(),
            resolved,
            singles,
            spans,
        });
        let len = TargetIter::new(Arc::clone(&expansion)).count() as u64;
        if len == 0 {
            return Err(ScanError::NothingToScan);
        }
        Ok(Self { expansion, len })
    }

    /// How many hosts [`ScanTargets::iter`] yields.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Never true: [`ScanTargets::resolve`] refuses targets that leave nothing to scan.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The hosts, in the order the targets were given; owns what it needs.
    pub fn iter(&self) -> TargetIter {
        TargetIter::new(Arc::clone(&self.expansion))
    }
}

async fn lookup(name: &str) -> Result<IpAddr, ScanError> {
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((name, 0))
        .await
        .map_err(|source| ScanError::Resolve {
            name: name.to_owned(),
            source,
        })?
        .map(|sa| sa.ip())
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .map(canonical_ip)
        .ok_or_else(|| ScanError::NoAddress {
            name: name.to_owned(),
        })
}

impl Expansion {
    /// Whether a target before the `spec`-th names `address` too (so it was yielded there).
    fn named_before(&self, spec: usize, address: IpAddr) -> bool {
        self.singles
            .get(&address)
            .is_some_and(|&first| first < spec)
            || self
                .spans
                .iter()
                .take_while(|&&j| j < spec)
                .any(|&j| self.targets.include[j].contains(address))
    }
}

/// The hosts of [`ScanTargets`], one at a time.
#[derive(Debug, Clone)]
pub struct TargetIter {
    expansion: Arc<Expansion>,
    /// The target being expanded, and the index of its next address.
    spec: usize,
    next: u128,
}

impl TargetIter {
    fn new(expansion: Arc<Expansion>) -> Self {
        Self {
            expansion,
            spec: 0,
            next: 0,
        }
    }
}

impl Iterator for TargetIter {
    type Item = ScanHost;

    fn next(&mut self) -> Option<ScanHost> {
        let exp = &*self.expansion;
        loop {
            let spec = exp.targets.include.get(self.spec)?;
            let k = self.next;
            self.next += 1;
            let (address, hostname) = match spec {
                TargetSpec::Host(name) => match exp.resolved[self.spec] {
                    Some(address) if k == 0 => (address, Some(name.clone())),
                    _ => {
                        self.spec += 1;
                        self.next = 0;
                        continue;
                    }
                },
                literal => match literal.address_at(k) {
                    Some(address) => (canonical_ip(address), None),
                    None => {
                        self.spec += 1;
                        self.next = 0;
                        continue;
                    }
                },
            };
            if exp.targets.is_excluded(address) || exp.named_before(self.spec, address) {
                continue;
            }
            return Some(ScanHost { address, hostname });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn resolve(targets: &Targets) -> Result<Vec<ScanHost>, ScanError> {
        Ok(ScanTargets::resolve(targets).await?.iter().collect())
    }

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
    async fn a_large_network_is_counted_and_expanded_lazily() {
        let t = Targets::parse(["10.0.0.0/12", "10.0.0.7", "192.0.2.1"], ["10.0.0.0/24"]).unwrap();
        let hosts = ScanTargets::resolve(&t).await.unwrap();
        assert_eq!(
            hosts.len(),
            (1 << 20) - 256 + 1,
            "10.0.0.7 is in the /12 already"
        );
        let first: Vec<String> = hosts
            .iter()
            .take(2)
            .map(|h| h.address.to_string())
            .collect();
        assert_eq!(first, ["10.0.1.0", "10.0.1.1"]);
        let last = hosts.iter().last().unwrap();
        assert_eq!(last.address.to_string(), "192.0.2.1");
    }

    #[tokio::test]
    async fn a_hostname_keeps_its_name_unless_an_earlier_target_named_its_address() {
        let t = Targets::parse(["localhost", "127.0.0.0/31"], Vec::<&str>::new()).unwrap();
        let hosts = resolve(&t).await.unwrap();
        let shown: Vec<(String, Option<String>)> = hosts
            .iter()
            .map(|h| (h.address.to_string(), h.hostname.clone()))
            .collect();
        assert_eq!(
            shown,
            [
                ("127.0.0.1".to_owned(), Some("localhost".to_owned())),
                ("127.0.0.0".to_owned(), None)
            ]
        );
    }

    #[tokio::test]
    async fn refuses_when_everything_is_excluded() {
        let t = Targets::parse(["127.0.0.1"], ["127.0.0.0/8"]).unwrap();
        assert!(matches!(resolve(&t).await, Err(ScanError::NothingToScan)));
    }
}
