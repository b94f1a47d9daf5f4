//! Cutting a scan into shards, as ZMap shards its cyclic group: the ports are dealt into
//! blocks by one seeded permutation (so open ports, which cluster in low numbers, spread evenly
//! over the blocks), the hosts are cut into consecutive blocks, and every (host block, port
//! block) pair is one shard. Shards are numbered in a seeded permuted order of that grid, so
//! that shards handed out one after the other hit different hosts and port blocks. The same
//! targets, ports and seed always give the same shards: a redelivered shard is the same work.
//!
//! Planning is pure: it must never touch the network or a clock.

use picket_model::PortSet;
use picket_scan::Permutation;

use crate::msg::ShardHost;

/// Probes per shard by default: with a target allowing 2,000 SYNs a second per source, about
/// two seconds of work, short enough to rebalance and long enough to amortise a message.
pub const DEFAULT_SHARD_PROBES: usize = 4096;

/// One planned shard: its number and what it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedShard {
    pub shard: u32,
    /// Which block of hosts (the coordinator assembles a host once all its port blocks are in).
    pub host_block: u32,
    pub hosts: Vec<ShardHost>,
    pub ports: PortSet,
}

/// The grid of a plan: how many host blocks and port blocks, and what each holds.
#[derive(Debug, Clone)]
pub struct Plan {
    host_blocks: Vec<Vec<ShardHost>>,
    port_blocks: Vec<PortSet>,
    order: Permutation,
}

impl Plan {
    /// Plans shards of about `probes` (host, port) pairs each over `hosts` x `ports`.
    pub fn new(hosts: Vec<ShardHost>, ports: &PortSet, probes: usize, seed: u64) -> Self {
        let probes = probes.max(1);
        let port_list = ports.as_slice();
        let n_ports = port_list.len().max(1);
        let port_block_count = n_ports.div_ceil(probes).max(1);
        let hosts_per_block = (probes / n_ports).max(1);
        let dealt = Permutation::new(port_list.len() as u64, seed);
        let mut blocks: Vec<Vec<u16>> = vec![Vec::new(); port_block_count];
        for i in 0..port_list.len() as u64 {
            // Dealt round-robin in permuted order: block sizes differ by at most one.
            let port = port_list[dealt.get(i) as usize];
            blocks[(i as usize) % port_block_count].push(port);
        }
        let port_blocks: Vec<PortSet> = blocks.into_iter().map(PortSet::from_ports).collect();
        let host_blocks: Vec<Vec<ShardHost>> = hosts
            .chunks(hosts_per_block)
            .map(<[ShardHost]>::to_vec)
            .collect();
        let cells = (host_blocks.len() * port_blocks.len()) as u64;
        Self {
            order: Permutation::new(cells, seed.rotate_left(17) ^ 0x5348_4152_4453),
            host_blocks,
            port_blocks,
        }
    }

    /// How many shards.
    pub fn len(&self) -> u32 {
        self.order.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Host blocks, each assembled once all of [`Plan::port_blocks`] shards of it are in.
    pub fn host_blocks(&self) -> usize {
        self.host_blocks.len()
    }

    pub fn port_blocks(&self) -> usize {
        self.port_blocks.len()
    }

    /// The hosts of a host block.
    pub fn hosts_of(&self, host_block: u32) -> &[ShardHost] {
        self.host_blocks
            .get(host_block as usize)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The ports of each port block, in block order.
    pub fn port_sets(&self) -> &[PortSet] {
        &self.port_blocks
    }

    /// Shard number `shard` (below [`Plan::len`]).
    pub fn shard(&self, shard: u32) -> Option<PlannedShard> {
        if u64::from(shard) >= self.order.len() {
            return None;
        }
        let cell = self.order.get(u64::from(shard)) as usize;
        let (hb, pb) = (cell / self.port_blocks.len(), cell % self.port_blocks.len());
        Some(PlannedShard {
            shard,
            host_block: hb as u32,
            hosts: self.host_blocks[hb].clone(),
            ports: self.port_blocks[pb].clone(),
        })
    }

    /// The port block index of a shard (the coordinator files results by it).
    pub fn port_block_of(&self, shard: u32) -> Option<usize> {
        if u64::from(shard) >= self.order.len() {
            return None;
        }
        Some(self.order.get(u64::from(shard)) as usize % self.port_blocks.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::net::{IpAddr, Ipv4Addr};

    fn hosts(n: u8) -> Vec<ShardHost> {
        (1..=n)
            .map(|i| ShardHost {
                address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)),
                hostname: None,
            })
            .collect()
    }

    #[test]
    fn every_host_and_port_is_in_exactly_one_shard() {
        let ports = PortSet::from_ports(1..=10_000);
        let plan = Plan::new(hosts(7), &ports, 3000, 42);
        let mut seen = HashSet::new();
        for s in 0..plan.len() {
            let shard = plan.shard(s).unwrap();
            assert!(shard.hosts.len() * shard.ports.len() <= 3000 + 2);
            for h in &shard.hosts {
                for p in shard.ports.iter() {
                    assert!(seen.insert((h.address, p)), "{} {p} twice", h.address);
                }
            }
        }
        assert_eq!(seen.len(), 7 * 10_000);
        assert!(plan.shard(plan.len()).is_none());
    }

    #[test]
    fn small_port_sets_put_several_hosts_in_a_shard() {
        let ports = PortSet::from_ports([22, 80, 443]);
        let plan = Plan::new(hosts(10), &ports, 9, 1);
        assert_eq!(plan.port_blocks(), 1);
        assert_eq!(plan.host_blocks(), 4);
        assert_eq!(plan.len(), 4);
    }

    #[test]
    fn port_blocks_are_balanced_and_scattered() {
        let plan = Plan::new(hosts(1), &PortSet::all(), 4096, 9);
        let sizes: Vec<usize> = plan.port_sets().iter().map(PortSet::len).collect();
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(max - min <= 1, "{sizes:?}");
        // The first 1024 ports are spread over every block, not all in the first.
        for block in plan.port_sets() {
            assert!(block.iter().any(|p| p <= 1024));
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_shards_and_another_seed_others() {
        let ports = PortSet::from_ports(1..=5000);
        let a = Plan::new(hosts(3), &ports, 1000, 7);
        let b = Plan::new(hosts(3), &ports, 1000, 7);
        let c = Plan::new(hosts(3), &ports, 1000, 8);
        assert_eq!(a.shard(3), b.shard(3));
        assert_ne!(a.shard(3), c.shard(3));
    }
}
