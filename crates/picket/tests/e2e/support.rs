//! Running the binary and reading its JSON.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use picket_lab::Lab;
use serde_json::Value;

pub const PICKET: &str = env!("CARGO_BIN_EXE_picket");
const NMAP_DTD: &str = "/usr/share/nmap/nmap.dtd";

/// A temporary database for one test.
pub struct Db {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Db {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            path: dir.path().join("picket.db"),
            _dir: dir,
        }
    }

    pub fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

/// The path of a file in `tests/fixtures`.
pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

pub fn run(mut cmd: Command) -> Output {
    let out = cmd.output().unwrap();
    if !out.status.success() {
        eprintln!("stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    out
}

/// `picket ARGS` on this machine.
pub fn picket(args: &[&str]) -> Output {
    let mut cmd = Command::new(PICKET);
    cmd.args(args).env_remove("PICKET_DB");
    run(cmd)
}

/// Starts `picket detect --follow LOG --format ndjson` with its standard output as given.
pub fn spawn_follow(db: &Db, log: &Path, stdout: Stdio) -> Child {
    Command::new(PICKET)
        .args([
            "--db",
            db.arg(),
            "detect",
            "--follow",
            log.to_str().unwrap(),
            "--format",
            "ndjson",
        ])
        .env_remove("PICKET_DB")
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Stops a `--follow` with SIGINT, as a person would; it must finish cleanly.
pub fn interrupt(mut child: Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "detect --follow exited with {status}");
}

/// The NATS server of the tests (`PICKET_TEST_NATS_URL`); `None`, said as skipped, without one.
pub fn nats_url() -> Option<String> {
    let url = std::env::var("PICKET_TEST_NATS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("skipped: PICKET_TEST_NATS_URL not set");
    }
    url
}

/// `picket ARGS` inside the lab's scanner namespace.
pub fn picket_in(lab: &Lab, args: &[&str]) -> Output {
    let mut cmd = lab.scanner_command(PICKET);
    cmd.args(args).env_remove("PICKET_DB");
    run(cmd)
}

pub fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "picket failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Ports reported open for `host` in a scan document.
pub fn open_ports(scan: &Value, host: &str) -> Vec<u16> {
    ports_in_state(scan, host, "open")
}

pub fn ports_in_state(scan: &Value, host: &str, state: &str) -> Vec<u16> {
    let host = scan["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["address"] == host)
        .unwrap_or_else(|| panic!("no host {host} in {scan}"));
    host["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["state"] == state)
        .map(|p| p["port"].as_u64().unwrap() as u16)
        .collect()
}

/// The findings of a scan document, as (kind, port, verdict).
pub fn findings(scan: &Value) -> Vec<(String, u16, String)> {
    scan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["port"].as_u64().unwrap() as u16,
                f["verdict"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

pub fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// Validates `xml` against Nmap's DTD with xmllint, when both are installed.
pub fn assert_valid_nmap_xml(xml: &str) {
    if Command::new("xmllint").arg("--version").output().is_err() {
        eprintln!("skipped: XML validation (apt-get install libxml2-utils)");
        return;
    }
    if !Path::new(NMAP_DTD).exists() {
        eprintln!("skipped: XML validation ({NMAP_DTD}: apt-get install nmap-common)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scan.xml");
    std::fs::write(&file, xml).unwrap();
    let out = Command::new("xmllint")
        .args(["--noout", "--dtdvalid", NMAP_DTD])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xmllint rejected the XML:\n{}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
}
