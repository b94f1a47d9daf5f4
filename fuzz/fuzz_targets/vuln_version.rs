//! Fuzz version comparison in every scheme: no panic, and antisymmetry where both parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_vuln::{VersionScheme, compare_versions};

fuzz_target!(|input: (&str, &str)| {
    let (a, b) = input;
    for scheme in [
        VersionScheme::Semver,
        VersionScheme::Debian,
        VersionScheme::Rpm,
        VersionScheme::Generic,
    ] {
        if let (Ok(ab), Ok(ba)) = (compare_versions(scheme, a, b), compare_versions(scheme, b, a)) {
            assert_eq!(ab, ba.reverse(), "{scheme}: {a:?} vs {b:?}");
        }
    }
});
