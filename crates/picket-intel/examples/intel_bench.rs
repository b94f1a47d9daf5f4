//! Loads every feed in a directory, builds the lookup table, and measures lookups per second over
//! random addresses, beside two naive approaches for scale: a linear scan over every indicator
//! and one hash probe per prefix length. Then the same on a synthetic set of millions of prefixes.
//!
//! Run: `cargo run --release -p picket-intel --example intel_bench -- [FEEDS_DIR] [SYNTHETIC_PREFIXES]`
//! (defaults: /work/shared/data/feeds and 2,000,000). This is a measurement, not a test.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net};
use picket_intel::{Indicator, IntelTable, LoadOptions, load_file};

/// SplitMix64: a fixed seed gives the same addresses on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Half uniformly random IPv4 addresses (mostly misses), half inside listed networks (hits).
fn addresses(inds: &[Indicator], n: usize, rng: &mut Rng) -> Vec<IpAddr> {
    let v4: Vec<Ipv4Net> = inds
        .iter()
        .filter_map(|i| match i.network {
            IpNet::V4(n) => Some(n),
            IpNet::V6(_) => None,
        })
        .collect();
    (0..n)
        .map(|k| {
            let r = rng.next();
            if k % 2 == 0 || v4.is_empty() {
                IpAddr::V4(Ipv4Addr::from(r as u32))
            } else {
                let net = v4[(r >> 32) as usize % v4.len()];
                let span = u32::from(net.broadcast()) - u32::from(net.network());
                let off = if span == u32::MAX {
                    r as u32
                } else {
                    (r as u32) % (span + 1)
                };
                IpAddr::V4(Ipv4Addr::from(u32::from(net.network()) + off))
            }
        })
        .collect()
}

/// Lookups per second of `f` over `addrs`, and the total matches (so that nothing is optimised away).
fn rate(addrs: &[IpAddr], mut f: impl FnMut(IpAddr) -> usize) -> (f64, usize) {
    let start = Instant::now();
    let mut matches = 0;
    for a in addrs {
        matches += f(black_box(*a));
    }
    let secs = start.elapsed().as_secs_f64();
    (addrs.len() as f64 / secs, black_box(matches))
}

/// The common alternative: a hash map per prefix length, probed at every length (IPv4 only).
struct PerLength {
    maps: Vec<(u8, HashMap<u32, Vec<u32>>)>,
}

impl PerLength {
    fn build(inds: &[Indicator]) -> Self {
        let mut by_len: HashMap<u8, HashMap<u32, Vec<u32>>> = HashMap::new();
        for (id, i) in inds.iter().enumerate() {
            if let IpNet::V4(n) = i.network {
                by_len
                    .entry(n.prefix_len())
                    .or_default()
                    .entry(u32::from(n.network()))
                    .or_default()
                    .push(id as u32);
            }
        }
        let mut maps: Vec<_> = by_len.into_iter().collect();
        maps.sort_by_key(|(len, _)| *len);
        Self { maps }
    }

    fn lookup(&self, addr: IpAddr) -> usize {
        let IpAddr::V4(a) = addr else { return 0 };
        let a = u32::from(a);
        self.maps
            .iter()
            .map(|(len, m)| {
                let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
                m.get(&(a & mask)).map_or(0, Vec::len)
            })
            .sum()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mega(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else {
        format!("{:.0} /s", r)
    }
}

fn compare(title: &str, inds: Vec<Indicator>, rng: &mut Rng, linear_sample: usize) {
    let prefixes = inds.len();
    let addrs = addresses(&inds, 2_000_000, rng);

    let t = Instant::now();
    let table = IntelTable::build(inds.clone()).expect("indicator count fits");
    let build = t.elapsed();
    let stats = table.stats();
    let (table_rate, table_hits) = rate(&addrs, |a| table.lookup_ids(a).len());

    let t = Instant::now();
    let per_len = PerLength::build(&inds);
    let per_len_build = t.elapsed();
    let (per_len_rate, per_len_hits) = rate(&addrs, |a| per_len.lookup(a));

    let sample = &addrs[..linear_sample.min(addrs.len())];
    let (linear_rate, linear_hits) = rate(sample, |a| {
        inds.iter().filter(|i| i.network.contains(&a)).count()
    });
    let (_, table_sample_hits) = rate(sample, |a| table.lookup_ids(a).len());
    assert_eq!(per_len_hits, table_hits, "the two indexes disagree");
    assert_eq!(
        linear_hits, table_sample_hits,
        "the table disagrees with the linear scan"
    );

    println!("\n## {title}");
    println!(
        "{prefixes} prefixes ({} IPv4, {} IPv6) -> {} + {} intervals, {} stored ids, {} bytes on the heap ({:.1} per indicator); {} matches over {} addresses",
        stats.prefixes_v4,
        stats.prefixes_v6,
        stats.segments_v4,
        stats.segments_v6,
        stats.stored_ids,
        stats.heap_bytes,
        stats.heap_bytes as f64 / prefixes.max(1) as f64,
        table_hits,
        addrs.len()
    );
    println!("| approach | prefixes | build | lookups/s |");
    println!("|---|---:|---:|---:|");
    println!(
        "| interval table (picket-intel) | {prefixes} | {} | {} |",
        ms(build),
        mega(table_rate)
    );
    println!(
        "| hash map per prefix length (33 probes) | {prefixes} | {} | {} |",
        ms(per_len_build),
        mega(per_len_rate)
    );
    println!(
        "| linear scan (naive oracle, {} addresses) | {prefixes} | 0 ms | {} |",
        sample.len(),
        mega(linear_rate)
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "/work/shared/data/feeds".to_owned()),
    );
    let synthetic: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);

    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();

    println!("## Feeds in {}", dir.display());
    println!("| feed | format | load | report |");
    println!("|---|---|---:|---|");
    let mut all = Vec::new();
    for path in &files {
        let name = path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        // The best of five loads: the machine is shared, and the minimum is the least disturbed.
        let mut best = Duration::MAX;
        let mut loaded = None;
        for _ in 0..5 {
            let t = Instant::now();
            let result = load_file(&name, path, &LoadOptions::default());
            best = best.min(t.elapsed());
            loaded = Some(result);
        }
        match loaded.expect("loaded five times") {
            Ok(feed) => {
                println!(
                    "| {name} | {} | {} | {} |",
                    feed.meta.format,
                    ms(best),
                    feed.report
                );
                all.extend(feed.indicators);
            }
            Err(e) => println!("| {name} | - | - | not loaded: {e} |"),
        }
    }

    let mut rng = Rng(0x5eed);
    compare("All feeds", all, &mut rng, 2_000);

    // Millions of prefixes: random public /16../32 networks, a few wide ones on top.
    let synth: Vec<Indicator> = (0..synthetic)
        .map(|k| {
            let r = rng.next();
            let len = if k % 1000 == 0 {
                8 + (r >> 60) as u8
            } else {
                16 + (r >> 59) as u8 % 17
            };
            let net = Ipv4Net::new(Ipv4Addr::from(r as u32), len)
                .expect("length <= 32")
                .trunc();
            Indicator::new(IpNet::V4(net), format!("synthetic{}", k % 8))
        })
        .collect();
    compare(
        &format!("Synthetic, {synthetic} prefixes"),
        synth,
        &mut rng,
        200,
    );
}
