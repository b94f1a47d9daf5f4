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
