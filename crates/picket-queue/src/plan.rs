//! Cutting a scan into shards, as ZMap shards its cyclic group: the ports are dealt into
//! blocks by one seeded permutation (so open ports, which cluster in low numbers, spread evenly
//! over the blocks), the hosts are cut into consecutive blocks, and every (host block, port
//! block) pair is one shard. Shards are numbered in a seeded permuted order of that grid, so
//! that shards handed out one after the other hit different hosts and port blocks. The same
//! targets, ports and seed always give the same shards: a redelivered shard is the same work.
//!
//! A [`Plan::streamed`] plan holds no host at all, only how many there are: host block `b` is
//! hosts `b * per_block ..` of the targets in order, which the coordinator reads as it
//! publishes, so a /8 costs no memory per host. Its shards are numbered by grid cell
//! (`host_block * port_blocks + port_block`) and go out host block after host block.
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
    hosts: Hosts,
    port_blocks: Vec<PortSet>,
    /// Shard number to grid cell (`None`: the identity, for a streamed plan).
    order: Option<Permutation>,
}

#[derive(Debug, Clone)]
enum Hosts {
    Listed(Vec<Vec<ShardHost>>),
    Streamed { count: u64, per_block: u64 },
}

/// Port blocks of about `probes / hosts_per_block` ports, dealt round-robin in permuted order
/// (block sizes differ by at most one), and how many hosts a block of hosts holds.
fn cut_ports(ports: &PortSet, probes: usize, seed: u64) -> (Vec<PortSet>, usize) {
    let probes = probes.max(1);
    let port_list = ports.as_slice();
    let n_ports = port_list.len().max(1);
    let port_block_count = n_ports.div_ceil(probes).max(1);
    let hosts_per_block = (probes / n_ports).max(1);
    let dealt = Permutation::new(port_list.len() as u64, seed);
    let mut blocks: Vec<Vec<u16>> = vec![Vec::new(); port_block_count];
    for i in 0..port_list.len() as u64 {
        let port = port_list[dealt.get(i) as usize];
        blocks[(i as usize) % port_block_count].push(port);
    }
    (
        blocks.into_iter().map(PortSet::from_ports).collect(),
        hosts_per_block,
    )
}

impl Plan {
    /// Plans shards of about `probes` (host, port) pairs each over `hosts` x `ports`.
    pub fn new(hosts: Vec<ShardHost>, ports: &PortSet, probes: usize, seed: u64) -> Self {
        let (port_blocks, hosts_per_block) = cut_ports(ports, probes, seed);
        let host_blocks: Vec<Vec<ShardHost>> = hosts
            .chunks(hosts_per_block)
            .map(<[ShardHost]>::to_vec)
            .collect();
        let cells = (host_blocks.len() * port_blocks.len()) as u64;
        Self {
            order: Some(Permutation::new(
                cells,
                seed.rotate_left(17) ^ 0x5348_4152_4453,
            )),
            hosts: Hosts::Listed(host_blocks),
            port_blocks,
        }
    }

    /// The plan of `hosts` targets, none held: the caller reads each host block's hosts
    /// ([`Plan::block_span`]) from the targets as it publishes.
    pub fn streamed(hosts: u64, ports: &PortSet, probes: usize, seed: u64) -> Self {
        let (port_blocks, hosts_per_block) = cut_ports(ports, probes, seed);
        Self {
            hosts: Hosts::Streamed {
                count: hosts,
                per_block: hosts_per_block as u64,
            },
            port_blocks,
            order: None,
        }
    }

    /// Whether the plan holds no hosts ([`Plan::streamed`]).
    pub fn is_streamed(&self) -> bool {
        matches!(self.hosts, Hosts::Streamed { .. })
    }

