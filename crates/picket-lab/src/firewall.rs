//! The target's packet filter: a small builder that renders one nftables table.

use std::collections::BTreeSet;
use std::fmt::{self, Write};
use std::time::Duration;

/// The nftables table every target's rules live in (`inet`: one table for IPv4 and IPv6).
pub const TABLE: &str = "inet picket_lab";

/// How long the per-source SYN counters of [`Firewall::ban_after`] outlive a source's last SYN.
const BAN_METER_TIMEOUT: &str = "60s";

/// How a rejected port answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// A TCP reset, as if nothing listened. The scanner sees `ConnectionRefused`.
    TcpReset,
    /// ICMP "communication administratively prohibited" (ICMPv4 type 3 code 13, ICMPv6 type 1
    /// code 1), as firewalls answer. Linux reports it to `connect` as `EHOSTUNREACH`
    /// ([`std::io::ErrorKind::HostUnreachable`]) over IPv4, at once, and as `EACCES`
    /// ([`std::io::ErrorKind::PermissionDenied`]) over IPv6, but only after about a second:
    /// across a veth the ICMPv6 error for the first SYN arrives while `connect` still holds the
    /// socket, and Linux then keeps it as a soft error (`TcpExtLockDroppedIcmps`); the error
    /// for the SYN retransmitted after 1 s is the one reported. A scanner with a shorter IPv6
    /// timeout sees a timeout. IPv4 does not behave this way in practice.
    AdminProhibited,
}

/// The rules of one target, built up and then applied with [`Target::firewall`].
///
/// Whatever the order of the builder calls, the rendered input chain checks, in this order:
/// loopback and IPv6 neighbour discovery (always accepted), random loss, bans, the SYN rate
/// limit, drop-all, dropped ports, rejected ports, the shared round-robin resets, then
/// allow-only (established and related traffic and the allowed ports accepted, everything else
/// dropped). The first rule that matches decides, so a port both dropped and rejected is
/// dropped, and loss, bans and the SYN rate limit act on a default-drop host as on any other.
/// Port rules are about TCP.
///
/// Neighbour discovery is never filtered because ARP, its IPv4 twin, never reaches an `inet`
/// table either: this keeps IPv4 and IPv6 behaving alike, like a host whose IP filter drops
/// packets while its link layer still answers.
///
/// ```
/// use std::time::Duration;
/// use picket_lab::{Firewall, Reject};
///
/// let rules = Firewall::new()
///     .drop_ports([22])
///     .reject_ports([23], Reject::AdminProhibited)
///     .random_loss(3)
///     .ban_after(50, Duration::from_secs(2))
///     .allow_only([80, 443]);
/// assert!(rules.render().contains("tcp dport { 22 } drop"));
/// assert!(rules.render().contains("tcp dport { 80, 443 } accept"));
/// ```
///
/// [`Target::firewall`]: crate::Target::firewall
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Firewall {
    drop_ports: BTreeSet<u16>,
    reset_ports: BTreeSet<u16>,
    prohibited_ports: BTreeSet<u16>,
    loss_percent: u8,
    /// SYNs a second, and whether counted per source address (one limit or the other: kept
    /// in one field so that the rules stay small enough to be held by value).
    syn_rate: Option<(u32, bool)>,
    ban: Option<(u32, Duration)>,
    drop_all: bool,
    round_robin_ports: BTreeSet<u16>,
    allow_only: Option<BTreeSet<u16>>,
}

impl Firewall {
    /// No rules: everything passes.
    ///
    /// ```
    /// assert!(!picket_lab::Firewall::new().render().contains("drop"));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Silently drops TCP packets to these ports: connects time out, as behind most firewalls.
    ///
    /// ```
    /// let rules = picket_lab::Firewall::new().drop_ports([80, 443]).drop_ports(8000..=8002);
    /// assert!(rules.render().contains("tcp dport { 80, 443, 8000, 8001, 8002 } drop"));
    /// ```
    pub fn drop_ports(mut self, ports: impl IntoIterator<Item = u16>) -> Self {
        self.drop_ports.extend(ports);
        self
    }

