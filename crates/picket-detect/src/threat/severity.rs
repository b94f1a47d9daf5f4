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

use picket_model::{Alert, Confidence, CvssSeverity, Severity, SeverityBands, SeverityReason};

/// The bytes (both ways) above which one connection counts as a meaningful transfer.
pub const MEANINGFUL_TRANSFER_BYTES: u64 = 10_000;

/// The most points the feeds listing a client give.
const FEED_CAP: i32 = 3;

/// Points at and above which each severity starts.
const BANDS: SeverityBands = SeverityBands {
    low: 2,
    medium: 3,
    high: 5,
    critical: 8,
};

/// The severity of an alert as it stands, and one reason per step of the scoring.
///
/// A pure function of the alert's intel, vulnerabilities and counts: recomputed on every update,
/// so an alert that was only attempted rises when a connection gets through.
pub fn assess(alert: &Alert) -> (Severity, Vec<SeverityReason>) {
    let mut reasons = Vec::with_capacity(7);
    let mut points: i32 = 0;

    let mut feeds: Vec<String> = alert.intel.iter().map(|h| h.feed.clone()).collect();
    feeds.sort_unstable();
    feeds.dedup();
    let feed_points = (feeds.len() as i32).min(FEED_CAP);
    points += feed_points;
    reasons.push(SeverityReason::Feeds {
        client: alert.client,
        feeds,
        points: feed_points,
        cap: FEED_CAP,
    });

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
            reasons.push(SeverityReason::WorstCvss {
                id: v.id.clone(),
                version: cvss.version,
                score: cvss.base_score,
                band,
                points: p,
            });
        }
        None => reasons.push(SeverityReason::NoCvss {
            vulns: alert.vulns.len(),
            points: 0,
        }),
    }

    let kev: Vec<String> = alert
        .vulns
        .iter()
        .filter(|v| v.kev)
        .map(|v| v.id.clone())
        .collect();
    let kev_points = if kev.is_empty() { 0 } else { 2 };
    points += kev_points;
    reasons.push(SeverityReason::Kev {
        ids: kev,
        points: kev_points,
    });

    if !alert.vulns.is_empty()
        && alert
            .vulns
            .iter()
            .all(|v| v.confidence == Confidence::ProductOnly)
    {
        points -= 1;
        reasons.push(SeverityReason::ProductOnly {
            product: alert.application.product.clone(),
            points: -1,
        });
    }

    let established_points = if alert.established > 0 { 2 } else { 0 };
    points += established_points;
    reasons.push(SeverityReason::Connections {
        connections: alert.connections,
        established: alert.established,
        points: established_points,
    });

    let largest = alert.max_bytes_per_connection;
    let transfer_points = if largest > MEANINGFUL_TRANSFER_BYTES {
        2
    } else {
        0
    };
    points += transfer_points;
    reasons.push(SeverityReason::Transfer {
        largest,
        threshold: MEANINGFUL_TRANSFER_BYTES,
        points: transfer_points,
    });

    let severity = severity_of(points);
    reasons.push(SeverityReason::Score {
        points,
        severity,
        bands: BANDS,
    });
    (severity, reasons)
}

fn severity_of(points: i32) -> Severity {
    if points >= BANDS.critical {
        Severity::Critical
    } else if points >= BANDS.high {
        Severity::High
    } else if points >= BANDS.medium {
        Severity::Medium
    } else if points >= BANDS.low {
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
        assert_eq!(
            reasons[0],
            SeverityReason::Feeds {
                client: a.client,
                feeds: vec!["ipsum".into()],
                points: 1,
                cap: 3
            }
        );
        assert_eq!(
            reasons[1],
            SeverityReason::NoCvss {
                vulns: 1,
                points: 0
            }
        );
        assert_eq!(
            reasons[5],
            SeverityReason::Score {
                points: 1,
                severity: Severity::Info,
                bands: BANDS
            }
        );
        assert_eq!(
            reasons[3],
            SeverityReason::Connections {
                connections: 1,
                established: 0,
                points: 0
            }
        );
        a.established = 1;
        assert!(matches!(
            assess(&a).1[3],
            SeverityReason::Connections { points: 2, .. }
        ));
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
            matches!(&reasons[0], SeverityReason::Feeds { feeds, points: 3, cap: 3, .. } if feeds.len() == 5),
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
            matches!(
                &reasons[1],
                SeverityReason::WorstCvss { id, score, band: CvssSeverity::High, points: 2, .. }
                    if id == "CVE-1" && *score == 8.1
            ),
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
        assert_eq!(
            reasons[2],
            SeverityReason::Kev {
                ids: vec!["CVE-1".into(), "CVE-2".into()],
                points: 2
            }
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
        assert!(
            reasons
                .iter()
                .any(|r| matches!(r, SeverityReason::ProductOnly { points: -1, .. })),
            "{reasons:?}"
        );
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
        assert_eq!(
            reasons[3],
            SeverityReason::Connections {
                connections: 5,
                established: 1,
                points: 2
            }
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
        assert_eq!(
            reasons[4],
            SeverityReason::Transfer {
                largest: 48_213,
                threshold: MEANINGFUL_TRANSFER_BYTES,
                points: 2
            }
        );
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
