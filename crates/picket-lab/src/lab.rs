//! The lab (a scanner namespace) and its targets (one namespace each, joined by a veth pair).

use std::ffi::OsStr;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::firewall::TABLE;
use crate::listen::{self, Listeners};
use crate::netns;
use crate::{Firewall, LabError};

/// Targets per lab: one /24 each, 198.18.0.0/24 to 198.19.223.0/24. The rest of
/// 198.18.0.0/15 is for segments.
const MAX_TARGETS: usize = 480;

/// Segments per lab: one /26 each, at the start of 198.19.224.0/24 to 198.19.255.0/24.
const MAX_SEGMENTS: usize = 32;

/// The third octet of segment 0's IPv4 network (the first /24 after the targets').
const SEGMENT_V4_BASE: usize = 224;

/// The length of a segment's IPv4 prefix: 64 addresses.
const SEGMENT_PREFIX_V4: u8 = 26;

/// The offsets a segment host may have: .0 is the network, .1 the scanner, .63 broadcast.
const HOST_OFFSETS: std::ops::RangeInclusive<u8> = 2..=62;

/// The interface index of the scanner's end of target `i`'s veth pair is this plus `i`.
const VETH_INDEX_BASE: usize = 1000;

/// The index of the bridge port of segment `k`'s host at offset `o` is this plus `64 k + o`
/// (above every target's veth, so that no two links share an index).
const PORT_INDEX_BASE: usize = 2000;

/// The target's only interface besides loopback.
const TARGET_IF: &str = "eth0";

/// How long a link may take to come up before add_target or set_link give up.
const LINK_READY_TIMEOUT: Duration = Duration::from_secs(3);

/// Makes the namespace names of labs created by one process unique.
static LAB_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A network lab: one scanner namespace and any number of target namespaces, each target joined
/// to the scanner by its own veth pair and subnet. Dropping the lab deletes every namespace it
/// created (also while a test panics), which removes their links and firewall tables with them.
///
/// Target `i` (counting from 0) lives on 198.(18 + i / 256).(i % 256).0/24 and
/// fd70:6b:0:i::/64 (hex `i`): the scanner is `.1` / `::1` there, the target `.2` / `::2`.
/// A [`Segment`] (one subnet, several hosts on one bridge) `k` lives on 198.19.(224 + k).0/26
/// and fd70:6b:1:k::/64. These ranges (RFC 2544 benchmarking, a ULA prefix) are never routed
/// on the Internet, and the scanner namespace has no other route: nothing a test sends can
/// leave the lab.
///
/// Namespaces are named `pl-<name>-<pid>-<counter>-s` (scanner) and `…-t<i>` (targets), so tests
/// run in parallel, also in several processes. `Lab::try_new` also raises this process's
/// RLIMIT_NOFILE towards 262,144, for listeners and scanners alike: soft and hard where the
/// process may (`CAP_SYS_RESOURCE`), else the soft limit up to the hard one.
///
/// ```
/// use std::net::{SocketAddr, TcpStream};
/// use std::time::{Duration, Instant};
/// use picket_lab::{Firewall, Lab};
///
/// # fn main() -> Result<(), picket_lab::LabError> {
/// let Some(mut lab) = Lab::try_new("doc_lab")? else { return Ok(()) }; // not root: skipped
/// let target = lab.add_target()?;
/// let _listeners = target.listen(&[80, 443])?;
/// target.firewall(&Firewall::new().drop_ports([443]))?;
/// let (open, dropped) = (
///     SocketAddr::from((target.address_v4(), 80)),
///     SocketAddr::from((target.address_v4(), 443)),
/// );
/// let (open, dropped) = lab.in_scanner(move || {
///     let timeout = Duration::from_millis(300);
///     (TcpStream::connect_timeout(&open, timeout).is_ok(),
///      TcpStream::connect_timeout(&dropped, timeout).map_err(|e| e.kind()))
/// })?;
/// assert!(open);
/// assert_eq!(dropped.unwrap_err(), std::io::ErrorKind::TimedOut);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Lab {
    base: String,
    scanner: String,
    /// Every namespace created so far, scanner first; what Drop deletes.
    namespaces: Vec<String>,
    targets: usize,
    segments: usize,
}

