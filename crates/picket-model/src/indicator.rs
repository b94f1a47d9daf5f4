//! Threat-intelligence indicators: one network named by one feed, with what the feed said about it.
//!
//! Every feed format (FireHOL netsets, Spamhaus DROP, IPsum, STIX, MISP, Zeek intel ...) is parsed
//! into these types before anything else sees it, so that the lookup table, the alert builder and
//! the store speak one shape.

use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// One network listed by one feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    /// The listed network; a single address is a /32 (IPv4) or /128 (IPv6).
    pub network: IpNet,
    /// The name the feed was registered under (`picket intel add NAME FILE`).
    pub feed: String,
    /// The feed's own weight for this entry when it gives one (IPsum: the number of lists that
    /// carry the address; STIX: `confidence`). Not comparable across feeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    /// What kind of threat the feed says this is (`attacks`, `malware`, `anonymizers` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Free text from the feed: a Spamhaus SBL id, a MISP comment, a Tor relay fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Indicator {
    /// An indicator with only its network and feed; the other fields start empty.
    pub fn new(network: IpNet, feed: impl Into<String>) -> Self {
        Self {
            network,
            feed: feed.into(),
            score: None,
            first_seen: None,
            last_seen: None,
            category: None,
            comment: None,
        }
    }
}

/// The file formats Picket reads feeds from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedFormat {
    /// FireHOL `.netset` / `.ipset`: one address or CIDR a line under a `# Key : value` header.
    Firehol,
    /// Spamhaus DROP text: `CIDR ; SBLnnn`, comments after `;`.
    SpamhausDrop,
    /// Spamhaus DROP JSON: one object a line (`cidr`, `sblid`, `rir`) and a metadata line.
    SpamhausJson,
    /// IPsum: `IP<TAB>number of lists`.
    Ipsum,
    /// One address or CIDR a line, `#` and `;` comments.
    Plain,
    /// The Tor project's `exit-addresses` (ExitNode / Published / LastStatus / ExitAddress).
    TorExits,
    /// A STIX 2.1 bundle of `indicator` objects with `ipv4-addr` / `ipv6-addr` patterns.
    Stix,
    /// MISP attributes exported as CSV (`uuid,event_id,category,type,value,...`).
    MispCsv,
    /// MISP attributes as JSON (`{"response":{"Attribute":[...]}}`).
    MispJson,
    /// Zeek Intel framework TSV (`#fields indicator indicator_type meta.source ...`).
    ZeekIntel,
}

