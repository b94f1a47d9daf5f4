//! The engine against real listeners on loopback: every port decided, every listener found,
//! nothing reported open that does not accept a connection.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use picket_model::{HostState, PortSet, PortState, Reason, ScanProfile};
use picket_scan::{ScanEvent, ScanHost, scan};

fn listeners(n: usize) -> (Vec<TcpListener>, Vec<u16>) {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut ports: Vec<u16> = ls.iter().map(|l| l.local_addr().unwrap().port()).collect();
    ports.sort_unstable();
    (ls, ports)
}

#[tokio::test]
async fn full_range_on_loopback_finds_every_listener() {
    let (_ls, ours) = listeners(40);
    let profile = ScanProfile::new(PortSet::all());
    let hosts = vec![ScanHost {
        address: "127.0.0.1".parse().unwrap(),
        hostname: None,
    }];
    let mut opened = Vec::new();
    let outcome = scan(
        hosts,
        &profile,
        &mut |e| {
            if let ScanEvent::PortOpen { port, .. } = e {
                opened.push(port);
            }
        },
        std::future::pending(),
    )
    .await;
    assert!(!outcome.aborted);
    let host = &outcome.hosts[0];
    assert_eq!(host.state, HostState::Up);
    assert!(host.unprobed.is_empty());
    let open: Vec<u16> = host.open_ports().map(|o| o.port).collect();
    for p in &ours {
        assert!(open.contains(p), "listener on {p} not found");
    }
    for p in &open {
        // Anything else reported open must really accept connections (another service on lo).
        assert!(
            TcpStream::connect_timeout(
                &format!("127.0.0.1:{p}").parse().unwrap(),
                Duration::from_secs(1)
            )
            .is_ok(),
            "{p} reported open but refuses"
        );
    }
    let listed: usize = host.ports.len()
        + host
            .extra_ports
            .iter()
            .map(|e| e.count as usize)
            .sum::<usize>();
    assert_eq!(listed, 65535, "every port decided exactly once");
    assert_eq!(host.extra_ports[0].reason, Reason::Reset);
    assert_eq!(host.extra_ports[0].state, PortState::Closed);
    opened.sort_unstable();
    assert_eq!(opened, open, "events and result agree");
}

/// Hosts are taken from the targets as room opens and handed over as they finish: with more
/// targets than one discovery group holds, the first hosts are done and handed over before the
/// last are even found up, and every host comes back exactly once.
#[tokio::test]
async fn results_stream_out_while_later_targets_are_still_to_come() {
    use std::sync::{Arc, Mutex};

    use picket_model::Targets;
    use picket_scan::{ScanTargets, scan_each};

    // Not on 127.0.0.1: the full-range test beside this one must not see it come and go.
    let listener = TcpListener::bind("127.0.1.1:0").unwrap();
    let ours = vec![listener.local_addr().unwrap().port()];
    let targets = Targets::parse(["127.0.0.0/21"], Vec::<&str>::new()).unwrap();
    let hosts = ScanTargets::resolve(&targets).await.unwrap();
    assert_eq!(hosts.len(), 2048);
    let profile = ScanProfile::new(PortSet::from_ports(ours.clone()));
    let log: Arc<Mutex<Vec<(bool, std::net::IpAddr)>>> = Arc::default();
    let (events_log, results_log) = (Arc::clone(&log), Arc::clone(&log));
    let mut results = Vec::new();
    // The highest probe counts the progress reported.
    let mut reported = (0u64, 0u64);
    let summary = scan_each(
        hosts.iter(),
        hosts.len(),
        &profile,
        &mut |e| match e {
            ScanEvent::HostUp { host, .. } => events_log.lock().unwrap().push((false, host)),
            ScanEvent::Progress { sent, answered, .. } => {
                reported = (reported.0.max(sent), reported.1.max(answered));
            }
            _ => {}
        },
        &mut |result| {
            results_log.lock().unwrap().push((true, result.address));
            results.push(result);
        },
        std::future::pending(),
    )
    .await;
    assert!(!summary.aborted);
    assert_eq!(summary.hosts, 2048);
    let mut addresses: Vec<_> = results.iter().map(|r| r.address).collect();
    addresses.sort_unstable();
    addresses.dedup();
    assert_eq!(addresses.len(), 2048, "every host handed over once");
    assert!(results.iter().all(|r| r.state == HostState::Up));
    // Progress counts the probes as they go, never more than the hosts' own totals.
    let sent: u64 = results.iter().map(|r| r.stats.probes_sent).sum();
    let answered: u64 = results.iter().map(|r| r.stats.answers).sum();
    assert!(
        reported.0 > 0 && reported.0 <= sent && reported.1 <= answered,
        "progress said {reported:?}, the hosts {sent} sent, {answered} answered"
    );
    let log = log.lock().unwrap();
    let first_done = log.iter().position(|(done, _)| *done).unwrap();
    let last_up = log.iter().rposition(|(done, _)| !*done).unwrap();
    assert!(
        first_done < last_up,
        "the first result came only after every host was found up"
    );
}