    /// Answers TCP packets to these ports with a reset or an ICMP error, see [`Reject`].
    ///
    /// ```
    /// use picket_lab::{Firewall, Reject};
    /// let rules = Firewall::new().reject_ports([25], Reject::TcpReset);
    /// assert!(rules.render().contains("tcp dport { 25 } reject with tcp reset"));
    /// ```
    pub fn reject_ports(mut self, ports: impl IntoIterator<Item = u16>, how: Reject) -> Self {
        match how {
            Reject::TcpReset => self.reset_ports.extend(ports),
            Reject::AdminProhibited => self.prohibited_ports.extend(ports),
        }
        self
    }

    /// Drops `percent` % of all IP packets at random, in each direction (values above 100 mean
    /// 100). A TCP handshake needs the SYN in and the SYN-ACK out, so a single connect attempt
    /// gets through with probability `(1 - percent/100)²`: a quarter of them at 50 %.
    ///
    /// ```
    /// let rules = picket_lab::Firewall::new().random_loss(3);
    /// assert!(rules.render().contains("numgen random mod 100 < 3 drop"));
    /// ```
    pub fn random_loss(mut self, percent: u8) -> Self {
        self.loss_percent = percent.min(100);
        self
    }

    /// Drops TCP SYNs above `per_second` (counted over all sources, with a burst of 5), like an
    /// IPS protecting a host. Connects within the rate pass; the excess times out. Rates below
    /// 1 mean 1.
    ///
    /// ```
    /// let rules = picket_lab::Firewall::new().syn_rate_limit(100);
    /// assert!(rules.render().contains("limit rate over 100/second burst 5 packets drop"));
    /// ```
    pub fn syn_rate_limit(mut self, per_second: u32) -> Self {
        self.syn_rate = Some((per_second.max(1), false));
        self
    }

    /// Drops TCP SYNs above `per_second` from each source address (a burst of 5), like an IPS
    /// that limits every client on its own: scanners at several addresses each get the rate.
    /// Rates below 1 mean 1. Replaces [`Firewall::syn_rate_limit`] (and the other way round).
    ///
    /// ```
    /// let rules = picket_lab::Firewall::new().syn_rate_limit_per_source(2000);
    /// assert!(rules.render().contains("ip saddr limit rate over 2000/second burst 5 packets } drop"));
    /// ```
    pub fn syn_rate_limit_per_source(mut self, per_second: u32) -> Self {
        self.syn_rate = Some((per_second.max(1), true));
        self
    }

    /// Bans a source that sends more than `syn_per_second` TCP SYNs per second (with a burst of
    /// the same size): from its first excess SYN on, every packet from it is dropped for
    /// `duration` (at least 1 ms), and then it may try again. Packets sent while banned do not
    /// extend the ban.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rules = picket_lab::Firewall::new().ban_after(20, Duration::from_millis(1500));
    /// assert!(rules.render().contains("timeout 1500ms"));
    /// ```
    pub fn ban_after(mut self, syn_per_second: u32, duration: Duration) -> Self {
        self.ban = Some((syn_per_second.max(1), duration));
        self
    }

    /// Drops every IP packet that arrives (loopback and neighbour discovery excepted): the host
    /// looks down, though its link is up.
    ///
    /// ```
    /// let rules = picket_lab::Firewall::new().drop_all();
    /// assert!(rules.render().contains("\t\tdrop\n"));
    /// ```
    pub fn drop_all(mut self) -> Self {
        self.drop_all = true;
        self
    }

    /// A default-drop host, as behind a cloud security group: accepts established and related
    /// traffic and TCP to `ports`, and silently drops everything else (other TCP ports, ICMP
    /// echo, UDP). Loopback and neighbour discovery still pass, and the rules checked before it
    /// (loss, bans, the SYN rate limit, port rules) still apply. Further calls add ports.
    ///
    /// ```
    /// let rules = picket_lab::Firewall::new().allow_only([22, 443]).random_loss(3);
    /// let text = rules.render();
    /// assert!(text.contains("ct state established,related accept"));
    /// assert!(text.contains("tcp dport { 22, 443 } accept\n\t\tdrop\n"));
    /// ```
    pub fn allow_only(mut self, ports: impl IntoIterator<Item = u16>) -> Self {
        self.allow_only
            .get_or_insert_with(BTreeSet::new)
            .extend(ports);
        self
    }