impl FeedFormat {
    pub const ALL: [FeedFormat; 10] = [
        FeedFormat::Firehol,
        FeedFormat::SpamhausDrop,
        FeedFormat::SpamhausJson,
        FeedFormat::Ipsum,
        FeedFormat::Plain,
        FeedFormat::TorExits,
        FeedFormat::Stix,
        FeedFormat::MispCsv,
        FeedFormat::MispJson,
        FeedFormat::ZeekIntel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FeedFormat::Firehol => "firehol",
            FeedFormat::SpamhausDrop => "spamhaus-drop",
            FeedFormat::SpamhausJson => "spamhaus-json",
            FeedFormat::Ipsum => "ipsum",
            FeedFormat::Plain => "plain",
            FeedFormat::TorExits => "tor-exits",
            FeedFormat::Stix => "stix",
            FeedFormat::MispCsv => "misp-csv",
            FeedFormat::MispJson => "misp-json",
            FeedFormat::ZeekIntel => "zeek-intel",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Guesses a feed's format from its first bytes (a few KiB are plenty) and its file name.
    ///
    /// The content decides first, because feeds are often saved under names that say nothing
    /// (`drop.txt`, `download`); the file name settles what the content leaves open. `None`
    /// when nothing looks like a feed Picket reads: the caller asks the user to name the format.
    pub fn detect(head: &[u8], file_name: &str) -> Option<Self> {
        // A cut in the middle of a multi-byte character at the end of `head` must not hide the rest.
        let text = match std::str::from_utf8(head) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
        };
        let text = text.trim_start_matches('\u{feff}');
        let name = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
        let name = name.to_ascii_lowercase();
        let trimmed = text.trim_start();

        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            return detect_json(trimmed);
        }
        if text.contains("#fields") && text.contains("indicator_type") {
            return Some(FeedFormat::ZeekIntel);
        }
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let first = lines.clone().next().unwrap_or_default();
        if first.starts_with("ExitNode ") {
            return Some(FeedFormat::TorExits);
        }
        let lower_first = first.to_ascii_lowercase();
        if lower_first.contains("uuid") && lower_first.contains(",type,") {
            return Some(FeedFormat::MispCsv);
        }
        if text.contains("Generated by FireHOL")
            || text.contains(" hash:net ipset")
            || text.contains(" hash:ip ipset")
            || name.ends_with(".netset")
            || name.ends_with(".ipset")
        {
            return Some(FeedFormat::Firehol);
        }
        if text.contains("# IPsum") {
            return Some(FeedFormat::Ipsum);
        }
        if text.starts_with("; Spamhaus") || text.contains("; SBL") {
            return Some(FeedFormat::SpamhausDrop);
        }
        let first_data = lines.find(|l| !l.starts_with('#') && !l.starts_with(';'));
        match first_data {
            Some(line) => {
                let mut fields = line.split('\t');
                let addr = fields.next().unwrap_or_default();
                let count = fields.next();
                if is_net(addr) && count.is_some_and(|c| c.trim().parse::<u32>().is_ok()) {
                    return Some(FeedFormat::Ipsum);
                }
                let token = line
                    .split(|c: char| c.is_whitespace() || c == '#' || c == ';')
                    .next()
                    .unwrap_or_default();
                is_net(token).then_some(FeedFormat::Plain)
            }
            None if name.contains("exit-addresses") => Some(FeedFormat::TorExits),
            None if name.ends_with(".intel") => Some(FeedFormat::ZeekIntel),
            None => None,
        }
    }
}

fn is_net(s: &str) -> bool {
    s.parse::<IpNet>().is_ok() || s.parse::<std::net::IpAddr>().is_ok()
}

/// Tells the JSON formats apart by the keys they must carry.
fn detect_json(text: &str) -> Option<FeedFormat> {
    let has = |key: &str| text.contains(&format!("\"{key}\""));
    if has("cidr") && has("sblid") {
        Some(FeedFormat::SpamhausJson)
    } else if has("Attribute") || has("response") || has("Event") || has("Orgc") {
        // `Orgc`: a MISP feed's manifest, which the MISP parser explains it cannot load.
        Some(FeedFormat::MispJson)
    } else if has("objects") || has("spec_version") || text.contains("\"bundle\"") {
        Some(FeedFormat::Stix)
    } else {
        None
    }
}

impl fmt::Display for FeedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a feed says about itself (from its header or metadata record), with the name and format
/// Picket loaded it under. Fields the format does not carry stay empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedMeta {
    /// The name the feed was registered under; every indicator of the feed carries it.
    pub name: String,
    pub format: FeedFormat,
    /// The name the file gives itself (FireHOL's second header line, `firehol_level1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_name: Option<String>,
    /// Free text describing the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the list comes from (FireHOL `# Source URL` / `# List source URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// When this file was written (FireHOL `# This File Date`, IPsum `# Last update`, Spamhaus
    /// `; Last-Modified` or the JSON metadata timestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_date: Option<Timestamp>,
    /// When the upstream source was last changed (FireHOL `# Source File Date`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_file_date: Option<Timestamp>,
    /// The feed-wide category, given to every indicator that has none of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintainer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintainer_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_frequency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// How many entries the header says the file holds (FireHOL `# Entries : 6273 subnets`,
    /// Spamhaus JSON `records`): compared with what was read, it shows a truncated download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stated_entries: Option<u64>,
    /// How many single addresses the header says the entries cover (FireHOL `unique IPs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stated_unique_ips: Option<u64>,
}

impl FeedMeta {
    /// Metadata with only the name and format; parsers fill in what their header says.
    pub fn new(name: impl Into<String>, format: FeedFormat) -> Self {
        Self {
            name: name.into(),
            format,
            header_name: None,
            description: None,
            source_url: None,
            file_date: None,
            source_file_date: None,
            category: None,
            maintainer: None,
            maintainer_url: None,
            update_frequency: None,
            version: None,
            stated_entries: None,
            stated_unique_ips: None,
        }
    }
}

