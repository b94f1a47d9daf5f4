//! RPM version comparison: a port of `rpmvercmp()` from rpm's lib/rpmvercmp.c, and EVR
//! (`epoch:version-release`) ordering on top of it.
//!
//! Written here rather than taken from an RPM library, which would bring a package reader with
//! it for one function; the test vectors below are rpm's own (tests/rpmvercmp.at).

use std::cmp::Ordering;

/// Compares two RPM version (or release) strings exactly as `rpmvercmp()` does: alphanumeric
/// segments, numbers beat letters, `~` sorts before anything (pre-releases), `^` after the base
/// version but before anything else (snapshots), other characters only separate.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let is_sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < a.len() || j < b.len() {
        while i < a.len() && is_sep(a[i]) {
            i += 1;
        }
        while j < b.len() && is_sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = ca.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let seg_a_len = a[i..].iter().take_while(|c| class(c)).count();
        let seg_b_len = b[j..].iter().take_while(|c| class(c)).count();
        let seg_a = &a[i..i + seg_a_len];
        let seg_b = &b[j..j + seg_b_len];
        i += seg_a_len;
        j += seg_b_len;
        if seg_b.is_empty() {
            // Different kinds of segment: numeric is always newer than alpha.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let ord = if numeric {
            let trim = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
            let (na, nb) = (&seg_a[trim(seg_a)..], &seg_b[trim(seg_b)..]);
            na.len().cmp(&nb.len()).then_with(|| na.cmp(nb))
        } else {
            seg_a.cmp(seg_b)
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// Splits `[epoch:]version[-release]`. The epoch counts only when it is all digits.
fn split_evr(s: &str) -> (&str, &str, Option<&str>) {
    let (epoch, rest) = match s.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => (e, rest),
        _ => ("0", s),
    };
    match rest.rsplit_once('-') {
        Some((version, release)) => (epoch, version, Some(release)),
        None => (epoch, rest, None),
    }
}