    /// Puts `ports` behind one shared round-robin counter, like a balancer with a dead backend
    /// or a flapping service: of the TCP SYNs to any of them, taken in arrival order, every
    /// first one is answered with a reset and every second one passes on (to a listener, or to
    /// the rules after this one). The counter (nft `numgen inc mod 2`) is shared across the
    /// set, so a probe to one port decides what the next probe to another one gets. Further
    /// calls add ports to the same counter.
    ///
    /// ```
    /// let rules = picket_lab::Firewall::new().round_robin_reset([8080, 8081, 8082]);
    /// assert!(rules.render().contains(
    ///     "tcp dport { 8080, 8081, 8082 } tcp flags syn / syn,ack numgen inc mod 2 0 reject with tcp reset"
    /// ));
    /// ```
    pub fn round_robin_reset(mut self, ports: impl IntoIterator<Item = u16>) -> Self {
        self.round_robin_ports.extend(ports);
        self
    }

    /// The rules as an nftables table definition (what `nft -f` reads).
    ///
    /// ```
    /// let text = picket_lab::Firewall::new().drop_ports([22]).render();
    /// assert!(text.starts_with("table inet picket_lab {"));
    /// ```
    pub fn render(&self) -> String {
        // Writing to a String cannot fail.
        let mut out = String::new();
        let _ = self.write_to(&mut out);
        out
    }

    fn write_to(&self, out: &mut String) -> fmt::Result {
        writeln!(out, "table {TABLE} {{")?;
        if let Some((_, duration)) = self.ban {
            let timeout = nft_duration(duration);
            for (set, kind) in [("banned_v4", "ipv4_addr"), ("banned_v6", "ipv6_addr")] {
                writeln!(
                    out,
                    "\tset {set} {{ type {kind}; flags dynamic, timeout; timeout {timeout}; }}"
                )?;
            }
            for (set, kind) in [("syn_meter_v4", "ipv4_addr"), ("syn_meter_v6", "ipv6_addr")] {
                writeln!(
                    out,
                    "\tset {set} {{ type {kind}; flags dynamic, timeout; timeout {BAN_METER_TIMEOUT}; }}"
                )?;
            }
        }

        if let Some((_, true)) = self.syn_rate {
            for (set, kind) in [
                ("syn_source_v4", "ipv4_addr"),
                ("syn_source_v6", "ipv6_addr"),
            ] {
                writeln!(
                    out,
                    "\tset {set} {{ type {kind}; flags dynamic, timeout; timeout {BAN_METER_TIMEOUT}; }}"
                )?;
            }
        }

        writeln!(out, "\tchain input {{")?;
        writeln!(
            out,
            "\t\ttype filter hook input priority filter; policy accept;"
        )?;
        self.write_exemptions(out, "iif")?;
        self.write_loss(out)?;
        if let Some((rate, _)) = self.ban {
            writeln!(out, "\t\tip saddr @banned_v4 drop")?;
            writeln!(out, "\t\tip6 saddr @banned_v6 drop")?;
            for (meter, family, banned) in [
                ("syn_meter_v4", "ip", "banned_v4"),
                ("syn_meter_v6", "ip6", "banned_v6"),
            ] {
                writeln!(
                    out,
                    "\t\ttcp flags syn / syn,ack update @{meter} {{ {family} saddr limit rate over \
                     {rate}/second burst {rate} packets }} add @{banned} {{ {family} saddr }} drop"
                )?;
            }
        }
        if let Some((rate, false)) = self.syn_rate {
            writeln!(
                out,
                "\t\ttcp flags syn / syn,ack limit rate over {rate}/second burst 5 packets drop"
            )?;
        }
        if let Some((rate, true)) = self.syn_rate {
            for (set, family) in [("syn_source_v4", "ip"), ("syn_source_v6", "ip6")] {
                writeln!(
                    out,
                    "\t\ttcp flags syn / syn,ack update @{set} {{ {family} saddr limit rate over \
                     {rate}/second burst 5 packets }} drop"
                )?;
            }
        }
        if self.drop_all {
            writeln!(out, "\t\tdrop")?;
        }
        write_ports(out, &self.drop_ports, "drop")?;
        write_ports(out, &self.reset_ports, "reject with tcp reset")?;
        write_ports(
            out,
            &self.prohibited_ports,
            "reject with icmpx admin-prohibited",
        )?;
        write_ports(
            out,
            &self.round_robin_ports,
            "tcp flags syn / syn,ack numgen inc mod 2 0 reject with tcp reset",
        )?;
        if let Some(allowed) = &self.allow_only {
            writeln!(out, "\t\tct state established,related accept")?;
            write_ports(out, allowed, "accept")?;
            writeln!(out, "\t\tdrop")?;
        }
        writeln!(out, "\t}}")?;

        writeln!(out, "\tchain output {{")?;
        writeln!(
            out,
            "\t\ttype filter hook output priority filter; policy accept;"
        )?;
        self.write_exemptions(out, "oif")?;
        self.write_loss(out)?;
        writeln!(out, "\t}}")?;
        writeln!(out, "}}")
    }

