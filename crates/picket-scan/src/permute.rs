//! A seeded pseudo-random permutation of `0..n`, computed one index at a time.
//!
//! Probing (host, port) pairs in a random order spreads the load over hosts, keeps a filtered
//! region of ports from looking like a sudden loss, and makes the answer ratio stationary, which
//! the rate controller relies on. A 4-round Feistel network over the next even power of two,
//! with cycle-walking back into `0..n`, needs no memory per element (masscan's BlackRock does
//! the same for the same reason).

#[derive(Debug, Clone)]
pub struct Permutation {
    n: u64,
    half_bits: u32,
    keys: [u64; 4],
}

pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Permutation {
    pub fn new(n: u64, seed: u64) -> Self {
        let bits = 64 - n.saturating_sub(1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        let mut k = seed;
        let keys = [0; 4].map(|_: u64| {
            k = splitmix64(k);
            k
        });
        Self { n, half_bits, keys }
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn feistel(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut left, mut right) = (x >> self.half_bits, x & mask);
        for key in self.keys {
            let f = splitmix64(right ^ key) & mask;
            (left, right) = (right, left ^ f);
        }
        (left << self.half_bits) | right
    }

    /// The `i`-th element of the permutation; `i` must be below `len()`.
    pub fn get(&self, i: u64) -> u64 {
        let mut x = i;
        loop {
            x = self.feistel(x);
            if x < self.n {
                return x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn is_a_permutation(n in 1u64..5000, seed in any::<u64>()) {
            let p = Permutation::new(n, seed);
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let x = p.get(i);
                prop_assert!(x < n);
                prop_assert!(!seen[x as usize]);
                seen[x as usize] = true;
            }
        }
    }

    #[test]
    fn seeds_change_the_order() {
        let a: Vec<u64> = (0..20).map(|i| Permutation::new(65535, 1).get(i)).collect();
        let b: Vec<u64> = (0..20).map(|i| Permutation::new(65535, 2).get(i)).collect();
        assert_ne!(a, b);
        assert!(a.windows(2).any(|w| w[1] != w[0] + 1), "not sequential");
    }
}
