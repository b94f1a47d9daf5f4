//! The scanners measured, how each is invoked, and how its output is read.

use std::ffi::OsStr;
use std::fmt;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use picket_lab::{Lab, Target};
use serde_json::Value;

use crate::parse::{self, Report};
use crate::scenario::Ports;
use crate::{BenchError, Scenario};

/// masscan's packet rate, as in the issue's orientation numbers.
pub const MASSCAN_RATE: u32 = 10_000;
/// Seconds masscan waits for late answers after its last probe (its default of 10 is meant for
/// the Internet; the lab's round trip is well under a millisecond).
pub const MASSCAN_WAIT_SECS: u32 = 2;

/// One scanner, with the settings it is measured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Tool {
    /// `picket scan ADDR -p- --format json`, this project's release binary.
    Picket,
    /// Nmap's connect scan (`-sT -T4`): the fair peer for a connect scanner.
    Nmap,
    /// Nmap's SYN scan (`-sS -T4`, needs root): what Nmap users run.
    NmapSyn,
    /// masscan at 10,000 packets per second, on the scanner's veth with its own TCP stack.
    Masscan,
    /// RustScan's connect scan with its defaults (batch 4,500, timeout 1.5 s, one try).
    Rustscan,
}

/// Where one run's tool is pointed.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    /// The targets: IPv4 addresses or a CIDR.
    pub targets: &'a [String],
    /// The ports scanned.
    pub ports: Ports,
    /// Whether the tool does its own host discovery first (else Nmap gets `-Pn`).
    pub discovery: bool,
    /// For [`Ports::Top`]: those ports, comma-separated. RustScan's `--top` only reads them
    /// from its configuration file, which `-n` (no configuration) skips, so it gets the list.
    pub top_list: &'a str,
    /// The scanner namespace's interface towards the target (masscan sends on it).
    pub interface: &'a str,
    /// The target's MAC address (masscan's `--router-mac`: the target is on-link).
    pub target_mac: &'a str,
    /// A fresh database file for Picket.
    pub db: &'a str,
}

impl Tool {
    /// Every tool, in the order the table lists them.
    pub const ALL: [Tool; 5] = [
        Tool::Picket,
        Tool::Nmap,
        Tool::NmapSyn,
        Tool::Masscan,
        Tool::Rustscan,
    ];