    /// How many shards.
    pub fn len(&self) -> u32 {
        (self.host_blocks() * self.port_blocks.len()) as u32
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Host blocks, each assembled once all of [`Plan::port_blocks`] shards of it are in.
    pub fn host_blocks(&self) -> usize {
        match &self.hosts {
            Hosts::Listed(blocks) => blocks.len(),
            Hosts::Streamed { count, per_block } => count.div_ceil(*per_block) as usize,
        }
    }

    pub fn port_blocks(&self) -> usize {
        self.port_blocks.len()
    }

    /// The hosts of a host block (none in a streamed plan: see [`Plan::block_span`]).
    pub fn hosts_of(&self, host_block: u32) -> &[ShardHost] {
        match &self.hosts {
            Hosts::Listed(blocks) => blocks
                .get(host_block as usize)
                .map(Vec::as_slice)
                .unwrap_or_default(),
            Hosts::Streamed { .. } => &[],
        }
    }

    /// Which hosts of the targets, in order, make host block `host_block`: a start and a count.
    pub fn block_span(&self, host_block: u32) -> (u64, u64) {
        match &self.hosts {
            Hosts::Listed(blocks) => {
                let start: usize = blocks.iter().take(host_block as usize).map(Vec::len).sum();
                let len = blocks.get(host_block as usize).map_or(0, Vec::len);
                (start as u64, len as u64)
            }
            Hosts::Streamed { count, per_block } => {
                let start = u64::from(host_block) * per_block;
                (start, (*per_block).min(count.saturating_sub(start)))
            }
        }
    }

    /// The shard of host block `host_block` and port block `port_block` in a streamed plan.
    pub fn streamed_shard(&self, host_block: u32, port_block: usize) -> u32 {
        host_block * self.port_blocks.len() as u32 + port_block as u32
    }

    fn cell(&self, shard: u32) -> Option<usize> {
        if shard >= self.len() {
            return None;
        }
        Some(match &self.order {
            Some(order) => order.get(u64::from(shard)) as usize,
            None => shard as usize,
        })
    }

    /// The ports of each port block, in block order.
    pub fn port_sets(&self) -> &[PortSet] {
        &self.port_blocks
    }

    /// Shard number `shard` (below [`Plan::len`]); its hosts are empty in a streamed plan.
    pub fn shard(&self, shard: u32) -> Option<PlannedShard> {
        let cell = self.cell(shard)?;
        let (hb, pb) = (cell / self.port_blocks.len(), cell % self.port_blocks.len());
        Some(PlannedShard {
            shard,
            host_block: hb as u32,
            hosts: self.hosts_of(hb as u32).to_vec(),
            ports: self.port_blocks[pb].clone(),
        })
    }

    /// The host block and port block of a shard (the coordinator files results by them).
    pub fn cell_of(&self, shard: u32) -> Option<(u32, usize)> {
        let cell = self.cell(shard)?;
        Some((
            (cell / self.port_blocks.len()) as u32,
            cell % self.port_blocks.len(),
        ))
    }

    /// (host, port) pairs a shard covers.
    pub fn probes_of(&self, shard: u32) -> u64 {
        self.cell_of(shard).map_or(0, |(hb, pb)| {
            self.block_span(hb).1 * self.port_blocks[pb].len() as u64
        })
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

    #[test]
    fn a_streamed_plan_covers_what_a_listed_plan_covers_by_span() {
        let ports = PortSet::from_ports(1..=3000);
        let listed = Plan::new(hosts(50), &ports, 1000, 5);
        let streamed = Plan::streamed(50, &ports, 1000, 5);
        assert!(streamed.is_streamed() && !listed.is_streamed());
        assert_eq!(streamed.len(), listed.len());
        assert_eq!(streamed.port_sets(), listed.port_sets());
        let mut seen = HashSet::new();
        for hb in 0..streamed.host_blocks() as u32 {
            let (start, len) = streamed.block_span(hb);
            assert_eq!((start, len), listed.block_span(hb));
            for pb in 0..streamed.port_blocks() {
                let shard = streamed.streamed_shard(hb, pb);
                assert_eq!(streamed.cell_of(shard), Some((hb, pb)));
                assert_eq!(
                    streamed.probes_of(shard),
                    len * streamed.port_sets()[pb].len() as u64
                );
                for h in start..start + len {
                    for p in streamed.port_sets()[pb].iter() {
                        assert!(seen.insert((h, p)), "{h} {p} twice");
                    }
                }
            }
        }
        assert_eq!(seen.len(), 50 * 3000);
        assert!(streamed.shard(streamed.len()).is_none());
    }
}
