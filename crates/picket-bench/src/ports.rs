//! Which ports the target listens on.

use std::collections::BTreeSet;

/// `count` distinct ports in 1..=65535 (at most all of them), drawn from a SplitMix64 sequence
/// seeded with `seed`, sorted. The same seed gives the same ports, so runs compare.
///
/// ```
/// let ports = picket_bench::ports::spread_ports(463, 1);
/// assert_eq!(ports.len(), 463);
/// assert_eq!(ports, picket_bench::ports::spread_ports(463, 1));
/// ```
pub fn spread_ports(count: usize, seed: u64) -> Vec<u16> {
    let count = count.min(usize::from(u16::MAX));
    let mut state = seed;
    let mut ports = BTreeSet::new();
    while ports.len() < count {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // z % 65535 < 65535, so the sum fits a u16 and is never 0.
        ports.insert((z % 65_535) as u16 + 1);
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
    fn seeds_differ_and_counts_are_capped() {
        assert_ne!(spread_ports(20, 1), spread_ports(20, 2));
        assert_eq!(spread_ports(70_000, 3).len(), 65_535);
    }
}
