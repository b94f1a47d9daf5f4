//! Reading `nft -j list table inet <table>`: the sets, their elements and the drop counters.
//!
//! Untrusted in the sense that another tool may have put anything into the table: every shape
//! nft prints for an element is read (address, prefix, range, each with or without a timeout),
//! and anything else is a [`Parse`](crate::RespondError::Parse) error naming the JSON path.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::RespondError;

/// What one `nft -j list table` showed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TableState {
    pub sets: Vec<SetState>,
    pub counters: Vec<CounterState>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SetState {
    pub name: String,
    /// `ipv4_addr`, or the JSON of a concatenated type (which picket never creates).
    pub kind: String,
    pub flags: Vec<String>,
    pub elements: Vec<Element>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CounterState {
    pub name: String,
    pub packets: u64,
    pub bytes: u64,
}

/// One set element: the interval `first..=last` (a CIDR when `net` is set), with the timeout
/// it was added with and the time left, as nft reports them (whole seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub first: IpAddr,
    pub last: IpAddr,
    pub net: Option<IpNet>,
    pub timeout: Option<Duration>,
    pub expires_in: Option<Duration>,
}

impl Element {
    /// How nft writes the element in a script: `10.0.0.5`, `10.0.0.0/24` or `10.0.0.1-10.0.0.9`.
    pub fn nft_text(&self) -> String {
        match self.net {
            Some(net) => crate::script::net_text(&net),
            None => format!("{}-{}", self.first, self.last),
        }
    }

    pub fn contains(&self, first: IpAddr, last: IpAddr) -> bool {
        self.first <= first && last <= self.last
    }

    pub fn overlaps(&self, first: IpAddr, last: IpAddr) -> bool {
        self.first <= last && first <= self.last
    }
}

#[derive(Deserialize)]
struct Listing {
    nftables: Vec<Item>,
}

/// Each item is an object with one key (`metainfo`, `table`, `set`, `chain`, `rule`, ...);
/// only sets and counters matter here, the rest is skipped.
#[derive(Deserialize)]
struct Item {
    set: Option<SetJson>,
    counter: Option<CounterJson>,
}

#[derive(Deserialize)]
struct SetJson {
    name: String,
    #[serde(rename = "type")]
    kind: serde_json::Value,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    elem: Vec<ElemJson>,
}

