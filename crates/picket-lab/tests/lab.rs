//! The lab against plain `std::net::TcpStream` connects from the scanner namespace. Every test
//! skips (and passes, after printing `skipped:`) when not run as root.

use std::collections::BTreeSet;
use std::error::Error;
use std::io::{ErrorKind, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use picket_lab::{Firewall, Lab, Reject, Target};
use socket2::{Domain, Protocol, Socket, Type};

type TestResult = Result<(), Box<dyn Error>>;

/// Long enough for a veth round trip under load, short enough that silence is cheap. Below the
/// kernel's first SYN retransmission (1 s), so each connect is exactly one SYN.
const TIMEOUT: Duration = Duration::from_millis(400);

fn v4(target: &Target, port: u16) -> SocketAddr {
    SocketAddr::from((target.address_v4(), port))
}

fn v6(target: &Target, port: u16) -> SocketAddr {
    SocketAddr::from((target.address_v6(), port))
}

/// One connect with [`TIMEOUT`], as its outcome: `Ok(())` or the error kind.
fn connect(addr: SocketAddr) -> Result<(), ErrorKind> {
    TcpStream::connect_timeout(&addr, TIMEOUT)
        .map(drop)
        .map_err(|e| e.kind())
}

/// `n` connects to `addr` at once, one thread each (the threads inherit the scanner namespace).
fn connect_burst(addr: SocketAddr, n: usize) -> Vec<Result<(), ErrorKind>> {
    let threads: Vec<_> = (0..n)
        .map(|_| thread::spawn(move || connect(addr)))
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// One ICMP echo request to `ip` from a raw socket (root): whether a reply came within
/// [`TIMEOUT`].
fn ping(ip: Ipv4Addr) -> bool {
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).unwrap();
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    // Type 8 (echo request), code 0, checksum, identifier 0x1234, sequence 1.
    let mut request = [8, 0, 0, 0, 0x12, 0x34, 0, 1];
    let sum: u32 = request
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    request[2..4].copy_from_slice(&(!(folded as u16)).to_be_bytes());
    socket
        .send_to(&request, &SocketAddr::from((ip, 0)).into())
        .unwrap();
    let mut packet = [0u8; 1500];
    // A raw socket gets every ICMP packet the namespace receives: wait for an echo reply
    // (type 0 after the IPv4 header) or the timeout.
    while let Ok(n) = (&socket).read(&mut packet) {
        let header = usize::from(packet[0] & 0x0f) * 4;
        if n > header && packet[header] == 0 {
            return true;
        }
    }
    false
}

fn count(outcomes: &[Result<(), ErrorKind>], wanted: Result<(), ErrorKind>) -> usize {
    outcomes.iter().filter(|&&o| o == wanted).count()
}

/// What `ip netns list` shows, names only.
fn netns_list() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn listening_ports_accept_and_others_are_refused() -> TestResult {
    let Some(mut lab) = Lab::try_new("listen")? else {
        return Ok(());
    };
    let first = lab.add_target()?;
    let second = lab.add_target()?;
    let ports: Vec<u16> = (20_000..20_600).collect();
    let listeners = first.listen(&ports)?;
    let (a, b) = (first.clone(), second.clone());
    let outcomes = lab.in_scanner(move || {
        [
            connect(v4(&a, 20_000)),
            connect(v6(&a, 20_599)),
            connect(v4(&a, 20_600)),
            connect(v6(&a, 19_999)),
            // The second target listens nowhere: its own stack answers, with resets.
            connect(v4(&b, 20_000)),
        ]
    })?;
    let refused = Err(ErrorKind::ConnectionRefused);
    assert_eq!(outcomes, [Ok(()), Ok(()), refused, refused, refused]);
    let deadline = Instant::now() + Duration::from_secs(2);
    while listeners.accepted() < 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(listeners.accepted(), 2);

    drop(listeners);
    let a = first.clone();
    let after = lab.in_scanner(move || connect(v4(&a, 20_000)))?;
    assert_eq!(after, refused, "closing the guard closes the ports");
    Ok(())
}

#[test]
fn dropped_ports_time_out_until_the_rules_are_replaced() -> TestResult {
    let Some(mut lab) = Lab::try_new("drop_ports")? else {
        return Ok(());
    };
    let target = lab.add_target()?;
    let _listeners = target.listen(&[22, 80])?;
    target.firewall(&Firewall::new().drop_ports([22]))?;
    let t = target.clone();
    let outcomes = lab.in_scanner(move || {
        [
            connect(v4(&t, 22)),
            connect(v6(&t, 22)),
            connect(v4(&t, 80)),
            connect(v6(&t, 80)),
        ]
    })?;
    let timed_out = Err(ErrorKind::TimedOut);
    assert_eq!(outcomes, [timed_out, timed_out, Ok(()), Ok(())]);

    target.firewall(&Firewall::new())?;
    let t = target.clone();
    assert_eq!(lab.in_scanner(move || connect(v4(&t, 22)))?, Ok(()));
    Ok(())
}

#[test]
fn rejected_ports_answer_with_reset_or_admin_prohibited() -> TestResult {
    let Some(mut lab) = Lab::try_new("reject_ports")? else {
        return Ok(());
    };
    let target = lab.add_target()?;
    let _listeners = target.listen(&[23, 25])?;
    let rules = Firewall::new()
        .reject_ports([23], Reject::AdminProhibited)
        .reject_ports([25], Reject::TcpReset);
    target.firewall(&rules)?;
    let t = target.clone();
    let outcomes = lab.in_scanner(move || {
        // Many in a row: the ICMP rate limit the lab lifts would silence most of these.
        let prohibited_v4: Vec<_> = (0..50).map(|_| connect(v4(&t, 23))).collect();
        // Over IPv6 the error arrives with the SYN retransmitted after 1 s (see `Reject`).
        let prohibited_v6 = TcpStream::connect_timeout(&v6(&t, 23), Duration::from_millis(1500))
            .map(drop)
            .map_err(|e| e.kind());
        (
            prohibited_v4,
            prohibited_v6,
            connect(v4(&t, 25)),
            connect(v6(&t, 25)),
        )
    })?;
    let (prohibited_v4, prohibited_v6, reset_v4, reset_v6) = outcomes;
    assert!(
        prohibited_v4
            .iter()
            .all(|&o| o == Err(ErrorKind::HostUnreachable)),
        "{prohibited_v4:?}"
    );
    // Linux maps ICMPv6 "administratively prohibited" to EACCES.
    assert_eq!(prohibited_v6, Err(ErrorKind::PermissionDenied));
    assert_eq!(reset_v4, Err(ErrorKind::ConnectionRefused));
    assert_eq!(reset_v6, Err(ErrorKind::ConnectionRefused));
    Ok(())
}

#[test]
fn random_loss_loses_a_plausible_share() -> TestResult {
    let Some(mut lab) = Lab::try_new("random_loss")? else {
        return Ok(());
    };
    let target = lab.add_target()?;
    let _listeners = target.listen(&[80])?;
    target.firewall(&Firewall::new().random_loss(50))?;
    let addr = v4(&target, 80);
    let outcomes = lab.in_scanner(move || connect_burst(addr, 200))?;
    // SYN in and SYN-ACK out must both survive: p = 0.25, about 50 of 200 (sd about 6).
    let connected = count(&outcomes, Ok(()));
    let timed_out = count(&outcomes, Err(ErrorKind::TimedOut));
    assert!(
        (15..=100).contains(&connected),
        "{connected} of 200 connected"
    );
    assert_eq!(connected + timed_out, 200, "{outcomes:?}");
    Ok(())
}

#[test]
fn syn_rate_limit_drops_bursts_and_passes_a_low_rate() -> TestResult {
    let Some(mut lab) = Lab::try_new("syn_rate_limit")? else {
        return Ok(());
    };
    let target = lab.add_target()?;
    let _listeners = target.listen(&[80])?;
    target.firewall(&Firewall::new().syn_rate_limit(100))?;
    let addr = v4(&target, 80);
    let burst = lab.in_scanner(move || connect_burst(addr, 300))?;
    let timed_out = count(&burst, Err(ErrorKind::TimedOut));
    // 300 SYNs within a few tens of milliseconds against 100/s (burst 5): most must be dropped.
    assert!(timed_out >= 150, "only {timed_out} of 300 timed out");
    assert_eq!(timed_out + count(&burst, Ok(())), 300, "{burst:?}");

    // The bucket refills in well under a second at this rate.
    thread::sleep(Duration::from_millis(200));
    let slow = lab.in_scanner(move || {
        (0..20)
            .map(|_| {
                thread::sleep(Duration::from_millis(40));
                connect(addr)
            })
            .collect::<Vec<_>>()
    })?;
    assert_eq!(count(&slow, Ok(())), 20, "{slow:?}");
    Ok(())
}

#[test]
fn ban_after_a_burst_then_lift() -> TestResult {
    let Some(mut lab) = Lab::try_new("ban_after")? else {
        return Ok(());
    };
    let target = lab.add_target()?;
    let _listeners = target.listen(&[80, 443])?;
    let ban = Duration::from_millis(1500);
    target.firewall(&Firewall::new().ban_after(20, ban))?;
    let t = target.clone();
    let (burst, during) = lab.in_scanner(move || {
        let burst = connect_burst(v4(&t, 80), 100);
        // Banned: everything from the scanner is dropped, other ports included.
        (burst, connect(v4(&t, 443)))
    })?;
    assert!(count(&burst, Err(ErrorKind::TimedOut)) >= 50, "{burst:?}");
    assert_eq!(during, Err(ErrorKind::TimedOut));
    let banned = target
        .command("nft")
        .args(["list", "set", "inet", "picket_lab", "banned_v4"])
        .output()?;
    let banned = String::from_utf8(banned.stdout)?;
    assert!(
        banned.contains(&target.scanner_address_v4().to_string()),
        "{banned}"
    );

    thread::sleep(ban);
    let t = target.clone();
    let after = lab.in_scanner(move || connect(v4(&t, 443)))?;
    assert_eq!(after, Ok(()), "the ban lifts after its duration");
    Ok(())
}

#[test]
fn link_down_makes_the_host_unreachable_until_it_comes_back() -> TestResult {
    let Some(mut lab) = Lab::try_new("set_link")? else {
        return Ok(());
    };
    let target = lab.add_target()?;
    let _listeners = target.listen(&[80])?;
    let t = target.clone();
    assert_eq!(lab.in_scanner(move || connect(v4(&t, 80)))?, Ok(()));

    target.set_link(false)?;
    let t = target.clone();
    let down = lab.in_scanner(move || [connect(v4(&t, 80)), connect(v6(&t, 80))])?;
    for outcome in down {
        assert!(
            matches!(
                outcome,
                Err(ErrorKind::TimedOut | ErrorKind::HostUnreachable)
            ),
            "{outcome:?}"
        );
    }

    target.set_link(true)?;
    let t = target.clone();
    assert_eq!(
        lab.in_scanner(move || [connect(v4(&t, 80)), connect(v6(&t, 80))])?,
        [Ok(()), Ok(())]
    );
    Ok(())
}

#[test]
fn a_flapping_port_alternates() -> TestResult {
    let Some(mut lab) = Lab::try_new("flap")? else {
        return Ok(());
    };
    let target = lab.add_target()?;
    // Phases long enough that a loaded machine (CI runs every suite at once) still probes the
    // first phase first and sees each phase several times.
    let period = Duration::from_millis(300);
    let _flapping = target.flap(8080, period)?;
    let addr = v4(&target, 8080);
    let outcomes = lab.in_scanner(move || {
        (0..24)
            .map(|_| {
                let outcome = connect(addr);
                thread::sleep(Duration::from_millis(100));
                outcome
            })
            .collect::<Vec<_>>()
    })?;
    assert_eq!(outcomes[0], Ok(()), "listening when flap returns");
    let open = count(&outcomes, Ok(()));
    let refused = count(&outcomes, Err(ErrorKind::ConnectionRefused));
    assert_eq!(open + refused, outcomes.len(), "{outcomes:?}");
    // 24 probes over about 2.4 s, 8 phases of 300 ms: roughly half each way.
    assert!(open >= 6 && refused >= 6, "{outcomes:?}");
    let switches = outcomes.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches >= 4, "{outcomes:?}");
    Ok(())
}