/// A registered feed: its metadata, how many indicators it holds, when it was loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedSummary {
    pub name: String,
    pub format: FeedFormat,
    pub meta: FeedMeta,
    pub indicators: u64,
    pub loaded_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in FeedFormat::ALL {
            assert_eq!(FeedFormat::parse(f.as_str()), Some(f));
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str());
        }
        assert_eq!(FeedFormat::parse("netset"), None);
    }

    #[test]
    fn detects_each_format_from_content() {
        let cases: [(&str, &str, FeedFormat); 14] = [
            (
                "#\n# firehol_level1\n#\n# ipv4 hash:net ipset\n#\n1.2.3.0/24\n",
                "x",
                FeedFormat::Firehol,
            ),
            ("1.2.3.4\n", "level1.netset", FeedFormat::Firehol),
            (
                "; Spamhaus DROP List 2024/05/14\n1.10.16.0/20 ; SBL256894\n",
                "drop.txt",
                FeedFormat::SpamhausDrop,
            ),
            (
                "{\"cidr\":\"1.10.16.0/20\",\"sblid\":\"SBL256894\",\"rir\":\"apnic\"}\n",
                "drop_v4.json",
                FeedFormat::SpamhausJson,
            ),
            (
                "# IPsum Threat Intelligence Feed\n1.2.3.4\t3\n",
                "ipsum.txt",
                FeedFormat::Ipsum,
            ),
            ("1.2.3.4\t3\n", "x", FeedFormat::Ipsum),
            (
                "# my list\n1.2.3.4 # seen\n2001:db8::/32\n",
                "x",
                FeedFormat::Plain,
            ),
            (
                "ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E\nPublished 2016-10-30 08:32:37\n",
                "x",
                FeedFormat::TorExits,
            ),
            (
                "{\"type\": \"bundle\", \"id\": \"bundle--1\", \"objects\": []}",
                "x",
                FeedFormat::Stix,
            ),
            (
                "uuid,event_id,category,type,value,comment,to_ids,date\n",
                "x",
                FeedFormat::MispCsv,
            ),
            (
                "{\"response\": {\"Attribute\": []}}",
                "x",
                FeedFormat::MispJson,
            ),
            ("{\"Event\": {\"info\": \"x\"}}", "x", FeedFormat::MispJson),
            (
                "{\"5a1d\": {\"info\": \"x\", \"Orgc\": {}}}",
                "x",
                FeedFormat::MispJson,
            ),
            (
                "#fields\tindicator\tindicator_type\tmeta.source\n1.2.3.4\tIntel::ADDR\tx\n",
                "x",
                FeedFormat::ZeekIntel,
            ),
        ];
        for (head, name, want) in cases {
            assert_eq!(
                FeedFormat::detect(head.as_bytes(), name),
                Some(want),
                "{head:?}"
            );
        }
    }

    #[test]
    fn unknown_content_is_not_guessed() {
        assert_eq!(FeedFormat::detect(b"hello world\n", "notes.txt"), None);
        assert_eq!(FeedFormat::detect(b"{\"a\": 1}", "x.json"), None);
        assert_eq!(FeedFormat::detect(b"", "x"), None);
        assert_eq!(
            FeedFormat::detect(b"", "exit-addresses"),
            Some(FeedFormat::TorExits)
        );
        // A head cut inside a multi-byte character still detects from what came before.
        assert_eq!(
            FeedFormat::detect("1.2.3.4 # caf\u{e9}".as_bytes()[..14].as_ref(), "x"),
            Some(FeedFormat::Plain)
        );
    }

    #[test]
    fn indicator_json_leaves_out_empty_fields() {
        let mut i = Indicator::new("192.0.2.0/24".parse().unwrap(), "test");
        i.score = Some(3.0);
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"network": "192.0.2.0/24", "feed": "test", "score": 3.0})
        );
        let back: Indicator = serde_json::from_value(v).unwrap();
        assert_eq!(back, i);
    }
}
