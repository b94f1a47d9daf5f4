//! Fuzz scan-target parsing (`TargetSpec::from_str`, `Targets::parse` over a target file's
//! lines): no panic, the display form parses back to the same spec, a literal spec contains its
//! first address, and an accepted target set has at least one include and a stable key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_model::{TargetSpec, Targets};

fuzz_target!(|data: &str| {
    if let Ok(spec) = data.parse::<TargetSpec>() {
        let again: TargetSpec = spec.to_string().parse().expect("a displayed target parses");
        assert_eq!(again, spec);
        match spec.address_count() {
            Some(count) => {
                assert!(count >= 1, "{spec} stands for no address");
                let first = spec.addresses().next().expect("a literal spec has an address");
                assert!(spec.contains(first), "{spec} does not contain {first}");
            }
            None => assert!(matches!(spec, TargetSpec::Host(_))),
        }
    }
    // One target per line, as in a target file; `--exclude` splits includes from excludes.
    let (include, exclude) = data.split_once("--exclude").unwrap_or((data, ""));
    if let Ok(targets) = Targets::parse(include.lines(), exclude.lines()) {
        assert!(!targets.include.is_empty());
        let reparsed = Targets::parse(
            targets.include.iter().map(ToString::to_string),
            targets.exclude.iter().map(ToString::to_string),
        )
        .expect("displayed targets parse");
        assert_eq!(reparsed.key(), targets.key());
    }
});