impl Lab {
    /// Creates a lab named after the test, or returns `Ok(None)` and prints `skipped: <why>` to
    /// stderr when the process is not root or `ip` or `nft` is missing, so that the test can
    /// return early and pass. Stale namespaces of crashed earlier runs of a lab with the same
    /// name are removed first (see [`Lab::cleanup_stale`]).
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// let Some(lab) = picket_lab::Lab::try_new("doc_try_new")? else { return Ok(()) };
    /// assert!(lab.scanner_ns().starts_with("pl-doc_try_new-"));
    /// # Ok(()) }
    /// ```
    pub fn try_new(name: &str) -> Result<Option<Lab>, LabError> {
        if let Some(why) = missing_prerequisite() {
            eprintln!("skipped: {why}");
            return Ok(None);
        }
        netns::raise_nofile_limit()?;
        let prefix = Self::namespace_prefix(name);
        Self::cleanup_stale(&prefix)?;
        let counter = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let base = format!("{prefix}{}-{counter}", std::process::id());
        let scanner = format!("{base}-s");
        netns::create(&scanner)?;
        // From here on, Drop removes what exists, whatever fails next.
        let lab = Lab {
            base,
            scanner: scanner.clone(),
            namespaces: vec![scanner.clone()],
            targets: 0,
            segments: 0,
        };
        netns::ip(&["-n", &scanner, "link", "set", "lo", "up"])?;
        Ok(Some(lab))
    }

    /// Adds a target namespace, joined to the scanner by a new veth pair, with loopback up and
    /// the sysctls described in the crate docs. Up to 480 targets per lab.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_add_target")? else { return Ok(()) };
    /// let first = lab.add_target()?;
    /// let second = lab.add_target()?;
    /// assert_eq!(first.address_v4().to_string(), "198.18.0.2");
    /// assert_eq!(second.address_v6().to_string(), "fd70:6b:0:1::2");
    /// # Ok(()) }
    /// ```
    pub fn add_target(&mut self) -> Result<Target, LabError> {
        let index = self.targets;
        if index >= MAX_TARGETS {
            return Err(LabError::TooManyTargets {
                lab: self.base.clone(),
                max: MAX_TARGETS,
            });
        }
        let target = Target::numbered(&self.base, &self.scanner, index);
        self.targets += 1;
        self.create_host(&target, VETH_INDEX_BASE + index, 24)?;
        let (scanner, veth) = (self.scanner.as_str(), target.scanner_if.as_str());
        let s4 = format!("{}/24", target.scanner_v4);
        let s6 = format!("{}/64", target.scanner_v6);
        // `nodad`: the addresses are usable at once, instead of after duplicate detection.
        netns::ip(&["-n", scanner, "addr", "add", &s4, "dev", veth])?;
        netns::ip(&["-n", scanner, "addr", "add", &s6, "dev", veth, "nodad"])?;
        netns::ip(&["-n", scanner, "link", "set", veth, "up"])?;
        target.set_link(true)?;
        Ok(target)
    }

    /// Adds a segment: one subnet directly attached to the scanner, a bridge in the scanner
    /// namespace that hosts join with [`Lab::add_host`], like a LAN. Addresses in it that no
    /// host has are dead: the scanner's ARP (or neighbour solicitation) for them goes
    /// unanswered, and a connect fails with `EHOSTUNREACH` after about 3 s. Segment `k`
    /// (counting from 0) is 198.19.(224 + k).0/26 and fd70:6b:1:k::/64 (hex `k`), the scanner
    /// `.1` / `::1` there; up to 32 segments per lab. The bridge forwards at once (no STP, no
    /// forward delay) and floods multicast (no snooping), so neighbour discovery just works.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_add_segment")? else { return Ok(()) };
    /// let segment = lab.add_segment()?;
    /// assert_eq!(segment.cidr_v4(), "198.19.224.0/26");
    /// assert_eq!(segment.cidr_v6(), "fd70:6b:1::/64");
    /// # Ok(()) }
    /// ```
    pub fn add_segment(&mut self) -> Result<Segment, LabError> {
        let index = self.segments;
        if index >= MAX_SEGMENTS {
            return Err(LabError::TooManySegments {
                lab: self.base.clone(),
                max: MAX_SEGMENTS,
            });
        }
        self.segments += 1;
        let segment = Segment::numbered(&self.base, &self.scanner, index);
        let (scanner, bridge) = (self.scanner.as_str(), segment.bridge.as_str());
        // A fixed address: a bridge otherwise takes the lowest of its ports' addresses, and
        // would change it under the hosts' neighbour caches as hosts join.
        let mac = format!("02:70:6b:00:{index:02x}:01");
        netns::ip(&[
            "-n",
            scanner,
            "link",
            "add",
            bridge,
            "address",
            &mac,
            "type",
            "bridge",
            "forward_delay",
            "0",
            "stp_state",
            "0",
            "mcast_snooping",
            "0",
        ])?;
        let s4 = format!("{}/{SEGMENT_PREFIX_V4}", segment.scanner_address_v4());
        let s6 = format!("{}/64", segment.scanner_address_v6());
        netns::ip(&["-n", scanner, "addr", "add", &s4, "dev", bridge])?;
        netns::ip(&["-n", scanner, "addr", "add", &s6, "dev", bridge, "nodad"])?;
        netns::ip(&["-n", scanner, "link", "set", bridge, "up"])?;
        Ok(segment)
    }

