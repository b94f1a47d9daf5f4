//! Which ports the target listens on.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

/// `count` distinct ports in 1..=65535 (at most all of them), drawn from a SplitMix64 sequence
/// seeded with `seed`, sorted. The same seed gives the same ports, so runs compare.
///
/// ```
/// let ports = picket_bench::ports::spread_ports(463, 1);
/// assert_eq!(ports.len(), 463);
/// assert_eq!(ports, picket_bench::ports::spread_ports(463, 1));
/// ```
pub fn spread_ports(count: usize, seed: u64) -> Vec<u16> {
    spread_in(count, seed, 1..=u16::MAX)
}

/// `count` distinct ports in `range` (at most all of them), drawn as [`spread_ports`] draws
/// them (over 1..=65535 the two agree), sorted.
///
/// ```
/// let ports = picket_bench::ports::spread_in(100, 1, 1..=20_000);
/// assert_eq!(ports.len(), 100);
/// assert!(ports.iter().all(|&p| (1..=20_000).contains(&p)));
/// ```
pub fn spread_in(count: usize, seed: u64, range: RangeInclusive<u16>) -> Vec<u16> {
    let (first, last) = (u64::from(*range.start()), u64::from(*range.end()));
    let width = (last + 1).saturating_sub(first);
    let count = count.min(usize::try_from(width).unwrap_or(usize::MAX));
    let mut state = seed;
    let mut ports = BTreeSet::new();
    while ports.len() < count {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // first + z % width <= last, so it fits a u16.
        ports.insert((first + z % width) as u16);
    }
    ports.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_spread_over_the_whole_range() {
        let ports = spread_ports(463, 1);
        assert_eq!(ports.len(), 463);
        assert!(ports.windows(2).all(|w| w[0] < w[1]));
        assert!(ports[0] >= 1);
        // Spread, not clustered: some in the lowest and some in the highest eighth.
        assert!(ports.iter().any(|&p| p < 8192));
        assert!(ports.iter().any(|&p| p > 57_344));
    }

    #[test]
    fn ranges_are_kept_and_the_full_range_draws_as_before() {
        let ports = spread_in(141, 3, 1..=20_000);
        assert_eq!(ports.len(), 141);
        assert!(ports.iter().all(|&p| (1..=20_000).contains(&p)));
        assert_eq!(spread_in(10, 1, 5..=9), [5, 6, 7, 8, 9]);
        assert!(spread_in(10, 1, RangeInclusive::new(9, 5)).is_empty());
        // What RESULTS.md was measured with: the ports of seed 1 must not move.
        let ports = spread_ports(463, 1);
        assert_eq!(ports[..5], [56, 95, 102, 494, 539]);
        assert_eq!(ports[461..], [65_427, 65_444]);
    }

    #[test]
    fn seeds_differ_and_counts_are_capped() {
        assert_ne!(spread_ports(20, 1), spread_ports(20, 2));
        assert_eq!(spread_ports(70_000, 3).len(), 65_535);
    }
}