#[test]
fn dropping_the_lab_removes_its_namespaces_also_on_panic() -> TestResult {
    let prefix = Lab::namespace_prefix("cleanup");
    let Some(mut lab) = Lab::try_new("cleanup")? else {
        return Ok(());
    };
    let target = lab.add_target()?;
    let names = [lab.scanner_ns().to_owned(), target.ns().to_owned()];
    assert!(names.iter().all(|n| netns_list().contains(n)));
    drop(lab);
    assert!(
        !netns_list().iter().any(|n| n.starts_with(&prefix)),
        "{:?}",
        netns_list()
    );

    let prefix = Lab::namespace_prefix("cleanup_panic");
    let panicked = thread::spawn(|| {
        let Some(mut lab) = Lab::try_new("cleanup_panic").unwrap() else {
            return;
        };
        let target = lab.add_target().unwrap();
        let _listeners = target.listen(&[80]).unwrap();
        lab.in_scanner(|| panic!("a failing test inside the scanner"))
            .unwrap();
    })
    .join();
    assert!(panicked.is_err());
    assert!(
        !netns_list().iter().any(|n| n.starts_with(&prefix)),
        "{:?}",
        netns_list()
    );
    Ok(())
}

#[test]
fn stale_namespaces_of_dead_processes_are_removed() -> TestResult {
    if Lab::try_new("stale_probe")?.is_none() {
        return Ok(());
    }
    let prefix = Lab::namespace_prefix("stale");
    // A process that has exited: its pid names the crashed run.
    let mut child = Command::new("true").spawn()?;
    let dead = child.id();
    child.wait()?;
    let stale = format!("{prefix}{dead}-0-s");
    let live = format!("{prefix}{}-999999-s", std::process::id());
    let foreign = format!("{prefix}{dead}-0-x");
    for name in [&stale, &live, &foreign] {
        assert!(
            Command::new("ip")
                .args(["netns", "add", name])
                .status()?
                .success()
        );
    }
    let lab = Lab::try_new("stale")?.unwrap();
    let names = netns_list();
    let kept = [
        names.contains(&stale),
        names.contains(&live),
        names.contains(&foreign),
    ];
    for name in [&live, &foreign] {
        assert!(
            Command::new("ip")
                .args(["netns", "del", name])
                .status()?
                .success()
        );
    }
    assert_eq!(
        kept,
        [false, true, true],
        "only the dead process's lab namespace goes"
    );
    assert!(names.contains(&lab.scanner_ns().to_owned()));
    Ok(())
}