    /// Adds a host to `segment` at `offset` (2 to 62: `.offset` and `::offset` in hex): a
    /// target like those of [`Lab::add_target`] (its own namespace, the same sysctls, the same
    /// methods), whose `eth0` is joined to the segment's bridge. Fails for an offset out of
    /// range, one already taken, or a segment of another lab.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_add_host")? else { return Ok(()) };
    /// let segment = lab.add_segment()?;
    /// let host = lab.add_host(&segment, 10)?;
    /// assert_eq!(host.address_v4().to_string(), "198.19.224.10");
    /// assert_eq!(host.address_v6().to_string(), "fd70:6b:1::a");
    /// assert_eq!(host.scanner_address_v4(), segment.scanner_address_v4());
    /// assert!(lab.add_host(&segment, 10).is_err());
    /// assert!(lab.add_host(&segment, 63).is_err());
    /// # Ok(()) }
    /// ```
    pub fn add_host(&mut self, segment: &Segment, offset: u8) -> Result<Target, LabError> {
        let bad = |why| LabError::BadHost {
            segment: segment.cidr_v4(),
            offset,
            why,
        };
        if segment.base != self.base {
            return Err(bad("the segment belongs to another lab"));
        }
        if !HOST_OFFSETS.contains(&offset) {
            return Err(bad("offsets go from 2 to 62"));
        }
        let target = segment.host(offset);
        if self.namespaces.contains(&target.ns) {
            return Err(bad("a host already has this address"));
        }
        let index = PORT_INDEX_BASE + segment.index * 64 + usize::from(offset);
        self.create_host(&target, index, SEGMENT_PREFIX_V4)?;
        netns::ip(&[
            "-n",
            &self.scanner,
            "link",
            "set",
            &target.scanner_if,
            "master",
            &segment.bridge,
            "up",
        ])?;
        target.set_link(true)?;
        Ok(target)
    }

    /// Creates `target`'s namespace (tuned, loopback up) and its veth pair: `eth0` inside it
    /// with the target's addresses (IPv4 prefix `prefix_v4`), and the scanner's end, named
    /// `target.scanner_if` with interface index `ifindex`, down and without addresses.
    fn create_host(
        &mut self,
        target: &Target,
        ifindex: usize,
        prefix_v4: u8,
    ) -> Result<(), LabError> {
        netns::create(&target.ns)?;
        self.namespaces.push(target.ns.clone());
        netns::tune_target(&target.ns)?;
        let (scanner, ns, veth) = (
            self.scanner.as_str(),
            target.ns.as_str(),
            target.scanner_if.as_str(),
        );
        let t4 = format!("{}/{prefix_v4}", target.v4);
        let t6 = format!("{}/64", target.v6);
        // The kernel delays link-up processing by up to a second unless a link's index differs
        // from its peer's (`linkwatch_urgent_event`), and IPv6 stays deaf until it runs. The
        // target's eth0 gets index 2 in its fresh namespace, so the scanner ends count from 1000.
        let ifindex = ifindex.to_string();
        // Created inside the scanner namespace with its peer moved straight into the target, so
        // the interface names only need to be unique inside each namespace.
        netns::ip(&[
            "-n", scanner, "link", "add", veth, "index", &ifindex, "type", "veth", "peer", "name",
            TARGET_IF, "netns", ns,
        ])?;
        netns::ip(&["-n", ns, "link", "set", "lo", "up"])?;
        // `nodad`: the addresses are usable at once, instead of after duplicate detection.
        netns::ip(&["-n", ns, "addr", "add", &t4, "dev", TARGET_IF])?;
        netns::ip(&["-n", ns, "addr", "add", &t6, "dev", TARGET_IF, "nodad"])?;
        Ok(())
    }

