//! Port specifications: `22,80,8000-8100`, `-` (all 65,535), `1024-`, `-1023`, and the ranked
//! top-ports list shipped with the project.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::ModelError;

const TOP_PORTS_FILE: &str = include_str!("../data/top-ports.txt");
const SERVICES_FILE: &str = include_str!("../data/services-tcp.txt");

/// Where the ranked list behind `--top-ports` comes from (see `data/top-ports.txt`).
pub const TOP_PORTS_SOURCE: &str =
    "open-frequency order of Nmap's nmap-services (Debian nmap 7.93), port numbers only";

/// A set of TCP/UDP port numbers (1..=65535), kept sorted and without duplicates.
///
/// Its `Display` form is the canonical, compressed spec (`22,80,8000-8100`), which is also how it
/// is stored and how two runs are recognised as scanning the same ports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PortSet {
    ports: Vec<u16>,
}

impl PortSet {
    /// Every port from 1 to 65,535 (`-p-`).
    pub fn all() -> Self {
        Self {
            ports: (1..=u16::MAX).collect(),
        }
    }

    /// Builds a set from any ports; zero is dropped, order and duplicates do not matter.
    pub fn from_ports(ports: impl IntoIterator<Item = u16>) -> Self {
        let mut ports: Vec<u16> = ports.into_iter().filter(|p| *p != 0).collect();
        ports.sort_unstable();
        ports.dedup();
        Self { ports }
    }

    /// Builds a set from inclusive ranges. Overlaps are merged before anything is expanded, so
    /// a spec that repeats `-` thousands of times costs what one `-` does (expanding each range
    /// first took 128 KiB per item: an 80 KB `-p` needed gigabytes).
    fn from_ranges(mut ranges: Vec<(u16, u16)>) -> Self {
        ranges.sort_unstable();
        let mut ports: Vec<u16> = Vec::new();
        for (lo, hi) in ranges {
            // Ranges come in order of their start: skip what the previous ones already cover.
            let lo = match ports.last() {
                Some(&last) if last >= lo => match last.checked_add(1) {
                    Some(next) => next,
                    None => break,
                },
                _ => lo,
            };
            if lo <= hi {
                ports.extend(lo..=hi);
            }
        }
        Self { ports }
    }

    pub fn len(&self) -> usize {
        self.ports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }

    pub fn contains(&self, port: u16) -> bool {
        self.ports.binary_search(&port).is_ok()
    }

    /// The ports in ascending order.
    pub fn as_slice(&self) -> &[u16] {
        &self.ports
    }

    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.ports.iter().copied()
    }

    /// The union of two sets.
    pub fn union(&self, other: &PortSet) -> PortSet {
        Self::from_ports(self.iter().chain(other.iter()))
    }
}

/// The `n` most frequently open TCP ports, most frequent first.
pub fn top_ports(n: usize) -> Result<Vec<u16>, ModelError> {
    let ranked = ranked_ports();
    if n == 0 || n > ranked.len() {
        return Err(ModelError::BadTopPorts {
            requested: n,
            available: ranked.len(),
        });
    }
    Ok(ranked.into_iter().take(n).collect())
}

/// The service IANA registered for a TCP port (`22` → `ssh`, `3389` → `ms-wbt-server`), from
/// the table in `data/services-tcp.txt`: the name a port gets before anything was asked of it.
pub fn tcp_service_name(port: u16) -> Option<&'static str> {
    static TABLE: LazyLock<Vec<(u16, &'static str)>> = LazyLock::new(|| {
        SERVICES_FILE
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (port, name) = l.split_once(' ')?;
                Some((port.parse().ok()?, name))
            })
            .collect()
    });
    TABLE
        .binary_search_by_key(&port, |(p, _)| *p)
        .ok()
        .map(|i| TABLE[i].1)
}

fn ranked_ports() -> Vec<u16> {
    TOP_PORTS_FILE
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.parse().ok())
        .collect()
}

fn parse_port(input: &str, text: &str) -> Result<u16, ModelError> {
    let value: u32 = text
        .trim()
        .parse()
        .map_err(|_| ModelError::ports(input, format!("{text:?} is not a port number")))?;
    match u16::try_from(value) {
        Ok(0) => Err(ModelError::ports(input, "port 0 cannot be scanned")),
        Ok(p) => Ok(p),
        Err(_) => Err(ModelError::ports(
            input,
            format!("{value} is above the highest port, 65535"),
        )),
    }
}

impl FromStr for PortSet {
    type Err = ModelError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let spec = input.trim();
        if spec.is_empty() {
            return Err(ModelError::ports(input, "empty"));
        }
        let mut ranges = Vec::new();
        for item in spec.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(ModelError::ports(input, "empty item between commas"));
            }
            let (lo, hi) = match item.split_once('-') {
                None => {
                    let p = parse_port(input, item)?;
                    (p, p)
                }
                Some((lo, hi)) => {
                    let lo = if lo.trim().is_empty() {
                        1
                    } else {
                        parse_port(input, lo)?
                    };
                    let hi = if hi.trim().is_empty() {
                        u16::MAX
                    } else {
                        parse_port(input, hi)?
                    };
                    if lo > hi {
                        return Err(ModelError::ports(
                            input,
                            format!("range {item:?} runs backwards"),
                        ));
                    }
                    (lo, hi)
                }
            };
            ranges.push((lo, hi));
        }
        Ok(Self::from_ranges(ranges))
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut i = 0;
        while i < self.ports.len() {
            let start = self.ports[i];
            let mut end = start;
            while i + 1 < self.ports.len() && self.ports[i + 1] == end.wrapping_add(1) {
                i += 1;
                end = self.ports[i];
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
            i += 1;
        }
        Ok(())
    }
}

