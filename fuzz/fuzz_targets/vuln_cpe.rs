//! Fuzz CPE parsing, display round-trip and matching against a fixed criterion.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_model::Cpe;

fuzz_target!(|data: &str| {
    if let Ok(cpe) = Cpe::parse(data) {
        let again = Cpe::parse(&cpe.to_string()).expect("a displayed CPE parses");
        assert_eq!(again, cpe);
        let criterion = picket_vuln::CpeCriterion {
            vulnerable: true,
            cpe: Cpe::parse("cpe:2.3:a:openbsd:openssh:*:*:*:*:*:*:*:*").expect("valid"),
            start: Some(picket_vuln::Bound { version: "8.6".into(), inclusive: true }),
            end: Some(picket_vuln::Bound { version: "9.8".into(), inclusive: false }),
        };
        let _ = criterion.evaluate(&cpe);
    }
});
