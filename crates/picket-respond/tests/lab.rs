//! The responder against real nftables, in a picket-lab network: the lab's scanner namespace is
//! the server (it listens, and picket's table lives there), two target namespaces are clients A
//! and B. Every test skips (and passes, after printing `skipped:`) when not run as root.

use std::error::Error;
use std::fs::File;
use std::io::ErrorKind;
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use nix::sched::{CloneFlags, setns};
use picket_lab::{Lab, Target};
use picket_respond::{AllowList, Nft, Outcome, RespondError};

type TestResult = Result<(), Box<dyn Error>>;

/// Well above a veth round trip, below the kernel's first SYN retransmission (1 s): a blocked
/// connect is one dropped SYN and then a timeout.
const TIMEOUT: Duration = Duration::from_millis(400);

const PORT: u16 = 8443;

/// A lab with a server in the scanner namespace and two client targets.
struct Setup {
    lab: Lab,
    a: Target,
    b: Target,
    _server: Server,
}

impl Setup {
    fn new(name: &str) -> Result<Option<Setup>, Box<dyn Error>> {
        let Some(mut lab) = Lab::try_new(name)? else {
            return Ok(None);
        };
        let a = lab.add_target()?;
        let b = lab.add_target()?;
        let server = Server::start(&lab)?;
        Ok(Some(Setup {
            lab,
            a,
            b,
            _server: server,
        }))
    }

    /// The responder of the server namespace, with `home` as its home networks.
    fn nft(&self, home: &[IpNet]) -> Nft {
        Nft::new(AllowList::new(home, &[])).in_namespace(self.lab.scanner_ns())
    }
}

/// Accepts and closes connections on [`PORT`] (IPv4 and IPv6) in the scanner namespace until
/// dropped.
struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(lab: &Lab) -> Result<Server, Box<dyn Error>> {
        // A socket belongs to the namespace it was created in, whichever thread uses it later.
        // `[::]` without IPV6_V6ONLY (the default) also accepts IPv4.
        let listener =
            lab.in_scanner(|| TcpListener::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, PORT))))??;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => drop(stream),
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(Server {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One connect from inside `client`'s namespace to the server at its end of the client's link
/// (over IPv6 if `v6`): `Ok(())` or the error kind. picket-lab runs closures only in the scanner
/// namespace, so this enters the target's namespace on a thread of its own.
fn connect_from(client: &Target, v6: bool) -> Result<(), ErrorKind> {
    let server = if v6 {
        SocketAddr::from((client.scanner_address_v6(), PORT))
    } else {
        SocketAddr::from((client.scanner_address_v4(), PORT))
    };
    let ns = File::open(format!("/run/netns/{}", client.ns())).unwrap();
    thread::spawn(move || {
        // setns moves only this thread; the rest of the test process stays where it was.
        setns(&ns, CloneFlags::CLONE_NEWNET).unwrap();
        TcpStream::connect_timeout(&server, TIMEOUT)
            .map(drop)
            .map_err(|e| e.kind())
    })
    .join()
    .unwrap()
}

fn host(target: &Target) -> IpNet {
    IpNet::from(std::net::IpAddr::V4(target.address_v4()))
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

const BLOCKED: Result<(), ErrorKind> = Err(ErrorKind::TimedOut);

#[test]
fn blocking_an_address_cuts_off_that_client_only() -> TestResult {
    let Some(s) = Setup::new("respond_address")? else {
        return Ok(());
    };
    let nft = s.nft(&[]);
    assert_eq!(connect_from(&s.a, false), Ok(()));
    assert_eq!(connect_from(&s.b, false), Ok(()));

    let outcome = nft.block(host(&s.a), None)?;
    assert_eq!(outcome, Outcome::Added { net: host(&s.a) });
    assert_eq!(connect_from(&s.a, false), BLOCKED);
    assert_eq!(connect_from(&s.b, false), Ok(()));
    // Only A's IPv4 address is blocked, not its IPv6 one.
    assert_eq!(connect_from(&s.a, true), Ok(()));

    let listed = nft.list()?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].net, host(&s.a));
    assert_eq!(listed[0].expires_in, None);
    let dropped = nft.dropped()?;
    assert!(dropped.v4_packets >= 1, "{dropped:?}");
    assert_eq!(dropped.v6_packets, 0);

    assert!(nft.unblock(host(&s.a))?);
    assert_eq!(connect_from(&s.a, false), Ok(()));
    assert!(!nft.unblock(host(&s.a))?);
    assert!(nft.list()?.is_empty());
    Ok(())
}

#[test]
fn blocking_a_network_uses_one_interval_element() -> TestResult {
    let Some(s) = Setup::new("respond_cidr")? else {
        return Ok(());
    };
    let nft = s.nft(&[]);
    let a_net = net(&format!("{}/24", s.a.address_v4()));

    // First A alone, then its whole /24, which takes the address's place.
    nft.block(host(&s.a), Some(Duration::from_secs(3600)))?;
    let outcome = nft.block(a_net, Some(Duration::from_secs(3600)))?;
    assert_eq!(
        outcome,
        Outcome::Replaced {
            net: a_net.trunc(),
            covered: vec![s.a.address_v4().to_string()],
        }
    );
    assert_eq!(connect_from(&s.a, false), BLOCKED);
    assert_eq!(connect_from(&s.b, false), Ok(()));
    let listed: Vec<IpNet> = nft.list()?.into_iter().map(|e| e.net).collect();
    assert_eq!(listed, [a_net.trunc()]);

    // Blocking A again changes nothing; unblocking A alone would punch a hole: refused.
    assert!(matches!(
        nft.block(host(&s.a), None)?,
        Outcome::AlreadyCovered { .. }
    ));
    let err = nft.unblock(host(&s.a)).unwrap_err();
    assert!(matches!(err, RespondError::PartOf { .. }), "{err}");
    assert_eq!(connect_from(&s.a, false), BLOCKED);

    assert!(nft.unblock(a_net)?);
    assert_eq!(connect_from(&s.a, false), Ok(()));
    Ok(())
}

#[test]
fn a_block_with_ttl_expires_by_itself() -> TestResult {
    let Some(s) = Setup::new("respond_ttl")? else {
        return Ok(());
    };
    let nft = s.nft(&[]);
    let ttl = Duration::from_secs(2);
    // Blocked for good first, then re-blocked with a ttl: the re-block replaces the timeout.
    nft.block(host(&s.a), None)?;
    assert_eq!(
        nft.block(host(&s.a), Some(ttl))?,
        Outcome::Refreshed { net: host(&s.a) }
    );
    let started = Instant::now();
    let listed = nft.list()?;
    assert_eq!(listed[0].timeout, Some(ttl));
    assert!(listed[0].expires_in.is_some_and(|left| left <= ttl));
    assert_eq!(connect_from(&s.a, false), BLOCKED);

    let deadline = started + ttl + Duration::from_secs(3);
    while connect_from(&s.a, false) != Ok(()) {
        assert!(
            Instant::now() < deadline,
            "still blocked {:?} after a {ttl:?} block",
            started.elapsed()
        );
    }
    let lasted = started.elapsed();
    assert!(lasted >= ttl - TIMEOUT, "unblocked after only {lasted:?}");
    assert!(nft.list()?.is_empty());
    Ok(())
}

#[test]
fn blocking_an_ipv6_address() -> TestResult {
    let Some(s) = Setup::new("respond_v6")? else {
        return Ok(());
    };
    let nft = s.nft(&[]);
    let a6 = IpNet::from(std::net::IpAddr::V6(s.a.address_v6()));
    nft.block(a6, None)?;
    assert_eq!(connect_from(&s.a, true), BLOCKED);
    assert_eq!(connect_from(&s.a, false), Ok(()));
    assert_eq!(connect_from(&s.b, true), Ok(()));
    assert!(nft.dropped()?.v6_packets >= 1);
    assert!(nft.unblock(a6)?);
    assert_eq!(connect_from(&s.a, true), Ok(()));
    Ok(())
}

#[test]
fn the_allow_list_protects_home_networks() -> TestResult {
    let Some(s) = Setup::new("respond_allow")? else {
        return Ok(());
    };
    let b_net = net(&format!("{}/24", s.b.address_v4())).trunc();
    let nft = s.nft(&[b_net]);
    for attempt in [host(&s.b), net("198.18.0.0/15"), net("0.0.0.0/0")] {
        let err = nft.block(attempt, None).unwrap_err();
        assert!(
            matches!(err, RespondError::Allowed { .. }),
            "{attempt}: {err}"
        );
    }
    let err = nft.block(host(&s.b), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "refusing to block {}: it overlaps the allowed network {b_net}",
            host(&s.b)
        )
    );
    // Refused before anything was written: not even the table exists.
    assert!(nft.list()?.is_empty());
    assert_eq!(connect_from(&s.b, false), Ok(()));
    // A, outside the home network, can still be blocked.
    nft.block(host(&s.a), None)?;
    assert_eq!(connect_from(&s.a, false), BLOCKED);
    assert_eq!(connect_from(&s.b, false), Ok(()));
    Ok(())
}

