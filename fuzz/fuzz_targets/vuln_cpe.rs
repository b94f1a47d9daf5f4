//! Fuzz CPE parsing, display round-trip, and matching: against a fixed criterion, and with the
//! input's first line as the criterion and its second as the application's CPE (wildcards on
//! both sides, version ranges from the third and fourth lines).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use picket_model::Cpe;
use picket_vuln::{Bound, CpeCriterion};

static OPENSSH: LazyLock<CpeCriterion> = LazyLock::new(|| CpeCriterion {
    vulnerable: true,
    cpe: Cpe::parse("cpe:2.3:a:openbsd:openssh:*:*:*:*:*:*:*:*").expect("valid"),
    start: Some(Bound { version: "8.6".into(), inclusive: true }),
    end: Some(Bound { version: "9.8".into(), inclusive: false }),
});

fn round_trip(text: &str) -> Option<Cpe> {
    let cpe = Cpe::parse(text).ok()?;
    let again = Cpe::parse(&cpe.to_string()).expect("a displayed CPE parses");
    assert_eq!(again, cpe);
    Some(cpe)
}

fuzz_target!(|data: &str| {
    if let Some(cpe) = round_trip(data) {
        let _ = OPENSSH.evaluate(&cpe);
    }
    let mut lines = data.lines();
    let (Some(criterion), Some(app)) = (lines.next(), lines.next()) else { return };
    let (Some(criterion), Some(app)) = (round_trip(criterion), round_trip(app)) else { return };
    let bound = |line: Option<&str>| {
        line.filter(|l| !l.is_empty()).map(|l| Bound {
            version: l.trim_start_matches('=').to_owned(),
            inclusive: l.starts_with('='),
        })
    };
    let criterion = CpeCriterion {
        vulnerable: true,
        cpe: criterion,
        start: bound(lines.next()),
        end: bound(lines.next()),
    };
    let _ = criterion.evaluate(&app);
});
