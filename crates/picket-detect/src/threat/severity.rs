//! How urgent a bad-client alert is, and why, in points a person can follow.
//!
//! | signal | points |
//! |---|---|
//! | feeds listing the client | +1 per distinct feed, at most +3 |
//! | the worst CVSS base score | +3 at 9.0 or more (critical), +2 at 7.0 (high), +1 at 4.0 (medium), else 0 |
//! | a vulnerability in CISA's KEV catalog (exploited in the wild) | +2 |
//! | every match by product name only (the version is unknown) | -1 |
//! | at least one connection established (the server answered) | +2 |
//! | a meaningful transfer: one connection carried more than 10 KB both ways | +2 |
//!
//! The total (0 to 12) maps to a severity: 0-1 info, 2 low, 3-4 medium, 5-7 high, 8 and more
//! critical. So a client on one list knocking on an unscored flaw stays informational, as
//! Lacework's guide says such alerts may be without further evidence; an established
//! connection to a high-CVSS service is high; exploitation in the wild, several lists or data
//! moved push it to critical.
//!
//! The 10 KB line comes from Lacework's investigation guide for bad-client alerts ("determine if
//! meaningful data has been transferred - over 10 KB per connection").

use picket_model::{Alert, Confidence, CvssSeverity, Severity};

use crate::words::{count, list, thousands};

/// The bytes (both ways) above which one connection counts as a meaningful transfer.
pub const MEANINGFUL_TRANSFER_BYTES: u64 = 10_000;

/// Points at and above which each severity starts.
const LOW_FROM: i32 = 2;
const MEDIUM_FROM: i32 = 3;
const HIGH_FROM: i32 = 5;
const CRITICAL_FROM: i32 = 8;

/// The severity of an alert as it stands, and one sentence per step of the scoring.
///
/// A pure function of the alert's intel, vulnerabilities and counts: recomputed on every update,
/// so an alert that was only attempted rises when a connection gets through.
pub fn assess(alert: &Alert) -> (Severity, Vec<String>) {
    let mut reasons = Vec::with_capacity(7);
    let mut points: i32 = 0;

    let mut feeds: Vec<&str> = alert.intel.iter().map(|h| h.feed.as_str()).collect();
    feeds.sort_unstable();
    feeds.dedup();
    let feed_points = feeds.len().min(3) as i32;
    points += feed_points;
    let cap = if feeds.len() > 3 { " (at most 3)" } else { "" };
    reasons.push(format!(
        "{} is listed by {} ({}): +{feed_points}{cap}.",
        alert.client,
        count(feeds.len() as u64, "feed"),
        list(&feeds),
    ));

    let worst = alert
        .vulns
        .iter()
        .filter_map(|v| v.cvss.as_ref().map(|c| (v, c)))
        .max_by(|a, b| a.1.base_score.total_cmp(&b.1.base_score));
    match worst {
        Some((v, cvss)) => {
            let band = CvssSeverity::from_score(cvss.base_score);
            let p = match band {
                CvssSeverity::Critical => 3,
                CvssSeverity::High => 2,
                CvssSeverity::Medium => 1,
                CvssSeverity::Low | CvssSeverity::None => 0,
            };
            points += p;
            reasons.push(format!(
                "The most severe vulnerability, {}, has CVSS {} base score {:.1} ({band}): +{p}.",
                v.id, cvss.version, cvss.base_score
            ));
        }
        None => reasons.push(format!(
            "None of the {} has a CVSS score: +0.",
            count(alert.vulns.len() as u64, "vulnerability")
        )),
    }

    let kev: Vec<&str> = alert
        .vulns
        .iter()
        .filter(|v| v.kev)
        .map(|v| v.id.as_str())
        .collect();
    if kev.is_empty() {
        reasons.push(
            "No vulnerability is in CISA's Known Exploited Vulnerabilities catalog: +0.".into(),
        );
    } else {
        points += 2;
        let verb = if kev.len() == 1 { "is" } else { "are" };
        reasons.push(format!(
            "{} {verb} in CISA's Known Exploited Vulnerabilities catalog (exploited in the wild): +2.",
            list(&kev)
        ));
    }

    if !alert.vulns.is_empty()
        && alert
            .vulns
            .iter()
            .all(|v| v.confidence == Confidence::ProductOnly)
    {
        points -= 1;
        reasons.push(format!(
            "Every match is by product name only ({} version unknown), so the flaws may be fixed: -1.",
            alert.application.product
        ));
    }

    let how_many = match (alert.connections, alert.established) {
        (1, 1) => "The one connection was established".to_owned(),
        (1, _) => "The one connection was not established".to_owned(),
        (n, 0) => format!("None of the {} connections was established", thousands(n)),
        (n, e) => format!(
            "{} of {} connections were established",
            thousands(e),
            thousands(n)
        ),
    };
    if alert.established > 0 {
        points += 2;
        reasons.push(format!("{how_many} (the server answered): +2."));
    } else {
        reasons.push(format!("{how_many} (attempted or refused only): +0."));
    }

    let largest = alert.max_bytes_per_connection;
    if largest > MEANINGFUL_TRANSFER_BYTES {
        points += 2;
        reasons.push(format!(
            "One connection carried {} bytes, more than the 10 KB that counts as a meaningful transfer: +2.",
            thousands(largest)
        ));
    } else {
        reasons.push(format!(
            "No connection carried more than 10 KB (the largest: {} bytes): +0.",
            thousands(largest)
        ));
    }

    let severity = severity_of(points);
    reasons.push(format!(
        "Score {points}: {severity} (info up to {}, low {LOW_FROM}, medium {MEDIUM_FROM}-{}, high {HIGH_FROM}-{}, critical {CRITICAL_FROM} and more).",
        LOW_FROM - 1,
        HIGH_FROM - 1,
        CRITICAL_FROM - 1,
    ));
    (severity, reasons)
}