/// Orders two `[epoch:]version[-release]` strings as rpm does: epoch numerically, then version,
/// then release (only when both have one: a bare version matches every release of it).
pub fn rpm_evr_cmp(a: &str, b: &str) -> Ordering {
    let (ea, va, ra) = split_evr(a);
    let (eb, vb, rb) = split_evr(b);
    let num = |s: &str| -> String { s.trim_start_matches('0').to_owned() };
    let (ea, eb) = (num(ea), num(eb));
    ea.len()
        .cmp(&eb.len())
        .then_with(|| ea.cmp(&eb))
        .then_with(|| rpmvercmp(va, vb))
        .then_with(|| match (ra, rb) {
            (Some(ra), Some(rb)) => rpmvercmp(ra, rb),
            _ => Ordering::Equal,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// rpm's tests/rpmvercmp.at, verbatim.
    const VECTORS: &[(&str, &str, i8)] = &[
        ("1.0", "1.0", 0),
        ("1.0", "2.0", -1),
        ("2.0", "1.0", 1),
        ("2.0.1", "2.0.1", 0),
        ("2.0", "2.0.1", -1),
        ("2.0.1", "2.0", 1),
        ("2.0.1a", "2.0.1a", 0),
        ("2.0.1a", "2.0.1", 1),
        ("2.0.1", "2.0.1a", -1),
        ("5.5p1", "5.5p1", 0),
        ("5.5p1", "5.5p2", -1),
        ("5.5p2", "5.5p1", 1),
        ("5.5p10", "5.5p10", 0),
        ("5.5p1", "5.5p10", -1),
        ("5.5p10", "5.5p1", 1),
        ("10xyz", "10.1xyz", -1),
        ("10.1xyz", "10xyz", 1),
        ("xyz10", "xyz10", 0),
        ("xyz10", "xyz10.1", -1),
        ("xyz10.1", "xyz10", 1),
        ("xyz.4", "xyz.4", 0),
        ("xyz.4", "8", -1),
        ("8", "xyz.4", 1),
        ("xyz.4", "2", -1),
        ("2", "xyz.4", 1),
        ("5.5p2", "5.6p1", -1),
        ("5.6p1", "5.5p2", 1),
        ("5.6p1", "6.5p1", -1),
        ("6.5p1", "5.6p1", 1),
        ("6.0.rc1", "6.0", 1),
        ("6.0", "6.0.rc1", -1),
        ("10b2", "10a1", 1),
        ("10a2", "10b2", -1),
        ("1.0aa", "1.0aa", 0),
        ("1.0a", "1.0aa", -1),
        ("1.0aa", "1.0a", 1),
        ("10.0001", "10.0001", 0),
        ("10.0001", "10.1", 0),
        ("10.1", "10.0001", 0),
        ("10.0001", "10.0039", -1),
        ("10.0039", "10.0001", 1),
        ("4.999.9", "5.0", -1),
        ("5.0", "4.999.9", 1),
        ("20101121", "20101121", 0),
        ("20101121", "20101122", -1),
        ("20101122", "20101121", 1),
        ("2_0", "2_0", 0),
        ("2.0", "2_0", 0),
        ("2_0", "2.0", 0),
        ("a", "a", 0),
        ("a+", "a+", 0),
        ("a+", "a_", 0),
        ("a_", "a+", 0),
        ("+a", "+a", 0),
        ("+a", "_a", 0),
        ("_a", "+a", 0),
        ("+_", "+_", 0),
        ("_+", "+_", 0),
        ("_+", "_", 0),
        ("+", "_", 0),
        ("_", "+", 0),
        ("1.0~rc1", "1.0~rc1", 0),
        ("1.0~rc1", "1.0", -1),
        ("1.0", "1.0~rc1", 1),
        ("1.0~rc1", "1.0~rc2", -1),
        ("1.0~rc2", "1.0~rc1", 1),
        ("1.0~rc1~git123", "1.0~rc1~git123", 0),
        ("1.0~rc1~git123", "1.0~rc1", -1),
        ("1.0~rc1", "1.0~rc1~git123", 1),
        ("1.0^", "1.0^", 0),
        ("1.0^", "1.0", 1),
        ("1.0", "1.0^", -1),
        ("1.0^git1", "1.0^git1", 0),
        ("1.0^git1", "1.0", 1),
        ("1.0", "1.0^git1", -1),
        ("1.0^git1", "1.0^git2", -1),
        ("1.0^git2", "1.0^git1", 1),
        ("1.0^git1", "1.01", -1),
        ("1.01", "1.0^git1", 1),
        ("1.0^20160101", "1.0^20160101", 0),
        ("1.0^20160101", "1.0.1", -1),
        ("1.0.1", "1.0^20160101", 1),
        ("1.0^20160101^git1", "1.0^20160101^git1", 0),
        ("1.0^20160102", "1.0^20160101^git1", 1),
        ("1.0^20160101^git1", "1.0^20160102", -1),
        ("1.0~rc1^git1", "1.0~rc1^git1", 0),
        ("1.0~rc1^git1", "1.0~rc1", 1),
        ("1.0~rc1", "1.0~rc1^git1", -1),
        ("1.0^git1~pre", "1.0^git1~pre", 0),
        ("1.0^git1", "1.0^git1~pre", 1),
        ("1.0^git1~pre", "1.0^git1", -1),
    ];

    #[test]
    fn rpm_test_vectors() {
        for &(a, b, want) in VECTORS {
            assert_eq!(rpmvercmp(a, b) as i8, want, "rpmvercmp({a}, {b})");
        }
    }

    #[test]
    fn evr() {
        assert_eq!(rpm_evr_cmp("1:1.0-1", "2.0-1"), Ordering::Greater);
        assert_eq!(
            rpm_evr_cmp("0:8.7p1-38.el9", "8.7p1-38.el9"),
            Ordering::Equal
        );
        assert_eq!(
            rpm_evr_cmp("8.7p1-38.el9", "8.7p1-38.el9_4.1"),
            Ordering::Less
        );
        assert_eq!(rpm_evr_cmp("8.7p1", "8.7p1-38.el9"), Ordering::Equal);
        assert_eq!(rpm_evr_cmp("01:1", "1:1"), Ordering::Equal);
    }

    fn rpm_version() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                "[0-9]{1,3}",
                "[a-c]{1,2}",
                Just("~".to_owned()),
                Just("^".to_owned())
            ],
            1..6,
        )
        .prop_flat_map(|segs| {
            let n = segs.len();
            (
                Just(segs),
                proptest::collection::vec(prop_oneof![Just(""), Just("."), Just("_")], n),
            )
        })
        .prop_map(|(segs, seps)| {
            segs.iter()
                .zip(seps)
                .map(|(s, sep)| format!("{sep}{s}"))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn rpmvercmp_is_a_total_order(a in rpm_version(), b in rpm_version(), c in rpm_version()) {
            prop_assert_eq!(rpmvercmp(&a, &a), Ordering::Equal);
            prop_assert_eq!(rpmvercmp(&a, &b), rpmvercmp(&b, &a).reverse());
            let (ab, bc) = (rpmvercmp(&a, &b), rpmvercmp(&b, &c));
            if ab != Ordering::Greater && bc != Ordering::Greater {
                prop_assert_ne!(rpmvercmp(&a, &c), Ordering::Greater, "{} <= {} <= {}", a, b, c);
            }
        }

        #[test]
        fn rpm_never_panics(a in "\\PC{0,40}", b in "\\PC{0,40}") {
            let _ = rpmvercmp(&a, &b);
            let _ = rpm_evr_cmp(&a, &b);
        }
    }
}