    /// The name used on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Picket => "picket",
            Tool::Nmap => "nmap",
            Tool::NmapSyn => "nmap-syn",
            Tool::Masscan => "masscan",
            Tool::Rustscan => "rustscan",
        }
    }

    /// The program looked up on `PATH` (Picket's is given as a path instead).
    pub fn program(self) -> &'static str {
        match self {
            Tool::Picket => "picket",
            Tool::Nmap | Tool::NmapSyn => "nmap",
            Tool::Masscan => "masscan",
            Tool::Rustscan => "rustscan",
        }
    }

    /// How to get the program when it is missing.
    pub fn install_hint(self) -> &'static str {
        match self {
            Tool::Picket => "cargo build --release -p picket",
            Tool::Nmap | Tool::NmapSyn => "apt-get install -y nmap",
            Tool::Masscan => "apt-get install -y masscan",
            // Not packaged by Debian; crates.io carries it.
            Tool::Rustscan => "cargo install rustscan --locked",
        }
    }

    /// What a reader of the results should know about how the tool was run.
    pub fn note(self) -> &'static str {
        match self {
            Tool::Picket => "this checkout's release build, defaults (timing found by the engine)",
            Tool::Nmap => "connect scan, like Picket and RustScan",
            Tool::NmapSyn => "raw SYN scan (root)",
            Tool::Masscan => {
                "`--wait 2` instead of 10 (the lab's round trip is sub-millisecond); while it \
                 runs, a UDP datagram crosses the link every 100 ms, because its libpcap receive \
                 loop only notices that the scan is over when a packet arrives"
            }
            Tool::Rustscan => {
                "not packaged by Debian: installed from crates.io \
                 (`cargo install rustscan --locked`); its defaults: batch 4,500, 1.5 s timeout, \
                 one try"
            }
        }
    }

    /// Why the tool cannot take part in `scenario`, if it cannot.
    pub fn unsupported(self, scenario: Scenario) -> Option<&'static str> {
        (self == Tool::Masscan && scenario.multi_host()).then_some(
            "not applicable: masscan sends every probe to one --router-mac on one adapter, \
             so it cannot scan several directly attached hosts",
        )
    }

    /// The arguments for one run.
    pub fn args(self, at: &Invocation<'_>) -> Vec<String> {
        let owned = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        let ports = match (self, at.ports) {
            (Tool::Rustscan, Ports::All) => owned(&["-r", "1-65535"]),
            (Tool::Rustscan, Ports::Top(_)) => owned(&["-p", at.top_list]),
            (Tool::Rustscan, Ports::Range(first, last)) => {
                vec!["-r".to_owned(), format!("{first}-{last}")]
            }
            (Tool::Masscan, Ports::All) => owned(&["-p1-65535"]),
            (Tool::Masscan, Ports::Range(first, last)) => vec![format!("-p{first}-{last}")],
            (_, Ports::All) => owned(&["-p-"]),
            (_, Ports::Top(n)) => vec!["--top-ports".to_owned(), n.to_string()],
            (_, Ports::Range(first, last)) => vec!["-p".to_owned(), format!("{first}-{last}")],
        };
        let targets = at.targets.to_vec();
        match self {
            Tool::Picket => [
                owned(&["scan"]),
                targets,
                ports,
                owned(&["--format", "json", "--db", at.db]),
            ]
            .concat(),
            Tool::Nmap | Tool::NmapSyn => {
                let scan = if self == Tool::Nmap { "-sT" } else { "-sS" };
                let discovery: &[&str] = if at.discovery {
                    &["-n"]
                } else {
                    &["-n", "-Pn"]
                };
                [
                    owned(&[scan, "-T4"]),
                    ports,
                    owned(discovery),
                    targets,
                    owned(&["-oX", "-"]),
                ]
                .concat()
            }
            Tool::Masscan => [
                targets,
                ports,
                vec![
                    "--rate".to_owned(),
                    MASSCAN_RATE.to_string(),
                    "--wait".to_owned(),
                    MASSCAN_WAIT_SECS.to_string(),
                ],
                owned(&[
                    "--adapter",
                    at.interface,
                    "--router-mac",
                    at.target_mac,
                    "-oX",
                    "-",
                ]),
            ]
            .concat(),
            Tool::Rustscan => [
                vec!["-a".to_owned(), at.targets.join(",")],
                ports,
                owned(&["-g", "-n"]),
            ]
            .concat(),
        }
    }

    /// The command line for `scenario` with placeholders, for the results' notes.
    pub fn command_line(self, scenario: Scenario) -> String {
        let targets = match scenario {
            Scenario::Sparse26 => "CIDR",
            Scenario::Group => "ADDR...",
            _ => "ADDR",
        };
        let at = Invocation {
            targets: &[targets.to_owned()],
            ports: scenario.ports(),
            discovery: scenario.multi_host(),
            top_list: "TOP_PORTS_LIST",
            interface: "VETH",
            target_mac: "TARGET_MAC",
            db: "TMP/picket.db",
        };
        let mut words = vec![self.program().to_owned()];
        words.extend(self.args(&at));
        words.join(" ")
    }

    /// masscan reads answers with libpcap, whose receive loop only looks at its stop flag when
    /// a packet arrives: on a link that falls silent after the scan it waits for ever. A
    /// datagram across the link every 100 ms lets it end.
    pub fn needs_keepalive(self) -> bool {
        self == Tool::Masscan
    }

    /// The ports the tool reported, from its standard output.
    pub fn parse(self, stdout: &[u8]) -> Result<Report, BenchError> {
        match self {
            Tool::Picket => parse::picket_json(stdout),
            Tool::Nmap | Tool::NmapSyn => parse::nmap_xml("nmap", stdout),
            Tool::Masscan => parse::nmap_xml("masscan", stdout),
            Tool::Rustscan => parse::rustscan_greppable(stdout),
        }
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `PROGRAM --version`'s first line, without a trailing `( URL )`; `None` when the program
/// does not run, which is how a missing tool is noticed.
pub fn version(program: impl AsRef<OsStr>) -> Option<String> {
    let out = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = [out.stdout, out.stderr].concat();
    version_line(&String::from_utf8_lossy(&text))
}

/// The first non-empty line of `text`, cut before ` (`.
fn version_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line.split(" (").next().unwrap_or(line).trim();
    Some(line.to_owned())
}

/// The scanner namespace's interface towards `target` and the target's MAC address.
pub fn link_of(lab: &Lab, target: &Target) -> Result<(String, String), BenchError> {
    let interface = ip_json(lab.scanner_command("ip").args(["-j", "-4", "addr", "show"]))
        .and_then(|doc| interface_with_address(&doc, target.scanner_address_v4()))?;
    let mac = ip_json(target.command("ip").args(["-j", "link", "show", "eth0"]))
        .and_then(|doc| first_link_address(&doc))?;
    Ok((interface, mac))
}