    /// The name of the scanner namespace (for `ip netns exec`, `ip -n`).
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(lab) = picket_lab::Lab::try_new("doc_scanner_ns")? else { return Ok(()) };
    /// let status = std::process::Command::new("ip")
    ///     .args(["-n", lab.scanner_ns(), "link", "show", "lo"])
    ///     .stdout(std::process::Stdio::null())
    ///     .status()
    ///     .expect("ip runs");
    /// assert!(status.success());
    /// # Ok(()) }
    /// ```
    pub fn scanner_ns(&self) -> &str {
        &self.scanner
    }

    /// Runs `f` on a fresh thread inside the scanner namespace and returns its result. Sockets
    /// created in `f` live in the lab; so do threads `f` spawns (and with them a tokio runtime
    /// built inside `f`). A panic in `f` is re-raised in the caller.
    ///
    /// ```
    /// use std::net::{SocketAddr, TcpStream};
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_in_scanner")? else { return Ok(()) };
    /// let target = lab.add_target()?;
    /// let closed = SocketAddr::from((target.address_v6(), 9));
    /// let kind = lab.in_scanner(move || TcpStream::connect(closed).map_err(|e| e.kind()))?;
    /// assert_eq!(kind.unwrap_err(), std::io::ErrorKind::ConnectionRefused);
    /// # Ok(()) }
    /// ```
    pub fn in_scanner<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LabError> {
        netns::run_in(&self.scanner, move || Ok(f()))
    }

    /// `ip netns exec <scanner> PROGRAM`, to run a binary (such as `picket`) inside the lab.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_scanner_command")? else { return Ok(()) };
    /// let target = lab.add_target()?;
    /// let out = lab.scanner_command("ip").args(["-4", "route"]).output().expect("ip runs");
    /// assert!(String::from_utf8_lossy(&out.stdout).contains("198.18.0.0/24"));
    /// # Ok(()) }
    /// ```
    pub fn scanner_command(&self, program: impl AsRef<OsStr>) -> Command {
        netns::exec_command(&self.scanner, program)
    }

    /// The prefix of every namespace a lab named `name` creates: `pl-<name>-`, with characters
    /// other than ASCII letters, digits and `_` replaced by `_`.
    ///
    /// ```
    /// assert_eq!(picket_lab::Lab::namespace_prefix("ban after"), "pl-ban_after-");
    /// ```
    pub fn namespace_prefix(name: &str) -> String {
        netns::prefix(name)
    }

    /// Deletes the lab namespaces under `prefix` (see [`Lab::namespace_prefix`]) whose creating
    /// process has exited, as left behind by a test binary that was killed. Returns how many it
    /// deleted. Namespaces of running processes are kept.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # if picket_lab::Lab::try_new("doc_cleanup")?.is_none() { return Ok(()) }
    /// let prefix = picket_lab::Lab::namespace_prefix("doc_cleanup");
    /// assert_eq!(picket_lab::Lab::cleanup_stale(&prefix)?, 0);
    /// # Ok(()) }
    /// ```
    pub fn cleanup_stale(prefix: &str) -> Result<usize, LabError> {
        netns::cleanup_stale(prefix)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            if let Err(e) = netns::delete(ns) {
                // Drop cannot return the error; the next run's cleanup_stale removes the rest.
                eprintln!("picket-lab: could not delete network namespace {ns}: {e}");
            }
        }
    }
}

/// Waits until the kernel has finished bringing `dev` up: IPv6 has added the link's multicast
/// route, without which neighbour solicitations go unheard, and it is not marked `linkdown`.
fn wait_until_ready(ns: &str, dev: &str) -> Result<(), LabError> {
    let args = [
        "-6", "route", "show", "table", "local", "ff00::/8", "dev", dev,
    ];
    poll_ip(ns, dev, &args, |route| {
        !route.trim().is_empty() && !route.contains("linkdown")
    })
}

/// Waits until bridge port `port` forwards (it does at once, with the bridge's STP off and
/// forward delay 0, once its link has carrier).
fn wait_until_forwarding(ns: &str, port: &str) -> Result<(), LabError> {
    let args = ["-d", "link", "show", "dev", port];
    poll_ip(ns, port, &args, |link| {
        link.contains("bridge_slave state forwarding")
    })
}