impl TryFrom<String> for PortSet {
    type Error = ModelError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<PortSet> for String {
    fn from(value: PortSet) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_lists_and_ranges() {
        let set: PortSet = "22,80,8000-8003, 443".parse().unwrap();
        assert_eq!(set.as_slice(), &[22, 80, 443, 8000, 8001, 8002, 8003]);
        assert_eq!(set.to_string(), "22,80,443,8000-8003");
    }

    #[test]
    fn dash_alone_means_every_port() {
        let set: PortSet = "-".parse().unwrap();
        assert_eq!(set.len(), 65535);
        assert_eq!(set.to_string(), "1-65535");
    }

    #[test]
    fn open_ended_ranges() {
        assert_eq!("65530-".parse::<PortSet>().unwrap().len(), 6);
        assert_eq!("-3".parse::<PortSet>().unwrap().as_slice(), &[1, 2, 3]);
    }

    #[test]
    fn refuses_bad_specs_with_a_reason() {
        for bad in ["", "0", "70000", "80-22", "http", "22,,80", "1-2-3"] {
            let err = bad.parse::<PortSet>().unwrap_err();
            assert!(
                matches!(err, ModelError::BadPortSpec { .. }),
                "{bad:?} gave {err:?}"
            );
        }
    }

    /// Found by fuzz/fuzz_targets/model_ports.rs: an 80 KB spec of 40,000 `-` ran out of the
    /// fuzzer's 2 GiB, as every item was expanded to 65,535 ports before deduplication. The set
    /// may now hold at most twice the port range, however many items repeat it.
    #[test]
    fn repeated_ranges_do_not_multiply_memory() {
        let bound = 2 * usize::from(u16::MAX);
        let set: PortSet = vec!["-"; 1_000].join(",").parse().unwrap();
        assert_eq!(set, PortSet::all());
        assert!(set.ports.capacity() <= bound, "{}", set.ports.capacity());
        let set: PortSet = vec!["1-1000,500-2000,65535"; 1_000]
            .join(",")
            .parse()
            .unwrap();
        assert_eq!(set.to_string(), "1-2000,65535");
        assert!(set.ports.capacity() <= bound, "{}", set.ports.capacity());
    }

    #[test]
    fn overlapping_and_nested_ranges_merge() {
        let set: PortSet = "100-200,150,120-130,190-210,65535,65530-,1-3,2"
            .parse()
            .unwrap();
        assert_eq!(set.to_string(), "1-3,100-210,65530-65535");
    }

    #[test]
    fn services_table_names_registered_ports() {
        assert_eq!(tcp_service_name(22), Some("ssh"));
        assert_eq!(tcp_service_name(80), Some("http"));
        assert_eq!(tcp_service_name(3389), Some("ms-wbt-server"));
        assert_eq!(tcp_service_name(65535), None);
        let names = SERVICES_FILE.lines().filter(|l| !l.starts_with('#'));
        let ports: Vec<u16> = names
            .map(|l| {
                let (port, name) = l.split_once(' ').unwrap();
                assert!(
                    !name.is_empty() && !name.contains(char::is_whitespace),
                    "{l}"
                );
                port.parse().unwrap()
            })
            .collect();
        assert!(
            ports.windows(2).all(|w| w[0] < w[1]),
            "sorted, one name a port"
        );
        assert!(ports.len() > 5_000);
    }

    #[test]
    fn top_ports_follow_the_shipped_ranking() {
        let top = top_ports(5).unwrap();
        assert_eq!(top, vec![80, 23, 443, 21, 22]);
        assert_eq!(top_ports(1000).unwrap().len(), 1000);
        assert!(top_ports(0).is_err());
        assert!(top_ports(1_000_000).is_err());
    }

    proptest! {
        #[test]
        fn display_round_trips(ports in proptest::collection::vec(1u16.., 0..200)) {
            let set = PortSet::from_ports(ports);
            prop_assume!(!set.is_empty());
            let again: PortSet = set.to_string().parse().unwrap();
            prop_assert_eq!(set, again);
        }

        #[test]
        fn ranges_merge_to_the_expanded_ports(
            ranges in proptest::collection::vec((1u16.., 0u16..300), 1..20)
        ) {
            let ranges: Vec<(u16, u16)> =
                ranges.iter().map(|&(lo, len)| (lo, lo.saturating_add(len))).collect();
            let spec = ranges
                .iter()
                .map(|(lo, hi)| format!("{lo}-{hi}"))
                .collect::<Vec<_>>()
                .join(",");
            let expanded = PortSet::from_ports(ranges.iter().flat_map(|&(lo, hi)| lo..=hi));
            prop_assert_eq!(spec.parse::<PortSet>().unwrap(), expanded);
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<PortSet>();
        }
    }
}