fn severity_of(points: i32) -> Severity {
    if points >= CRITICAL_FROM {
        Severity::Critical
    } else if points >= HIGH_FROM {
        Severity::High
    } else if points >= MEDIUM_FROM {
        Severity::Medium
    } else if points >= LOW_FROM {
        Severity::Low
    } else {
        Severity::Info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threat::testing::{alert_with, intel, vuln};

    fn sev(a: &Alert) -> Severity {
        assess(a).0
    }

    #[test]
    fn one_feed_and_an_unscored_flaw_attempted_is_info() {
        let mut a = alert_with(&["ipsum"], vec![vuln("CVE-1", None, false)]);
        a.established = 0;
        let (s, reasons) = assess(&a);
        assert_eq!(s, Severity::Info);
        assert_eq!(reasons.len(), 6);
        assert!(
            reasons[0].contains("listed by 1 feed (ipsum): +1"),
            "{reasons:?}"
        );
        assert!(reasons[1].contains("has a CVSS score: +0"), "{reasons:?}");
        assert!(reasons[5].starts_with("Score 1: info"), "{reasons:?}");
        assert!(
            reasons[3].starts_with("The one connection was not established"),
            "{reasons:?}"
        );
        a.established = 1;
        assert!(assess(&a).1[3].starts_with("The one connection was established"));
        a.connections = 3;
        a.established = 0;
        assert!(assess(&a).1[3].starts_with("None of the 3 connections was"));
    }

    #[test]
    fn feeds_count_distinct_names_up_to_three() {
        let base = |feeds: &[&str]| {
            let mut a = alert_with(feeds, vec![vuln("CVE-1", None, false)]);
            a.established = 0;
            assess(&a)
        };
        assert_eq!(base(&["a", "a"]).0, Severity::Info, "one feed twice");
        assert_eq!(base(&["a", "b"]).0, Severity::Low);
        assert_eq!(base(&["a", "b", "c"]).0, Severity::Medium);
        let (s, reasons) = base(&["a", "b", "c", "d", "e"]);
        assert_eq!(s, Severity::Medium, "capped at +3");
        assert!(
            reasons[0].contains("5 feeds (a, b, c, d, e): +3 (at most 3)"),
            "{reasons:?}"
        );
    }

    #[test]
    fn cvss_bands_add_points() {
        let with = |score: f64| {
            let mut a = alert_with(&["ipsum"], vec![vuln("CVE-1", Some(score), false)]);
            a.established = 0;
            assess(&a)
        };
        assert_eq!(with(2.0).0, Severity::Info);
        assert_eq!(with(5.3).0, Severity::Low);
        let (s, reasons) = with(8.1);
        assert_eq!(s, Severity::Medium);
        assert!(
            reasons[1].contains("CVE-1, has CVSS 3.1 base score 8.1 (high): +2"),
            "{reasons:?}"
        );
        assert_eq!(with(9.8).0, Severity::Medium, "1 + 3 = 4 is still medium");
    }

    #[test]
    fn kev_adds_two() {
        let mut a = alert_with(
            &["ipsum"],
            vec![vuln("CVE-1", Some(5.0), true), vuln("CVE-2", None, true)],
        );
        a.established = 0;
        let (s, reasons) = assess(&a);
        assert_eq!(s, Severity::Medium, "1 + 1 + 2");
        assert!(
            reasons[2].starts_with("CVE-1 and CVE-2 are in CISA's"),
            "{reasons:?}"
        );
    }

    #[test]
    fn product_only_matches_take_one_away() {
        let mut v = vuln("CVE-1", Some(5.0), false);
        v.confidence = Confidence::ProductOnly;
        let mut a = alert_with(&["ipsum", "firehol"], vec![v]);
        a.established = 0;
        let (s, reasons) = assess(&a);
        assert_eq!(s, Severity::Low, "2 + 1 - 1");
        assert!(reasons.iter().any(|r| r.ends_with("-1.")), "{reasons:?}");
    }

    #[test]
    fn established_and_transfer_each_add_two() {
        let mut a = alert_with(&["ipsum"], vec![vuln("CVE-2024-6387", Some(8.1), false)]);
        a.connections = 5;
        a.established = 0;
        a.attempted = 5;
        assert_eq!(sev(&a), Severity::Medium);
        a.established = 1;
        let (s, reasons) = assess(&a);
        assert_eq!(s, Severity::High);
        assert!(
            reasons[3].starts_with("1 of 5 connections were established"),
            "{reasons:?}"
        );
        a.max_bytes_per_connection = MEANINGFUL_TRANSFER_BYTES;
        assert_eq!(
            sev(&a),
            Severity::High,
            "exactly 10 KB is not more than 10 KB"
        );
        a.max_bytes_per_connection = 48_213;
        let (s, reasons) = assess(&a);
        assert_eq!(s, Severity::High, "1 + 2 + 2 + 2 = 7");
        assert!(reasons[4].contains("carried 48,213 bytes"), "{reasons:?}");
        a.intel.push(intel("firehol_level2"));
        assert_eq!(sev(&a), Severity::Critical);
    }

    #[test]
    fn bands_cover_every_score() {
        let cases = [
            (-1, Severity::Info),
            (0, Severity::Info),
            (1, Severity::Info),
            (2, Severity::Low),
            (3, Severity::Medium),
            (4, Severity::Medium),
            (5, Severity::High),
            (7, Severity::High),
            (8, Severity::Critical),
            (12, Severity::Critical),
        ];
        for (points, want) in cases {
            assert_eq!(severity_of(points), want, "{points}");
        }
    }
}
