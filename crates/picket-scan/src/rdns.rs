//! Reverse DNS (`picket scan -R`, Nmap's `-R`): the name each address's PTR record gives, asked of
//! the system resolver (`getnameinfo` with `NI_NAMEREQD`, so `/etc/hosts` and nsswitch apply as
//! for every other program) on threads of their own, a few at a time, each within a timeout.
//! The threads are detached, not tokio's blocking pool: a lookup given up on (getnameinfo cannot
//! be cancelled) must not hold up the runtime's shutdown, and so the process's exit.
//!
//! It must never panic or fail a scan: a lookup that errs, times out, or answers with text that
//! is not a DNS name (control characters, an address, a label too long) gives no name. It must
//! never look up an address it was not given, and is only called when the user asked for names:
//! a scan sends nothing to a DNS server by default.

use std::net::IpAddr;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream;
use tokio::sync::{Semaphore, oneshot};

/// How many lookups run at once and how long each may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReverseSettings {
    /// Resolver threads at once, counting lookups given up on that have not returned yet.
    pub concurrency: usize,
    /// How long one lookup may take, waiting for a free thread included.
    pub timeout: Duration,
}

impl Default for ReverseSettings {
    /// Eight lookups at once, two seconds each: a resolver that does not answer costs a few
    /// seconds per eight silent hosts, never the scan.
    fn default() -> Self {
        Self {
            concurrency: 8,
            timeout: Duration::from_secs(2),
        }
    }
}

/// The reverse name of each of `addresses`, in the same order (`None`: no valid name).
pub async fn reverse_names(addresses: &[IpAddr], settings: ReverseSettings) -> Vec<Option<String>> {
    reverse_names_with(addresses, settings, system_lookup).await
}

/// [`reverse_names`] through `lookup` instead of the system resolver (a blocking function, run
/// on a thread of its own; its answer is checked as a DNS name like the resolver's).
pub async fn reverse_names_with<F>(
    addresses: &[IpAddr],
    settings: ReverseSettings,
    lookup: F,
) -> Vec<Option<String>>
where
    F: Fn(IpAddr) -> Option<String> + Send + Sync + 'static,
{
    let concurrency = settings.concurrency.max(1);
    let lookup = Arc::new(lookup);
    // A lookup given up on keeps its thread (getnameinfo cannot be cancelled) and its permit
    // until it returns, so a resolver that hangs never holds more than `concurrency` threads.
    let threads = Arc::new(Semaphore::new(concurrency));
    stream::iter(addresses.iter().copied())
        .map(|address| {
            let lookup = Arc::clone(&lookup);
            let threads = Arc::clone(&threads);
            async move {
                let ask = async move {
                    let permit = threads.acquire_owned().await.ok()?;
                    let (tx, rx) = oneshot::channel();
                    // A thread that cannot start, or a lookup that panics, drops `tx`: no name.
                    thread::Builder::new()
                        .name("picket-rdns".into())
                        .spawn(move || {
                            let name = lookup(address);
                            drop(permit);
                            let _ = tx.send(name);
                        })
                        .ok()?;
                    rx.await.ok().flatten()
                };
                tokio::time::timeout(settings.timeout, ask)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|name| dns_name(&name))
            }
        })
        .buffered(concurrency)
        .collect()
        .await
}

/// The system resolver's name for `address`, if it has one.
fn system_lookup(address: IpAddr) -> Option<String> {
    dns_lookup::lookup_addr(&address).ok()
}