#[test]
fn a_full_port_scan_finds_exactly_the_listening_ports() -> TestResult {
    let Some(mut lab) = Lab::try_new("full_scan")? else {
        return Ok(());
    };
    let target = lab.add_target()?;
    // Spread over the whole range, 1000 of them.
    let ports: Vec<u16> = (1..=1000u16).map(|i| i * 65).collect();
    let _listeners = target.listen(&ports)?;
    let ip = IpAddr::from(target.address_v4());
    let (open, refused, other, elapsed) = lab.in_scanner(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(scan_all_ports(ip))
    })?;
    assert_eq!(open, ports.iter().copied().collect::<BTreeSet<_>>());
    assert_eq!(refused, 65_535 - ports.len());
    assert_eq!(other, 0);
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    Ok(())
}

/// Connects to every port of `ip` with 2048 in flight: (open ports, refused count, other
/// outcomes, time taken).
async fn scan_all_ports(ip: IpAddr) -> (BTreeSet<u16>, usize, usize, Duration) {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut results = Vec::with_capacity(65_535);
    for port in 1..=u16::MAX {
        if tasks.len() >= 2048 {
            results.push(tasks.join_next().await.unwrap().unwrap());
        }
        tasks.spawn(async move {
            let connect = tokio::net::TcpStream::connect(SocketAddr::new(ip, port));
            let outcome = match tokio::time::timeout(Duration::from_secs(2), connect).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.kind()),
                Err(_) => Err(ErrorKind::TimedOut),
            };
            (port, outcome)
        });
    }
    while let Some(done) = tasks.join_next().await {
        results.push(done.unwrap());
    }
    let open = results
        .iter()
        .filter(|(_, o)| o.is_ok())
        .map(|&(p, _)| p)
        .collect();
    let refused = results
        .iter()
        .filter(|(_, o)| *o == Err(ErrorKind::ConnectionRefused))
        .count();
    let other = results.len() - refused - results.iter().filter(|(_, o)| o.is_ok()).count();
    (open, refused, other, start.elapsed())
}

