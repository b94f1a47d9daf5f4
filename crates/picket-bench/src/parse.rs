//! Reading each scanner's output into the ports it reported. The output is untrusted (a tool
//! killed mid-write leaves half a document): these functions return errors, never panic.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::Value;

use crate::BenchError;

/// What one scanner reported about its targets.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// (address, port) pairs reported open.
    pub open: BTreeSet<SocketAddr>,
    /// (address, port) pairs reported closed by name (tools that summarise closed ports list
    /// few or none).
    pub closed: BTreeSet<SocketAddr>,
    /// What else the tool said that a reader of the table should know.
    pub notes: Vec<String>,
}

impl Report {
    fn add(&mut self, state: Option<&str>, endpoint: SocketAddr) {
        match state {
            Some("open") => {
                self.open.insert(endpoint);
            }
            Some("closed") => {
                self.closed.insert(endpoint);
            }
            _ => {}
        }
    }
}

/// `picket scan --format json`: `hosts[]` with `address` and `ports[]` (`port`, `state`), and
/// per host its `state`, `interruptions` and `unprobed_count`. With several hosts, the host
/// states are counted in one note and other host notes start with the address.
///
/// ```
/// let doc = br#"{"hosts": [{"address": "198.18.0.2", "state": "up",
///                "ports": [{"port": 22, "state": "open"}],
///                "interruptions": [], "unprobed_count": 0}]}"#;
/// let report = picket_bench::parse::picket_json(doc).unwrap();
/// let open: Vec<String> = report.open.iter().map(|e| e.to_string()).collect();
/// assert_eq!(open, ["198.18.0.2:22"]);
/// ```
pub fn picket_json(bytes: &[u8]) -> Result<Report, BenchError> {
    const TOOL: &str = "picket";
    let missing = |field| BenchError::MissingField { tool: TOOL, field };
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|source| BenchError::Json { tool: TOOL, source })?;
    let hosts = doc["hosts"].as_array().ok_or(missing("hosts"))?;
    let mut report = Report::default();
    if hosts.is_empty() {
        report.notes.push("no host in the output".to_owned());
    }
    let mut states: Vec<(String, usize)> = Vec::new();
    let mut host_notes = Vec::new();
    for host in hosts {
        let address = host["address"]
            .as_str()
            .and_then(|a| a.parse::<IpAddr>().ok())
            .ok_or(missing("hosts[].address"))?;
        let ports = host["ports"].as_array().ok_or(missing("hosts[].ports"))?;
        for entry in ports {
            let port = entry["port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|&p| p != 0)
                .ok_or(missing("hosts[].ports[].port"))?;
            let state = entry["state"]
                .as_str()
                .ok_or(missing("hosts[].ports[].state"))?;
            report.add(Some(state), SocketAddr::new(address, port));
        }
        let state = host["state"].as_str().unwrap_or("up");
        match states.iter_mut().find(|(s, _)| s == state) {
            Some((_, n)) => *n += 1,
            None => states.push((state.to_owned(), 1)),
        }
        let mut notes = Vec::new();
        if let Some(interruptions) = host["interruptions"].as_array() {
            let resumed = interruptions
                .iter()
                .filter(|i| i["resumed"].as_bool() == Some(true))
                .count();
            match interruptions.len() {
                0 => {}
                n => notes.push(format!("{n} interruption(s) detected, {resumed} resumed")),
            }
        }
        if let Some(n) = host["unprobed_count"].as_u64().filter(|&n| n > 0) {
            notes.push(format!("{n} port(s) left unprobed"));
        }
        host_notes.push((address, state, notes));
    }
    if let [(_, state, notes)] = host_notes.as_mut_slice() {
        if *state != "up" {
            report.notes.push(format!("host reported {state}"));
        }
        report.notes.append(notes);
    } else if !host_notes.is_empty() {
        let counts: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
        report.notes.push(format!("hosts: {}", counts.join(", ")));
        for (address, _, notes) in host_notes {
            report
                .notes
                .extend(notes.into_iter().map(|n| format!("{address}: {n}")));
        }
    }
    Ok(report)
}