/// Runs `ip -n NS ARGS` every 5 ms until `ready` holds for its output; after
/// [`LINK_READY_TIMEOUT`], link `dev` is reported as not ready.
fn poll_ip(
    ns: &str,
    dev: &str,
    args: &[&str],
    ready: impl Fn(&str) -> bool,
) -> Result<(), LabError> {
    let deadline = Instant::now() + LINK_READY_TIMEOUT;
    loop {
        let mut cmd = Command::new("ip");
        cmd.args(["-n", ns]).args(args);
        if ready(&netns::run(cmd, None)?) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(LabError::LinkNotReady {
                ns: ns.to_owned(),
                dev: dev.to_owned(),
                waited: LINK_READY_TIMEOUT,
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Why the lab cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("picket-lab needs root to create network namespaces".to_owned());
    }
    for (tool, arg, package) in [("ip", "-V", "iproute2"), ("nft", "--version", "nftables")] {
        let found = Command::new(tool)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !found {
            return Some(format!(
                "`{tool}` is missing (apt-get install -y {package})"
            ));
        }
    }
    None
}

/// One target host: a namespace with one interface, `eth0`, towards the scanner. A plain
/// handle (names and addresses); cloning it is cheap. Its methods fail once the lab is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    ns: String,
    scanner_ns: String,
    /// The scanner's end of the target's veth pair.
    scanner_if: String,
    /// On a segment, the bridge `scanner_if` is a port of: the scanner's interface (addresses,
    /// neighbour entries) towards the host.
    bridge: Option<String>,
    v4: Ipv4Addr,
    v6: Ipv6Addr,
    scanner_v4: Ipv4Addr,
    scanner_v6: Ipv6Addr,
}

impl Target {
    /// Target `index` of the lab whose namespaces start with `base`.
    fn numbered(base: &str, scanner_ns: &str, index: usize) -> Target {
        // index < 480, so both fit: 18 + 1 and 0..=255; 0..=479 as an IPv6 group.
        let (second, third) = (18 + (index / 256) as u8, (index % 256) as u8);
        let group = index as u16;
        Target {
            ns: format!("{base}-t{index}"),
            scanner_ns: scanner_ns.to_owned(),
            scanner_if: format!("veth{index}"),
            bridge: None,
            v4: Ipv4Addr::new(198, second, third, 2),
            v6: Ipv6Addr::new(0xfd70, 0x6b, 0, group, 0, 0, 0, 2),
            scanner_v4: Ipv4Addr::new(198, second, third, 1),
            scanner_v6: Ipv6Addr::new(0xfd70, 0x6b, 0, group, 0, 0, 0, 1),
        }
    }

    /// The target's IPv4 address.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_address_v4")? else { return Ok(()) };
    /// let target = lab.add_target()?;
    /// assert_eq!(target.address_v4(), std::net::Ipv4Addr::new(198, 18, 0, 2));
    /// # Ok(()) }
    /// ```
    pub fn address_v4(&self) -> Ipv4Addr {
        self.v4
    }

    /// The target's IPv6 address.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_address_v6")? else { return Ok(()) };
    /// let target = lab.add_target()?;
    /// assert!(target.address_v6().to_string().starts_with("fd70:6b:"));
    /// # Ok(()) }
    /// ```
    pub fn address_v6(&self) -> Ipv6Addr {
        self.v6
    }

    /// The scanner's IPv4 address on this target's link: the source address the target sees.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_scanner_v4")? else { return Ok(()) };
    /// let target = lab.add_target()?;
    /// assert_eq!(target.scanner_address_v4().to_string(), "198.18.0.1");
    /// # Ok(()) }
    /// ```
    pub fn scanner_address_v4(&self) -> Ipv4Addr {
        self.scanner_v4
    }

    /// The scanner's IPv6 address on this target's link: the source address the target sees.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_scanner_v6")? else { return Ok(()) };
    /// let target = lab.add_target()?;
    /// assert_eq!(target.scanner_address_v6().to_string(), "fd70:6b::1");
    /// # Ok(()) }
    /// ```
    pub fn scanner_address_v6(&self) -> Ipv6Addr {
        self.scanner_v6
    }

    /// The name of the target's namespace.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_target_ns")? else { return Ok(()) };
    /// let target = lab.add_target()?;
    /// assert!(target.ns().ends_with("-t0"));
    /// # Ok(()) }
    /// ```
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// Listens on `ports` (IPv4 and IPv6) inside the target, accepting each connection and
    /// closing it at once, until the returned guard drops. Duplicates are ignored. Built for
    /// full-speed scans: one tokio thread, a 65,535 backlog, and the sysctls in the crate docs.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_listen")? else { return Ok(()) };
    /// let target = lab.add_target()?;
    /// let ports: Vec<u16> = (10_000..10_600).collect();
    /// let listeners = target.listen(&ports)?;
    /// assert_eq!(listeners.ports().len(), 600);
    /// # Ok(()) }
    /// ```
    pub fn listen(&self, ports: &[u16]) -> Result<Listeners, LabError> {
        listen::listen(&self.ns, ports)
    }

    /// A port that listens for `period`, then refuses connections (resets) for `period`, and so
    /// on, until the guard drops. It is listening when this returns.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_flap")? else { return Ok(()) };
    /// let target = lab.add_target()?;
    /// let _flapping = target.flap(8080, Duration::from_millis(200))?;
    /// # Ok(()) }
    /// ```
    pub fn flap(&self, port: u16, period: Duration) -> Result<Listeners, LabError> {
        listen::flap(&self.ns, port, period)
    }

    /// Replaces the target's rules (the nft table `inet picket_lab` in its namespace) with
    /// `rules`, atomically: no packet sees a mix of old and new rules. `Firewall::new()` clears.
    ///
    /// ```
    /// use picket_lab::{Firewall, Reject};
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_firewall")? else { return Ok(()) };
    /// let target = lab.add_target()?;
    /// target.firewall(&Firewall::new().reject_ports([23], Reject::AdminProhibited))?;
    /// target.firewall(&Firewall::new())?; // everything passes again
    /// # Ok(()) }
    /// ```
    pub fn firewall(&self, rules: &Firewall) -> Result<(), LabError> {
        // Declaring the table first makes the delete succeed when it does not exist yet; nft
        // applies the whole file as one transaction.
        let script = format!("table {TABLE}\ndelete table {TABLE}\n{}", rules.render());
        let mut cmd = netns::exec_command(&self.ns, "nft");
        cmd.args(["-f", "-"]);
        netns::run(cmd, Some(&script)).map(drop)
    }

    /// Brings the target's link up or down. Down, the host is gone: probes to it are lost, and
    /// once the scanner's neighbour entry expires, connects fail with `EHOSTUNREACH` instead of
    /// timing out. Its addresses, listeners and rules survive; when this returns after bringing
    /// the link up, the host answers again at once.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_set_link")? else { return Ok(()) };
    /// let target = lab.add_target()?;
    /// target.set_link(false)?;
    /// target.set_link(true)?;
    /// # Ok(()) }
    /// ```
    pub fn set_link(&self, up: bool) -> Result<(), LabError> {
        netns::ip(&[
            "-n",
            &self.ns,
            "link",
            "set",
            TARGET_IF,
            if up { "up" } else { "down" },
        ])?;
        if !up {
            return Ok(());
        }
        wait_until_ready(&self.ns, TARGET_IF)?;
        match &self.bridge {
            None => {
                wait_until_ready(&self.scanner_ns, &self.scanner_if)?;
                // A connect tried while the host was gone leaves an unresolved neighbour entry
                // whose next solicitation may be a second away. Forget it, as a host announcing
                // itself with a gratuitous ARP or unsolicited NA would make the scanner do.
                netns::ip(&[
                    "-n",
                    &self.scanner_ns,
                    "neigh",
                    "flush",
                    "dev",
                    &self.scanner_if,
                ])
            }
            Some(bridge) => {
                wait_until_forwarding(&self.scanner_ns, &self.scanner_if)?;
                wait_until_ready(&self.scanner_ns, bridge)?;
                // The same, for this host's entries only: the other hosts of the segment keep
                // theirs.
                for address in [self.v4.to_string(), self.v6.to_string()] {
                    netns::ip(&[
                        "-n",
                        &self.scanner_ns,
                        "neigh",
                        "flush",
                        "to",
                        &address,
                        "dev",
                        bridge,
                    ])?;
                }
                Ok(())
            }
        }
    }

    /// Restores the Linux kernel's ICMP rate limits inside the target (`true`), or lifts them
    /// again (`false`, what every target starts with; see the crate docs). Limited, an ICMP
    /// error such as `reject with icmpx admin-prohibited` is answered in a burst of about six
    /// and then about once a second per scanner address (IPv6: every 100 ms), the rest is
    /// silence, as from a real host behind a rejecting firewall. Only this target's namespace
    /// changes.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_icmp_limit")? else { return Ok(()) };
    /// let target = lab.add_target()?;
    /// target.kernel_icmp_rate_limit(true)?;
    /// let out = target.command("sysctl").arg("net.ipv4.icmp_ratemask").output().expect("runs");
    /// assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "net.ipv4.icmp_ratemask = 6168");
    /// # Ok(()) }
    /// ```
    pub fn kernel_icmp_rate_limit(&self, limited: bool) -> Result<(), LabError> {
        netns::set_icmp_rate_limit(&self.ns, limited)
    }

    /// `ip netns exec <target> PROGRAM`, to look inside the target (for example
    /// `nft list ruleset` or `ss -tln`).
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_target_command")? else { return Ok(()) };
    /// let target = lab.add_target()?;
    /// let out = target.command("ip").args(["-6", "addr"]).output().expect("ip runs");
    /// assert!(String::from_utf8_lossy(&out.stdout).contains("fd70:6b::2/64"));
    /// # Ok(()) }
    /// ```
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        netns::exec_command(&self.ns, program)
    }
}