#[test]
fn the_scanner_command_runs_inside_the_lab() -> TestResult {
    let Some(mut lab) = Lab::try_new("scanner_command")? else {
        return Ok(());
    };
    let target = lab.add_target()?;
    let out = lab
        .scanner_command("ip")
        .args(["-o", "-4", "addr"])
        .output()?;
    let text = String::from_utf8(out.stdout)?;
    assert!(
        text.contains(&format!("{}/24", target.scanner_address_v4())),
        "{text}"
    );
    let out = lab.scanner_command("ip").args(["-o", "link"]).output()?;
    let links: Vec<String> = String::from_utf8(out.stdout)?
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_owned())
        .collect();
    assert_eq!(
        links,
        ["lo", "veth0"],
        "only the lab's interfaces are visible"
    );
    Ok(())
}

#[test]
fn allow_only_drops_everything_but_the_allowed_ports_also_with_loss() -> TestResult {
    let Some(mut lab) = Lab::try_new("allow_only")? else {
        return Ok(());
    };
    let target = lab.add_target()?;
    let _listeners = target.listen(&[22, 80])?;
    target.firewall(&Firewall::new().allow_only([22, 443]))?;
    let t = target.clone();
    let outcomes = lab.in_scanner(move || {
        [
            connect(v4(&t, 22)),
            connect(v6(&t, 22)),
            // Allowed but nothing listens: the host's own stack resets.
            connect(v4(&t, 443)),
            // Listening but not allowed, and a closed port: silence, not a reset.
            connect(v4(&t, 80)),
            connect(v6(&t, 81)),
        ]
    })?;
    let timed_out = Err(ErrorKind::TimedOut);
    let refused = Err(ErrorKind::ConnectionRefused);
    assert_eq!(outcomes, [Ok(()), Ok(()), refused, timed_out, timed_out]);
    let ip = target.address_v4();
    assert!(
        !lab.in_scanner(move || ping(ip))?,
        "ICMP echo is dropped too"
    );
    target.firewall(&Firewall::new())?;
    assert!(
        lab.in_scanner(move || ping(ip))?,
        "and answered without the rules"
    );

    // Composed with 50 % loss: the allowed port still connects sometimes, the others never.
    target.firewall(&Firewall::new().allow_only([22]).random_loss(50))?;
    let (open, closed) = (v4(&target, 22), v4(&target, 80));
    let (open, closed) =
        lab.in_scanner(move || (connect_burst(open, 100), connect_burst(closed, 100)))?;
    let connected = count(&open, Ok(()));
    assert!(
        (5..=60).contains(&connected),
        "{connected} of 100 connected"
    );
    assert_eq!(connected + count(&open, timed_out), 100, "{open:?}");
    assert_eq!(count(&closed, timed_out), 100, "{closed:?}");
    Ok(())
}

