//! A network lab for testing Picket's scanner against hosts that misbehave the way real ones do.
//!
//! A [`Lab`] is a set of Linux network namespaces: one for the scanner and one per [`Target`],
//! each target joined to the scanner by its own veth pair, or several of them to one [`Segment`]
//! (a bridge: one subnet whose addresses without a host are dead). A target can [`listen`] on
//! ports, [`flap`] one, put a [`Firewall`] in front of itself (drop, reject, random loss, a SYN
//! rate limit like an IPS, timed bans after a burst, default-drop, a round-robin counter shared
//! by several ports), restore the kernel's ICMP rate limits and take its link down. Code under
//! test runs inside the scanner namespace through [`Lab::in_scanner`] (in-process) or
//! [`Lab::scanner_command`] (a binary). Loss is made with nftables (`numgen random`), not `tc netem`, which this kernel
//! lacks. [`daemons`] starts real daemons from Debian's packages (OpenSSH, nginx, Redis,
//! Memcached, vsftpd, Exim) inside a target, to test service detection against.
//!
//! Sysctls set inside every target namespace (never on the host), each so that a target answers
//! exactly what its rules say, also under a full-speed scan:
//! - `net.core.somaxconn = 65535`, `net.ipv4.tcp_max_syn_backlog = 65535`: a full accept or SYN
//!   queue drops SYNs, which would look like filtering.
//! - `net.ipv4.tcp_syncookies = 1` (the default, made explicit): answer SYN-queue overflow with
//!   cookies rather than silence.
//! - `net.ipv4.icmp_ratemask = 0`, `net.ipv6.icmp.ratemask = ` (empty): no ICMP rate limit, so
//!   an admin-prohibited reject answers every probe. [`Target::kernel_icmp_rate_limit`] puts
//!   back what a fresh namespace has, as on a real host: `net.ipv4.icmp_ratelimit = 1000`,
//!   `net.ipv4.icmp_ratemask = 6168`, `net.ipv4.icmp_msgs_per_sec = 1000`,
//!   `net.ipv4.icmp_msgs_burst = 50`, `net.ipv6.icmp.ratelimit = 100`,
//!   `net.ipv6.icmp.ratemask = 0-1,3-127` (read on Linux 6.18).
//! - `net.ipv6.conf.{all,default}.keep_addr_on_down = 1`: Linux drops a link's IPv6 addresses
//!   when it goes down; kept, a target whose link comes back is the host it was.
//!
//! This crate is test support only (`publish = false`, used as a dev-dependency). It must never
//! touch the host's own network: it creates namespaces, and changes links (bridges included),
//! rules and sysctls only inside them; the addresses it hands out (198.18.0.0/15,
//! fd70:6b::/48) are not routed anywhere, and nothing it creates outlives the [`Lab`] that made it. It needs root; without
//! it, [`Lab::try_new`] says `skipped:` and returns `None`.
//!
//! [`listen`]: Target::listen
//! [`flap`]: Target::flap

pub mod daemons;
mod error;
mod firewall;
mod lab;
mod listen;
mod netns;

pub use error::LabError;
pub use firewall::{Firewall, Reject};
pub use lab::{Lab, Segment, Target};
pub use listen::Listeners;