/// One subnet directly attached to the scanner, made by [`Lab::add_segment`]: a bridge in the
/// scanner namespace, which hosts made by [`Lab::add_host`] join, each from its own namespace.
/// The addresses without a host are dead. A plain handle, cheap to clone.
///
/// ```
/// use std::net::{SocketAddr, TcpStream};
/// use std::time::Duration;
/// # fn main() -> Result<(), picket_lab::LabError> {
/// # let Some(mut lab) = picket_lab::Lab::try_new("doc_segment")? else { return Ok(()) };
/// let segment = lab.add_segment()?;
/// let host = lab.add_host(&segment, 5)?;
/// let _listeners = host.listen(&[22])?;
/// let live = SocketAddr::from((host.address_v4(), 22));
/// let dead = SocketAddr::from((segment.address_v4(6), 22));
/// let (live, dead) = lab.in_scanner(move || {
///     let timeout = Duration::from_millis(300);
///     (TcpStream::connect_timeout(&live, timeout).is_ok(),
///      TcpStream::connect_timeout(&dead, timeout).is_ok())
/// })?;
/// assert!(live && !dead);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The namespace-name base of the lab that made it.
    base: String,
    scanner_ns: String,
    index: usize,
    bridge: String,
}

impl Segment {
    /// Segment `index` of the lab whose namespaces start with `base`.
    fn numbered(base: &str, scanner_ns: &str, index: usize) -> Segment {
        Segment {
            base: base.to_owned(),
            scanner_ns: scanner_ns.to_owned(),
            index,
            bridge: format!("br{index}"),
        }
    }

