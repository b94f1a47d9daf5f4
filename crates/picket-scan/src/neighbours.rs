//! The kernel's IPv4 neighbour (ARP) table, read for host discovery.
//!
//! Every connect to an address on a directly attached segment makes the kernel ask for it with
//! ARP before the SYN leaves. A host that answers ARP is on the link even when its firewall drops
//! every probe (a default-drop host); an address whose ARP request goes unanswered is not there.
//! Reading the table the kernel keeps anyway gives discovery that evidence without a raw socket,
//! and so without privileges. The table is per network namespace, and a thread can be in another
//! namespace than the process's first thread, so it is read through `/proc/thread-self`.

use std::collections::HashMap;
use std::net::Ipv4Addr;

/// `ATF_COM` in the table's flags: the entry is complete (the neighbour answered).
const ATF_COM: u32 = 0x2;

/// What the table says about an address the kernel tried to reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Neighbour {
    /// It answered ARP.
    Answered,
    /// The kernel asked and nobody has answered (yet).
    Unanswered,
}

/// Reads the table of the calling thread's network namespace; empty when it cannot be read.
pub fn read() -> HashMap<Ipv4Addr, Neighbour> {
    std::fs::read_to_string("/proc/thread-self/net/arp")
        .map(|text| parse(&text))
        .unwrap_or_default()
}

/// Parses `/proc/net/arp`: a header line, then `IP type flags HW-address mask device` rows.
fn parse(text: &str) -> HashMap<Ipv4Addr, Neighbour> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let ip: Ipv4Addr = fields.next()?.parse().ok()?;
            let flags = fields.nth(1)?;
            let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()?;
            let mac = fields.next()?;
            let answered = flags & ATF_COM != 0 && mac != "00:00:00:00:00:00";
            let state = if answered {
                Neighbour::Answered
            } else {
                Neighbour::Unanswered
            };
            Some((ip, state))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_entries_answered_incomplete_ones_did_not() {
        let text = "IP address       HW type     Flags       HW address            Mask     Device\n\
                    198.19.0.2       0x1         0x2         ee:4a:0c:11:22:33     *        br0\n\
                    198.19.0.5       0x1         0x0         00:00:00:00:00:00     *        br0\n\
                    garbage line\n";
        let table = parse(text);
        assert_eq!(table.len(), 2);
        assert_eq!(table[&"198.19.0.2".parse().unwrap()], Neighbour::Answered);
        assert_eq!(table[&"198.19.0.5".parse().unwrap()], Neighbour::Unanswered);
    }

    #[test]
    fn an_unreadable_table_is_empty() {
        assert!(parse("").is_empty());
        assert!(parse("header only\n").is_empty());
    }
}