fn ip_json(command: &mut Command) -> Result<(String, Value), BenchError> {
    let line = format!("{command:?}");
    let out = command.output().map_err(|source| BenchError::Spawn {
        command: line.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(BenchError::IpOutput {
            command: line,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    let doc = serde_json::from_slice(&out.stdout).map_err(|e| BenchError::IpOutput {
        command: line.clone(),
        detail: e.to_string(),
    })?;
    Ok((line, doc))
}

/// The `ifname` in `ip -j addr` output whose `addr_info` holds `address`.
fn interface_with_address(
    (command, doc): &(String, Value),
    address: Ipv4Addr,
) -> Result<String, BenchError> {
    let wanted = address.to_string();
    doc.as_array()
        .into_iter()
        .flatten()
        .find(|link| {
            link["addr_info"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["local"].as_str() == Some(wanted.as_str()))
        })
        .and_then(|link| link["ifname"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| BenchError::IpOutput {
            command: command.clone(),
            detail: format!("no interface has {wanted}"),
        })
}

/// The link-layer `address` of the first link in `ip -j link` output.
fn first_link_address((command, doc): &(String, Value)) -> Result<String, BenchError> {
    doc[0]["address"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| BenchError::IpOutput {
            command: command.clone(),
            detail: "no link address".to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn command_line_names_are_the_table_names() {
        for tool in Tool::ALL {
            assert_eq!(Tool::from_str(tool.name(), false).unwrap(), tool);
        }
    }

    #[test]
    fn command_lines_scan_every_port() {
        insta::assert_snapshot!(
            Tool::ALL
                .map(|t| format!("{t}: {}", t.command_line(Scenario::Clean)))
                .join("\n")
        );
    }

    #[test]
    fn multi_host_command_lines_discover_hosts_and_scan_the_scenario_ports() {
        let lines: Vec<String> = [Scenario::Sparse26, Scenario::Group]
            .into_iter()
            .flat_map(|s| {
                Tool::ALL
                    .into_iter()
                    .filter(move |t| t.unsupported(s).is_none())
                    .map(move |t| format!("{s} / {t}: {}", t.command_line(s)))
            })
            .collect();
        insta::assert_snapshot!(lines.join("\n"));
        let group = Invocation {
            targets: &["198.18.0.2".to_owned(), "198.18.1.2".to_owned()],
            ports: Ports::Top(1000),
            discovery: true,
            top_list: "80,23",
            interface: "",
            target_mac: "",
            db: "db",
        };
        let rustscan = Tool::Rustscan.args(&group);
        assert!(rustscan.contains(&"198.18.0.2,198.18.1.2".to_owned()));
        assert!(rustscan.contains(&"80,23".to_owned()));
        assert_eq!(
            Tool::Masscan.unsupported(Scenario::Group).is_some(),
            Tool::Masscan.unsupported(Scenario::Clean).is_none()
        );
    }

    #[test]
    fn masscan_link_comes_from_ip_json() {
        let addr = (
            "ip addr".to_owned(),
            serde_json::json!([
                {"ifname": "lo", "addr_info": [{"local": "127.0.0.1"}]},
                {"ifname": "veth0", "addr_info": [{"local": "198.18.0.1", "prefixlen": 24}]}
            ]),
        );
        assert_eq!(
            interface_with_address(&addr, Ipv4Addr::new(198, 18, 0, 1)).unwrap(),
            "veth0"
        );
        let err = interface_with_address(&addr, Ipv4Addr::new(198, 18, 1, 1)).unwrap_err();
        assert!(err.to_string().contains("198.18.1.1"), "{err}");

        let link = (
            "ip link".to_owned(),
            serde_json::json!([{"ifname": "eth0", "address": "fa:39:f5:ce:03:d1"}]),
        );
        assert_eq!(first_link_address(&link).unwrap(), "fa:39:f5:ce:03:d1");
        assert!(first_link_address(&("ip link".to_owned(), serde_json::json!([]))).is_err());
    }

    #[test]
    fn versions_drop_the_url() {
        assert_eq!(
            version_line("\nMasscan version 1.3.2 ( https://example.invalid )\nCompiled on: x\n")
                .as_deref(),
            Some("Masscan version 1.3.2")
        );
        assert_eq!(
            version_line("rustscan 2.4.1\n").as_deref(),
            Some("rustscan 2.4.1")
        );
        assert_eq!(version_line(" \n"), None);
        assert_eq!(version("/nonexistent/tool"), None);
    }
}