    /// The handle of the host at `offset` (not created).
    fn host(&self, offset: u8) -> Target {
        let port = format!("g{}h{offset}", self.index);
        Target {
            ns: format!("{}-{port}", self.base),
            scanner_ns: self.scanner_ns.clone(),
            scanner_if: port,
            bridge: Some(self.bridge.clone()),
            v4: self.address_v4(offset),
            v6: self.address_v6(offset),
            scanner_v4: self.scanner_address_v4(),
            scanner_v6: self.scanner_address_v6(),
        }
    }

    /// The segment's IPv4 network, `198.19.(224 + k).0/26`: what to scan to sweep it.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_cidr_v4")? else { return Ok(()) };
    /// lab.add_segment()?;
    /// assert_eq!(lab.add_segment()?.cidr_v4(), "198.19.225.0/26");
    /// # Ok(()) }
    /// ```
    pub fn cidr_v4(&self) -> String {
        format!("{}/{SEGMENT_PREFIX_V4}", self.address_v4(0))
    }

    /// The segment's IPv6 network, `fd70:6b:1:k::/64`.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_cidr_v6")? else { return Ok(()) };
    /// lab.add_segment()?;
    /// assert_eq!(lab.add_segment()?.cidr_v6(), "fd70:6b:1:1::/64");
    /// # Ok(()) }
    /// ```
    pub fn cidr_v6(&self) -> String {
        format!("{}/64", self.address_v6(0))
    }