/// Nmap's XML (`-oX -`), which masscan also writes: `<host><address addr="A"
/// addrtype="ipv4"/>` (a `mac` address beside it is skipped), then `<port portid="N"><state
/// state="open"/>`. A `<finished exit="error" errormsg="...">` becomes a note.
///
/// ```
/// let xml = br#"<nmaprun><host><address addr="198.18.0.2" addrtype="ipv4"/>
///     <ports><port protocol="tcp" portid="80">
///     <state state="open" reason="syn-ack"/></port></ports></host></nmaprun>"#;
/// let report = picket_bench::parse::nmap_xml("nmap", xml).unwrap();
/// assert!(report.open.contains(&"198.18.0.2:80".parse().unwrap()));
/// ```
pub fn nmap_xml(tool: &'static str, bytes: &[u8]) -> Result<Report, BenchError> {
    let text = String::from_utf8_lossy(bytes);
    let mut reader = Reader::from_str(&text);
    let mut report = Report::default();
    // The address of the <host> element we are inside, once its <address> was read.
    let mut host: Option<IpAddr> = None;
    // The TCP endpoint whose <port> element we are inside, if any.
    let mut current: Option<SocketAddr> = None;
    loop {
        let position = reader.buffer_position();
        let event = reader.read_event().map_err(|source| BenchError::Xml {
            tool,
            position: reader.error_position(),
            source,
        })?;
        let attr = |e: &BytesStart<'_>, name: &str| -> Result<Option<String>, BenchError> {
            e.try_get_attribute(name)
                .map(|a| a.map(|a| a.value.into_owned()))
                .map_err(|source| BenchError::XmlAttribute {
                    tool,
                    position,
                    source,
                })
        };
        match event {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                "address" if attr(&e, "addrtype")?.is_none_or(|t| t != "mac") => {
                    let addr = attr(&e, "addr")?.unwrap_or_default();
                    let parsed = addr.parse::<IpAddr>().map_err(|_| BenchError::BadAddress {
                        tool,
                        line: line_of(&text, position),
                        value: addr.clone(),
                    })?;
                    host = Some(parsed);
                }
                "port" => {
                    let tcp = attr(&e, "protocol")?.is_none_or(|p| p == "tcp");
                    let id = attr(&e, "portid")?.unwrap_or_default();
                    let port = id.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| {
                        BenchError::BadPort {
                            tool,
                            line: line_of(&text, position),
                            value: id.clone(),
                        }
                    })?;
                    let address = host.ok_or(BenchError::MissingField {
                        tool,
                        field: "host/address",
                    })?;
                    current = tcp.then_some(SocketAddr::new(address, port));
                }
                "state" => {
                    if let Some(endpoint) = current {
                        report.add(attr(&e, "state")?.as_deref(), endpoint);
                    }
                }
                "finished" if attr(&e, "exit")?.is_some_and(|exit| exit != "success") => {
                    let message = attr(&e, "errormsg")?.unwrap_or_default();
                    report.notes.push(format!("{tool} error: {message}"));
                }
                _ => {}
            },
            Event::End(e) if e.name().as_ref() == "port" => current = None,
            Event::End(e) if e.name().as_ref() == "host" => host = None,
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(report)
}

/// RustScan's greppable output (`-g`): one line per host, `ADDRESS -> [P1,P2,...]`.
///
/// ```
/// let report = picket_bench::parse::rustscan_greppable(b"198.18.0.2 -> [22,80]\n").unwrap();
/// assert!(report.open.contains(&"198.18.0.2:80".parse().unwrap()));
/// ```
pub fn rustscan_greppable(bytes: &[u8]) -> Result<Report, BenchError> {
    const TOOL: &str = "rustscan";
    let text = String::from_utf8_lossy(bytes);
    let mut report = Report::default();
    for (index, line) in text.lines().enumerate() {
        let Some((address, list)) = line.split_once(" -> ") else {
            continue;
        };
        let address = address
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| BenchError::BadAddress {
                tool: TOOL,
                line: index + 1,
                value: address.to_owned(),
            })?;
        let list = list.trim().trim_start_matches('[').trim_end_matches(']');
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let port = item
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| BenchError::BadPort {
                    tool: TOOL,
                    line: index + 1,
                    value: item.to_owned(),
                })?;
            report.open.insert(SocketAddr::new(address, port));
        }
    }
    Ok(report)
}