#[test]
fn ensure_is_idempotent_and_keeps_blocks() -> TestResult {
    let Some(s) = Setup::new("respond_ensure")? else {
        return Ok(());
    };
    let nft = s.nft(&[]);
    nft.ensure()?;
    nft.block(host(&s.a), None)?;
    assert_eq!(connect_from(&s.a, false), BLOCKED);
    let dropped = nft.dropped()?;
    nft.ensure()?;
    nft.ensure()?;
    let rules = s
        .lab
        .scanner_command("nft")
        .args(["list", "table", "inet", "picket"])
        .output()?;
    let text = String::from_utf8(rules.stdout)?;
    let rule_count = text
        .lines()
        .filter(|l| l.trim_end().ends_with(" drop"))
        .count();
    assert_eq!(rule_count, 4, "{text}");
    assert_eq!(nft.dropped()?, dropped, "counts survive");
    assert_eq!(connect_from(&s.a, false), BLOCKED);

    // What a dry run prints is what applying does.
    let plan = nft.plan(&picket_respond::Change::Block {
        net: host(&s.b),
        ttl: None,
    })?;
    assert!(
        plan.script()
            .contains(&format!("{{ {} }}", s.b.address_v4()))
    );
    assert_eq!(
        connect_from(&s.b, false),
        Ok(()),
        "planning changes nothing"
    );
    nft.apply(&plan)?;
    assert_eq!(connect_from(&s.b, false), BLOCKED);
    Ok(())
}

#[test]
fn a_set_without_interval_flag_is_refused() -> TestResult {
    let Some(s) = Setup::new("respond_crowdsec")? else {
        return Ok(());
    };
    // As CrowdSec's bouncer creates its sets: no `flags interval`.
    let out = s
        .lab
        .scanner_command("nft")
        .args(["add table inet picket; add set inet picket blocked_v4 { type ipv4_addr; flags timeout; }"])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = s.nft(&[]).block(net("198.18.0.0/24"), None).unwrap_err();
    assert!(matches!(err, RespondError::IncompatibleSet { .. }), "{err}");
    assert!(
        err.to_string().contains("type ipv4_addr; flags timeout"),
        "{err}"
    );
    Ok(())
}