    /// The IPv4 address at `offset` in the segment (0 to 63 lie inside it), whether a host
    /// has it or not.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_seg_address_v4")? else { return Ok(()) };
    /// let segment = lab.add_segment()?;
    /// assert_eq!(segment.address_v4(40).to_string(), "198.19.224.40");
    /// # Ok(()) }
    /// ```
    pub fn address_v4(&self, offset: u8) -> Ipv4Addr {
        // index < 32, so the octet stays below 256.
        Ipv4Addr::new(198, 19, (SEGMENT_V4_BASE + self.index) as u8, offset)
    }

    /// The IPv6 address at `offset` in the segment: `fd70:6b:1:k::offset` (hex).
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_seg_address_v6")? else { return Ok(()) };
    /// let segment = lab.add_segment()?;
    /// assert_eq!(segment.address_v6(40).to_string(), "fd70:6b:1::28");
    /// # Ok(()) }
    /// ```
    pub fn address_v6(&self, offset: u8) -> Ipv6Addr {
        Ipv6Addr::new(0xfd70, 0x6b, 1, self.index as u16, 0, 0, 0, offset.into())
    }

    /// The scanner's IPv4 address on the segment (`.1`): the source address its hosts see.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_seg_scanner_v4")? else { return Ok(()) };
    /// let segment = lab.add_segment()?;
    /// assert_eq!(segment.scanner_address_v4().to_string(), "198.19.224.1");
    /// # Ok(()) }
    /// ```
    pub fn scanner_address_v4(&self) -> Ipv4Addr {
        self.address_v4(1)
    }

    /// The scanner's IPv6 address on the segment (`::1`).
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_seg_scanner_v6")? else { return Ok(()) };
    /// let segment = lab.add_segment()?;
    /// assert_eq!(segment.scanner_address_v6().to_string(), "fd70:6b:1::1");
    /// # Ok(()) }
    /// ```
    pub fn scanner_address_v6(&self) -> Ipv6Addr {
        self.address_v6(1)
    }

    /// The bridge's name in the scanner namespace (`br<k>`): the scanner's interface on the
    /// segment.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_bridge")? else { return Ok(()) };
    /// let segment = lab.add_segment()?;
    /// let out = lab.scanner_command("ip").args(["link", "show", segment.bridge()]).output()
    ///     .expect("ip runs");
    /// assert!(out.status.success());
    /// # Ok(()) }
    /// ```
    pub fn bridge(&self) -> &str {
        &self.bridge
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_numbered_into_the_benchmarking_range() {
        let first = Target::numbered("pl-x-1-0", "pl-x-1-0-s", 0);
        assert_eq!(first.ns(), "pl-x-1-0-t0");
        assert_eq!(first.address_v4(), Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(first.scanner_address_v4(), Ipv4Addr::new(198, 18, 0, 1));
        let last = Target::numbered("pl-x-1-0", "pl-x-1-0-s", MAX_TARGETS - 1);
        assert_eq!(last.address_v4(), Ipv4Addr::new(198, 19, 223, 2));
        assert_eq!(
            last.address_v6(),
            "fd70:6b:0:1df::2".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            last.scanner_address_v6(),
            "fd70:6b:0:1df::1".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn segments_lie_after_the_targets_and_never_overlap_them() {
        let last_target = Target::numbered("pl-x-1-0", "pl-x-1-0-s", MAX_TARGETS - 1);
        let first = Segment::numbered("pl-x-1-0", "pl-x-1-0-s", 0);
        let last = Segment::numbered("pl-x-1-0", "pl-x-1-0-s", MAX_SEGMENTS - 1);
        assert!(last_target.address_v4() < first.address_v4(0));
        assert_eq!(first.cidr_v4(), "198.19.224.0/26");
        assert_eq!(last.cidr_v4(), "198.19.255.0/26");
        assert_eq!(last.cidr_v6(), "fd70:6b:1:1f::/64");
        let host = last.host(62);
        assert_eq!(host.ns(), "pl-x-1-0-g31h62");
        assert_eq!(host.address_v4(), Ipv4Addr::new(198, 19, 255, 62));
        assert_eq!(host.scanner_address_v4(), Ipv4Addr::new(198, 19, 255, 1));
        assert_eq!(crate::netns::owner_pid("1-0-g31h62"), Some(1));
    }
}