#[derive(Deserialize)]
struct CounterJson {
    name: String,
    packets: u64,
    bytes: u64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ElemJson {
    Timed { elem: TimedJson },
    Plain(ValJson),
}

#[derive(Deserialize)]
struct TimedJson {
    val: ValJson,
    timeout: Option<u64>,
    expires: Option<u64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ValJson {
    Addr(String),
    Prefix { prefix: PrefixJson },
    Range { range: (String, String) },
}

#[derive(Deserialize)]
struct PrefixJson {
    addr: String,
    len: u8,
}

/// Parses the JSON `command` printed. Errors name the command and the JSON path.
pub(crate) fn parse_table(json: &str, command: &str) -> Result<TableState, RespondError> {
    let parse_err = |path: String, message: String| RespondError::Parse {
        command: command.to_owned(),
        path,
        message,
    };
    let de = &mut serde_json::Deserializer::from_str(json);
    let listing: Listing = serde_path_to_error::deserialize(de)
        .map_err(|e| parse_err(e.path().to_string(), e.inner().to_string()))?;

    let mut state = TableState::default();
    for (i, item) in listing.nftables.into_iter().enumerate() {
        if let Some(counter) = item.counter {
            state.counters.push(CounterState {
                name: counter.name,
                packets: counter.packets,
                bytes: counter.bytes,
            });
        }
        let Some(set) = item.set else { continue };
        let mut elements = Vec::with_capacity(set.elem.len());
        for (j, elem) in set.elem.into_iter().enumerate() {
            let path = format!("nftables[{i}].set.elem[{j}]");
            elements.push(element(elem).map_err(|message| parse_err(path, message))?);
        }
        let kind = match set.kind {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        state.sets.push(SetState {
            name: set.name,
            kind,
            flags: set.flags,
            elements,
        });
    }
    Ok(state)
}

fn element(elem: ElemJson) -> Result<Element, String> {
    let (val, timeout, expires) = match elem {
        ElemJson::Timed { elem } => (elem.val, elem.timeout, elem.expires),
        ElemJson::Plain(val) => (val, None, None),
    };
    let addr = |s: &str| {
        s.parse::<IpAddr>()
            .map_err(|_| format!("{s:?} is not an IP address"))
    };
    let (first, last, net) = match val {
        ValJson::Addr(s) => {
            let ip = addr(&s)?;
            (ip, ip, Some(IpNet::from(ip)))
        }
        ValJson::Prefix { prefix } => {
            let ip = addr(&prefix.addr)?;
            let net = IpNet::new(ip, prefix.len)
                .map_err(|_| format!("prefix length {} is too long for {ip}", prefix.len))?
                .trunc();
            (net.network(), net.broadcast(), Some(net))
        }
        ValJson::Range { range: (a, b) } => {
            let (first, last) = (addr(&a)?, addr(&b)?);
            if first.is_ipv4() != last.is_ipv4() || first > last {
                return Err(format!("{a}-{b} is not a range"));
            }
            (first, last, None)
        }
    };
    Ok(Element {
        first,
        last,
        net,
        timeout: timeout.map(Duration::from_secs),
        expires_in: expires.map(Duration::from_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from nft 1.0.6 on Linux 6.18 (see tests/fixtures/README.md).
    const LISTING: &str = include_str!("../tests/fixtures/nft-list-table.json");

    fn parse(json: &str) -> Result<TableState, RespondError> {
        parse_table(json, "nft -j list table inet picket")
    }

    fn err_text(json: &str) -> String {
        parse(json).unwrap_err().to_string()
    }

    #[test]
    fn captured_listing_reads_sets_counters_and_every_element_shape() {
        let state = parse(LISTING).unwrap();
        let counters: Vec<_> = state
            .counters
            .iter()
            .map(|c| (c.name.as_str(), c.packets, c.bytes))
            .collect();
        assert_eq!(counters, [("dropped_v4", 2, 120), ("dropped_v6", 0, 0)]);

        let names: Vec<_> = state.sets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["blocked_v4", "blocked_v6", "other"]);
        let v4 = &state.sets[0];
        assert_eq!(v4.kind, "ipv4_addr");
        assert_eq!(v4.flags, ["interval", "timeout"]);
        let shown: Vec<_> = v4
            .elements
            .iter()
            .map(|e| {
                (
                    e.nft_text(),
                    e.timeout.map(|t| t.as_secs()),
                    e.expires_in.map(|t| t.as_secs()),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("10.5.5.0/24".to_owned(), None, None),
                (
                    "10.6.0.0/24".to_owned(),
                    Some(3_153_600_000),
                    Some(3_153_599_999)
                ),
                ("10.9.0.1-10.9.0.9".to_owned(), Some(3600), Some(3599)),
                ("10.11.0.1-10.11.0.9".to_owned(), None, None),
                ("10.12.0.7".to_owned(), Some(2), Some(1)),
                ("10.13.0.7".to_owned(), None, None),
            ]
        );
        let v6 = &state.sets[1];
        let shown: Vec<_> = v6.elements.iter().map(Element::nft_text).collect();
        assert_eq!(shown, ["2001:db8::5", "fd00::/8"]);
        // A set without flags, as CrowdSec's bouncer makes them.
        assert!(state.sets[2].flags.is_empty());
        assert!(state.sets[2].elements.is_empty());
    }

    #[test]
    fn ranges_and_prefixes_become_intervals() {
        let state = parse(LISTING).unwrap();
        let range = &state.sets[0].elements[2];
        assert_eq!(range.first, "10.9.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(range.last, "10.9.0.9".parse::<IpAddr>().unwrap());
        assert_eq!(range.net, None);
        let prefix = &state.sets[1].elements[1];
        assert_eq!(
            prefix.last,
            "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                .parse::<IpAddr>()
                .unwrap()
        );
    }

    #[test]
    fn empty_table_has_no_sets() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"table": {"family": "inet", "name": "picket", "handle": 2}}]}"#;
        assert_eq!(parse(json).unwrap(), TableState::default());
    }

    #[test]
    fn bad_input_is_an_error_with_its_path() {
        assert!(err_text("").contains("nft -j list table inet picket"));
        assert!(err_text(r#"{"nftables": 3}"#).contains("at nftables"));
        let bad_addr = r#"{"nftables": [{"set": {"name": "s", "type": "ipv4_addr", "elem": ["10.0.0.300"]}}]}"#;
        let text = err_text(bad_addr);
        assert!(
            text.contains("nftables[0].set.elem[0]") && text.contains("10.0.0.300"),
            "{text}"
        );
        let long = r#"{"nftables": [{"set": {"name": "s", "type": "ipv4_addr", "elem": [{"prefix": {"addr": "10.0.0.0", "len": 33}}]}}]}"#;
        assert!(err_text(long).contains("prefix length 33"));
        let backwards = r#"{"nftables": [{"set": {"name": "s", "type": "ipv4_addr", "elem": [{"range": ["10.0.0.9", "10.0.0.1"]}]}}]}"#;
        assert!(err_text(backwards).contains("not a range"));
        let mixed = r#"{"nftables": [{"set": {"name": "s", "type": "ipv4_addr", "elem": [{"range": ["10.0.0.1", "::1"]}]}}]}"#;
        assert!(err_text(mixed).contains("not a range"));
        let negative = r#"{"nftables": [{"set": {"name": "s", "type": "ipv4_addr", "elem": [{"elem": {"val": "10.0.0.1", "expires": -1}}]}}]}"#;
        assert!(err_text(negative).contains("nftables[0].set.elem"));
        let unknown = r#"{"nftables": [{"set": {"name": "s", "type": "ipv4_addr", "elem": [{"concat": ["a", 1]}]}}]}"#;
        assert!(err_text(unknown).contains("nftables[0].set.elem"));
    }

    #[test]
    fn concatenated_set_types_are_kept_as_json() {
        let json =
            r#"{"nftables": [{"set": {"name": "s", "type": ["ipv4_addr", "inet_service"]}}]}"#;
        assert_eq!(
            parse(json).unwrap().sets[0].kind,
            r#"["ipv4_addr","inet_service"]"#
        );
    }
}
