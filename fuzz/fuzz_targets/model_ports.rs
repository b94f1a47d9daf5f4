//! Fuzz port-spec parsing (`PortSet::from_str`, the `-p` argument): no panic, an accepted set
//! is non-empty, sorted, without port 0, and its canonical display form parses back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_model::PortSet;

fuzz_target!(|data: &str| {
    if let Ok(set) = data.parse::<PortSet>() {
        assert!(!set.is_empty());
        assert!(!set.contains(0));
        assert!(set.as_slice().windows(2).all(|w| w[0] < w[1]));
        let again: PortSet = set.to_string().parse().expect("a displayed port set parses");
        assert_eq!(again, set);
    }
});
