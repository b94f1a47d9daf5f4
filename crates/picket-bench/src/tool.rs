//! The scanners measured, how each is invoked, and how its output is read.

use std::ffi::OsStr;
use std::fmt;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use picket_lab::{Lab, Target};
use serde_json::Value;

use crate::BenchError;
use crate::parse::{self, Report};

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
    /// The target's IPv4 address.
    pub address: &'a str,
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

    /// The arguments for one run, all 65,535 ports of one target.
    pub fn args(self, at: &Invocation<'_>) -> Vec<String> {
        let args: Vec<&str> = match self {
            Tool::Picket => vec!["scan", at.address, "-p-", "--format", "json", "--db", at.db],
            Tool::Nmap | Tool::NmapSyn => vec![
                if self == Tool::Nmap { "-sT" } else { "-sS" },
                "-T4",
                "-p-",
                "-n",
                "-Pn",
                at.address,
                "-oX",
                "-",
            ],
            Tool::Masscan => {
                return [
                    at.address,
                    "-p1-65535",
                    "--rate",
                    &MASSCAN_RATE.to_string(),
                    "--wait",
                    &MASSCAN_WAIT_SECS.to_string(),
                    "--adapter",
                    at.interface,
                    "--router-mac",
                    at.target_mac,
                    "-oX",
                    "-",
                ]
                .map(str::to_owned)
                .to_vec();
            }
            Tool::Rustscan => vec!["-a", at.address, "-r", "1-65535", "-g", "-n"],
        };
        args.into_iter().map(str::to_owned).collect()
    }

    /// The command line with placeholders, for the results' notes.
    pub fn command_line(self) -> String {
        let at = Invocation {
            address: "ADDR",
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
                .map(|t| format!("{t}: {}", t.command_line()))
                .join("\n")
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