/// The 1-based line of byte `position` in `text`.
fn line_of(text: &str, position: u64) -> usize {
    let end = usize::try_from(position)
        .unwrap_or(usize::MAX)
        .min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(set: &BTreeSet<SocketAddr>) -> Vec<String> {
        set.iter().map(SocketAddr::to_string).collect()
    }

    #[test]
    fn picket_json_reads_open_and_closed_ports_and_interruptions() {
        let doc = br#"{
            "hosts": [{
                "address": "198.18.0.2", "state": "up",
                "ports": [
                    {"port": 22, "state": "open"},
                    {"port": 23, "state": "closed"},
                    {"port": 25, "state": "filtered"},
                    {"port": 80, "state": "open"}
                ],
                "interruptions": [{"resumed": true}, {"resumed": false}],
                "unprobed_count": 7
            }]
        }"#;
        let report = picket_json(doc).unwrap();
        assert_eq!(ports(&report.open), ["198.18.0.2:22", "198.18.0.2:80"]);
        assert_eq!(ports(&report.closed), ["198.18.0.2:23"]);
        assert_eq!(
            report.notes,
            [
                "2 interruption(s) detected, 1 resumed",
                "7 port(s) left unprobed"
            ]
        );
    }

    #[test]
    fn picket_json_with_several_hosts_counts_states_and_names_hosts_in_notes() {
        let doc = br#"{"hosts": [
            {"address": "198.19.224.2", "state": "up", "ports": [{"port": 22, "state": "open"}],
             "interruptions": [{"resumed": true}], "unprobed_count": 0},
            {"address": "198.19.224.3", "state": "down", "ports": [],
             "interruptions": [], "unprobed_count": 0},
            {"address": "198.19.224.4", "state": "down", "ports": [],
             "interruptions": [], "unprobed_count": 0},
            {"address": "198.19.224.40", "state": "up", "ports": [{"port": 22, "state": "open"}],
             "interruptions": [], "unprobed_count": 3}
        ]}"#;
        let report = picket_json(doc).unwrap();
        assert_eq!(ports(&report.open), ["198.19.224.2:22", "198.19.224.40:22"]);
        assert_eq!(
            report.notes,
            [
                "hosts: 2 up, 2 down",
                "198.19.224.2: 1 interruption(s) detected, 1 resumed",
                "198.19.224.40: 3 port(s) left unprobed"
            ]
        );
    }

    #[test]
    fn picket_json_errors_name_the_field() {
        let err = picket_json(
            br#"{"hosts": [{"address": "198.18.0.2", "ports": [{"port": 70000, "state": "open"}]}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("hosts[].ports[].port"), "{err}");
        let err = picket_json(br#"{"hosts": [{"address": "x", "ports": []}]}"#).unwrap_err();
        assert!(err.to_string().contains("hosts[].address"), "{err}");
        assert!(matches!(
            picket_json(b"{\"hosts\": ["),
            Err(BenchError::Json { .. })
        ));
        assert!(matches!(
            picket_json(b"{}"),
            Err(BenchError::MissingField { field: "hosts", .. })
        ));
    }

    #[test]
    fn nmap_xml_reads_open_ports_only_from_tcp_port_states() {
        let xml = br#"<?xml version="1.0"?>
<nmaprun scanner="nmap">
<host><status state="up" reason="user-set"/>
<address addr="198.18.0.2" addrtype="ipv4"/>
<ports><extraports state="closed" count="65530"/>
<port protocol="tcp" portid="22"><state state="open" reason="syn-ack"/><service name="ssh"/></port>
<port protocol="tcp" portid="23"><state state="closed" reason="reset"/></port>
<port protocol="tcp" portid="24"><state state="filtered" reason="no-response"/></port>
<port protocol="udp" portid="53"><state state="open" reason="udp-response"/></port>
<port protocol="tcp" portid="65535"><state state="open" reason="syn-ack"/></port>
</ports></host>
<runstats><finished time="1" exit="success"/></runstats>
</nmaprun>"#;
        let report = nmap_xml("nmap", xml).unwrap();
        assert_eq!(ports(&report.open), ["198.18.0.2:22", "198.18.0.2:65535"]);
        assert_eq!(ports(&report.closed), ["198.18.0.2:23"]);
        assert!(report.notes.is_empty());
    }

    #[test]
    fn nmap_xml_keeps_hosts_apart_and_skips_mac_addresses() {
        let xml = br#"<nmaprun>
<host><status state="up" reason="arp-response"/>
<address addr="198.19.224.2" addrtype="ipv4"/><address addr="02:00:00:00:00:02" addrtype="mac"/>
<ports><port protocol="tcp" portid="22"><state state="open"/></port></ports></host>
<host><address addr="198.19.224.40" addrtype="ipv4"/>
<ports><port protocol="tcp" portid="80"><state state="open"/></port></ports></host>
</nmaprun>"#;
        let report = nmap_xml("nmap", xml).unwrap();
        assert_eq!(ports(&report.open), ["198.19.224.2:22", "198.19.224.40:80"]);
        let no_host =
            br#"<nmaprun><host><ports><port protocol="tcp" portid="22"/></ports></host></nmaprun>"#;
        let err = nmap_xml("nmap", no_host).unwrap_err();
        assert!(err.to_string().contains("host/address"), "{err}");
        let bad = b"<nmaprun><host>\n<address addr=\"nope\" addrtype=\"ipv4\"/></host></nmaprun>";
        let err = nmap_xml("nmap", bad).unwrap_err();
        assert!(
            matches!(err, BenchError::BadAddress { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn masscan_xml_lists_each_port_as_its_own_host() {
        let xml = br#"<?xml version="1.0"?>
<nmaprun scanner="masscan">
<host endtime="1"><address addr="198.18.0.2" addrtype="ipv4"/><ports><port protocol="tcp" portid="60000"><state state="open" reason="syn-ack" reason_ttl="64"/></port></ports></host>
<host endtime="2"><address addr="198.18.0.2" addrtype="ipv4"/><ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/></port></ports></host>
<host endtime="3"><address addr="198.18.0.2" addrtype="ipv4"/><ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/></port></ports></host>
</nmaprun>"#;
        let report = nmap_xml("masscan", xml).unwrap();
        assert_eq!(ports(&report.open), ["198.18.0.2:22", "198.18.0.2:60000"]);
    }

    #[test]
    fn nmap_errors_become_notes_and_bad_documents_errors() {
        let xml = br#"<nmaprun><runstats><finished exit="error" errormsg="pcap failed"/></runstats></nmaprun>"#;
        assert_eq!(
            nmap_xml("nmap", xml).unwrap().notes,
            ["nmap error: pcap failed"]
        );
        let bad_port = b"<nmaprun>\n<port protocol=\"tcp\" portid=\"http\"/></nmaprun>";
        let err = nmap_xml("nmap", bad_port).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(nmap_xml("nmap", b"<nmaprun><port></nmaprun>").is_err());
    }

    #[test]
    fn a_document_cut_short_keeps_what_it_had() {
        let xml = br#"<nmaprun><host><address addr="198.18.0.2" addrtype="ipv4"/><ports><port protocol="tcp" portid="80"><state state="open"/></port><port protoc"#;
        // A tool killed mid-write: either an error or the ports seen so far, never a panic.
        if let Ok(report) = nmap_xml("nmap", xml) {
            assert_eq!(ports(&report.open), ["198.18.0.2:80"]);
        }
    }

    #[test]
    fn rustscan_lines_are_read_and_junk_is_skipped() {
        let out = b"Open 198.18.0.2:22\n198.18.0.2 -> [22,80,65535]\n\n";
        assert_eq!(
            ports(&rustscan_greppable(out).unwrap().open),
            ["198.18.0.2:22", "198.18.0.2:80", "198.18.0.2:65535"]
        );
        let two = b"198.18.0.2 -> [22]\n198.18.1.2 -> [22]\n";
        assert_eq!(
            ports(&rustscan_greppable(two).unwrap().open),
            ["198.18.0.2:22", "198.18.1.2:22"]
        );
        assert_eq!(
            rustscan_greppable(b"198.18.0.2 -> []\n")
                .unwrap()
                .open
                .len(),
            0
        );
        let err = rustscan_greppable(b"198.18.0.2 -> [22,0]\n").unwrap_err();
        assert!(matches!(err, BenchError::BadPort { line: 1, .. }), "{err}");
        let err = rustscan_greppable(b"\nx -> [22]\n").unwrap_err();
        assert!(
            matches!(err, BenchError::BadAddress { line: 2, .. }),
            "{err}"
        );
    }
}