#[test]
fn kernel_icmp_rate_limit_silences_most_rejects() -> TestResult {
    let Some(mut lab) = Lab::try_new("icmp_rate_limit")? else {
        return Ok(());
    };
    let target = lab.add_target()?;
    target.firewall(&Firewall::new().reject_ports(1000..1200, Reject::AdminProhibited))?;
    target.kernel_icmp_rate_limit(true)?;
    let ip = target.address_v4();
    let burst = move || {
        let threads: Vec<_> = (1000..1200u16)
            .map(|port| thread::spawn(move || connect(SocketAddr::from((ip, port)))))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    };
    let limited = lab.in_scanner(burst)?;
    // 200 probes within well under a second: a burst of about six answers, then one a second.
    let answered = count(&limited, Err(ErrorKind::HostUnreachable));
    assert!((1..=20).contains(&answered), "{answered} of 200 answered");
    assert_eq!(
        answered + count(&limited, Err(ErrorKind::TimedOut)),
        200,
        "{limited:?}"
    );

    target.kernel_icmp_rate_limit(false)?;
    let unlimited = lab.in_scanner(burst)?;
    assert_eq!(
        count(&unlimited, Err(ErrorKind::HostUnreachable)),
        200,
        "{unlimited:?}"
    );
    Ok(())
}