    fn write_exemptions(&self, out: &mut String, interface: &str) -> fmt::Result {
        writeln!(out, "\t\t{interface} \"lo\" accept")?;
        writeln!(
            out,
            "\t\ticmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept"
        )
    }

    fn write_loss(&self, out: &mut String) -> fmt::Result {
        if self.loss_percent > 0 {
            writeln!(
                out,
                "\t\tnumgen random mod 100 < {} drop",
                self.loss_percent
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Firewall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

fn write_ports(out: &mut String, ports: &BTreeSet<u16>, verdict: &str) -> fmt::Result {
    if ports.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    writeln!(out, "\t\ttcp dport {{ {} }} {verdict}", list.join(", "))
}

/// nft reads `1500ms` and `2s`; whole seconds are written as seconds for readability.
fn nft_duration(duration: Duration) -> String {
    let ms = duration.as_millis().max(1);
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_firewall_renders_exemptions_only() {
        insta::assert_snapshot!(Firewall::new().render());
    }

    #[test]
    fn every_rule_renders_in_fixed_order() {
        // Builder calls in reverse of the rendered order: the output must not depend on them.
        let rules = Firewall::new()
            .reject_ports([81, 80], Reject::AdminProhibited)
            .reject_ports([79], Reject::TcpReset)
            .drop_ports([23, 22])
            .allow_only([443, 22])
            .round_robin_reset([8081, 8080])
            .drop_all()
            .syn_rate_limit(100)
            .ban_after(20, Duration::from_secs(2))
            .random_loss(3);
        insta::assert_snapshot!(rules.render());
    }

    #[test]
    fn limits_are_clamped_to_what_nft_accepts() {
        let rules = Firewall::new()
            .random_loss(250)
            .syn_rate_limit(0)
            .ban_after(0, Duration::ZERO);
        let text = rules.render();
        assert!(text.contains("numgen random mod 100 < 100 drop"), "{text}");
        assert!(
            text.contains("limit rate over 1/second burst 5 packets"),
            "{text}"
        );
        assert!(
            text.contains("limit rate over 1/second burst 1 packets"),
            "{text}"
        );
        assert!(text.contains("timeout 1ms"), "{text}");
    }

    #[test]
    fn durations_use_seconds_when_whole() {
        assert_eq!(nft_duration(Duration::from_secs(3)), "3s");
        assert_eq!(nft_duration(Duration::from_millis(2500)), "2500ms");
        assert_eq!(nft_duration(Duration::from_micros(10)), "1ms");
    }

    #[test]
    fn display_is_render() {
        let rules = Firewall::new().drop_ports([1]);
        assert_eq!(rules.to_string(), rules.render());
    }
}