/// `name` as a DNS host name (without the root's trailing dot), or `None` when it is not one:
/// at most 253 characters of labels of 1 to 63 letters, digits, hyphens and underscores (some
/// zones use them), and not an address written as text.
fn dns_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let valid_label = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(valid_label) {
        return None;
    }
    if name.parse::<IpAddr>().is_ok() {
        return None;
    }
    Some(name.to_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// 127.0.0.1 is in /etc/hosts (nsswitch asks `files` first), so this sends nothing to a DNS
    /// server. Only that address is asked of the system resolver: another one could be.
    #[tokio::test]
    async fn loopback_resolves_from_the_hosts_file() {
        let names = reverse_names(&[ip("127.0.0.1")], ReverseSettings::default()).await;
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap();
        let listed = hosts
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .any(|l| {
                let mut fields = l.split_whitespace();
                fields.next() == Some("127.0.0.1") && fields.any(|n| Some(n) == names[0].as_deref())
            });
        assert!(listed, "{names:?} is not a name of 127.0.0.1 in /etc/hosts");
    }

    #[tokio::test]
    async fn names_come_back_in_order_and_unanswered_addresses_have_none() {
        let addresses = [ip("127.0.0.1"), ip("127.255.255.254"), ip("::1")];
        let names = reverse_names_with(&addresses, ReverseSettings::default(), |a| {
            (!a.is_ipv4() || a == ip("127.0.0.1")).then(|| format!("host-{}.example.", a.is_ipv4()))
        })
        .await;
        assert_eq!(
            names,
            [
                Some("host-true.example".to_owned()),
                None,
                Some("host-false.example".to_owned())
            ]
        );
    }

    #[tokio::test]
    async fn a_lookup_that_hangs_gives_no_name_within_the_timeout() {
        let settings = ReverseSettings {
            concurrency: 2,
            timeout: Duration::from_millis(50),
        };
        let started = Instant::now();
        let names = reverse_names_with(&[ip("127.255.255.254")], settings, |_| {
            std::thread::sleep(Duration::from_millis(400));
            Some("late.example".to_owned())
        })
        .await;
        assert_eq!(names, [None]);
        assert!(started.elapsed() < Duration::from_millis(300));
    }

    /// The lookup given up on keeps running on its own thread, but the runtime (and so the
    /// process) does not wait for it.
    #[test]
    fn a_lookup_given_up_on_does_not_hold_up_the_runtime() {
        let settings = ReverseSettings {
            concurrency: 1,
            timeout: Duration::from_millis(20),
        };
        let started = Instant::now();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let names = rt.block_on(reverse_names_with(&[ip("127.0.0.1")], settings, |_| {
            std::thread::sleep(Duration::from_secs(3));
            None
        }));
        drop(rt);
        assert_eq!(names, [None]);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn no_more_lookups_run_at_once_than_allowed() {
        static RUNNING: AtomicUsize = AtomicUsize::new(0);
        static MOST: AtomicUsize = AtomicUsize::new(0);
        let settings = ReverseSettings {
            concurrency: 3,
            timeout: Duration::from_secs(5),
        };
        let addresses: Vec<IpAddr> = (1..=12).map(|i| IpAddr::from([127, 0, 1, i])).collect();
        let names = reverse_names_with(&addresses, settings, |a| {
            let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
            MOST.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            Some(format!("h{}", a.to_string().replace('.', "-")))
        })
        .await;
        assert_eq!(names.len(), 12);
        assert_eq!(names[11].as_deref(), Some("h127-0-1-12"));
        assert!(MOST.load(Ordering::SeqCst) <= 3);
    }

    #[tokio::test]
    async fn a_panicking_lookup_gives_no_name() {
        let names = reverse_names_with(&[ip("127.0.0.1")], ReverseSettings::default(), |_| {
            panic!("resolver bug")
        })
        .await;
        assert_eq!(names, [None]);
    }

    #[test]
    fn only_dns_names_are_kept() {
        assert_eq!(dns_name("localhost").as_deref(), Some("localhost"));
        assert_eq!(
            dns_name("mail-1.example.org.").as_deref(),
            Some("mail-1.example.org")
        );
        assert_eq!(dns_name("_gateway.lan").as_deref(), Some("_gateway.lan"));
        for bad in [
            "",
            ".",
            "a..b",
            "evil\x1b[31m.example",
            "with space.example",
            "ünicode.example",
            "a/b",
            "10.0.0.1",
            "::1",
            &"a".repeat(64),
            &["abc"; 64].join("."),
        ] {
            assert_eq!(dns_name(bad), None, "{bad:?}");
        }
        assert!(dns_name(&vec!["a".repeat(63); 3].join(".")).is_some());
    }
}