#[test]
fn a_shared_round_robin_counter_alternates_across_its_ports() -> TestResult {
    let Some(mut lab) = Lab::try_new("round_robin")? else {
        return Ok(());
    };
    let target = lab.add_target()?;
    let ports = [8080, 8081, 8082];
    let _listeners = target.listen(&ports)?;
    target.firewall(&Firewall::new().round_robin_reset(ports))?;
    let t = target.clone();
    let outcomes = lab.in_scanner(move || {
        // One probe at a time, cycling over the ports: the shared counter alternates per SYN.
        (0..12)
            .map(|i| connect(v4(&t, ports[i % 3])))
            .collect::<Vec<_>>()
    })?;
    let refused = Err(ErrorKind::ConnectionRefused);
    let expected: Vec<_> = (0..12)
        .map(|i| if i % 2 == 0 { refused } else { Ok(()) })
        .collect();
    assert_eq!(outcomes, expected);
    // So every port both answered and refused: an open port that looks closed half the time.
    for (i, port) in ports.iter().enumerate() {
        let own: Vec<_> = outcomes.iter().skip(i).step_by(3).collect();
        assert!(
            own.contains(&&Ok(())) && own.contains(&&refused),
            "{port}: {own:?}"
        );
    }
    Ok(())
}

#[test]
fn a_segment_has_live_hosts_and_dead_addresses() -> TestResult {
    let Some(mut lab) = Lab::try_new("segment")? else {
        return Ok(());
    };
    let segment = lab.add_segment()?;
    let first = lab.add_host(&segment, 2)?;
    let second = lab.add_host(&segment, 40)?;
    let _first = first.listen(&[22])?;
    let _second = second.listen(&[80])?;
    second.firewall(&Firewall::new().allow_only([80]))?;
    let dead = segment.address_v4(3);
    let (a, b) = (first.clone(), second.clone());
    let (live, dead) = lab.in_scanner(move || {
        let live = [
            connect(v4(&a, 22)),
            connect(v6(&a, 22)),
            connect(v4(&a, 80)),
            connect(v4(&b, 80)),
            connect(v6(&b, 80)),
            connect(v4(&b, 22)),
        ];
        // ARP gives up after three solicitations a second apart.
        let dead =
            TcpStream::connect_timeout(&SocketAddr::from((dead, 22)), Duration::from_secs(5))
                .map(drop)
                .map_err(|e| e.kind());
        (live, dead)
    })?;
    let (refused, timed_out) = (Err(ErrorKind::ConnectionRefused), Err(ErrorKind::TimedOut));
    assert_eq!(live, [Ok(()), Ok(()), refused, Ok(()), Ok(()), timed_out]);
    assert!(
        matches!(dead, Err(ErrorKind::HostUnreachable | ErrorKind::TimedOut)),
        "{dead:?}"
    );

    // A host's link goes down and comes back, as a target's does.
    first.set_link(false)?;
    first.set_link(true)?;
    let a = first.clone();
    assert_eq!(lab.in_scanner(move || connect(v4(&a, 22)))?, Ok(()));

    let names = [first.ns().to_owned(), second.ns().to_owned()];
    let prefix = Lab::namespace_prefix("segment");
    assert!(names.iter().all(|n| netns_list().contains(n)));
    drop(lab);
    assert!(
        !netns_list()
            .iter()
            .any(|n| n.starts_with(&prefix) && n.contains(&format!("-{}-", std::process::id()))),
        "{:?}",
        netns_list()
    );
    Ok(())
}
