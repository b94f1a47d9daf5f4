//! Cron schedules of scan jobs: the classic five fields (minute, hour, day of month, month, day
//! of week; names such as `MON` and `JAN`, ranges, lists, steps, and the `@daily` shorthands),
//! evaluated in the configured time zone through croner.
//!
//! Extension: an optional sixth field in front gives the seconds (`*/5 * * * * *` fires every five
//! seconds), so that tests need not wait for a minute to turn. A day of month and a day of week
//! both restricted fire on either (Vixie cron's rule). Across a daylight-saving change a wall
//! clock time that does not exist fires when the clock jumps over it, and one that happens twice
//! fires once.
//!
//! This module must never sleep or read the clock: callers pass the instant to start from.

use std::cmp::Ordering;
use std::fmt;

use croner::parser::{CronParser, Seconds, Year};
use croner::{CivilDate, CivilDateTime, CivilTime, Cron, CronDateTime, Resolution, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ZonedDateTime};

/// A parsed cron expression and its text.
#[derive(Clone)]
pub struct CronSchedule {
    text: String,
    cron: Cron,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronSchedule").field(&self.text).finish()
    }
}

impl CronSchedule {
    /// Parses five fields, or six with the seconds first; the refusal says why.
    pub fn parse(text: &str) -> Result<Self, String> {
        let fields = text.split_whitespace().count();
        if !text.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
            return Err(format!(
                "{text:?}: a cron expression has 5 fields (minute hour day-of-month month \
                 day-of-week), or 6 with seconds first; this one has {fields}"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(text)
            .map_err(|e| format!("{text:?}: not a cron expression: {e}"))?;
        Ok(Self {
            text: text.trim().to_owned(),
            cron,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The first time strictly after `after` at which the schedule fires, in `tz`; `None` when
    /// it never fires again (a date that does not exist, such as 30 February).
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = Wall(after.to_zoned_datetime(tz.clone()));
        self.cron
            .find_next_occurrence(&start, false)
            .ok()
            .map(|w| w.0.timestamp())
    }
}

/// jiff 1's zoned time as croner's calendar (croner's own jiff backend is for jiff 0.2).
#[derive(Clone)]
struct Wall(ZonedDateTime);

fn to_civil(dt: jiff::civil::DateTime) -> CivilDateTime {
    // jiff keeps every part in its range, so the parts are taken as they are.
    CivilDateTime::new(
        CivilDate::from_parts_unchecked(
            i32::from(dt.year()),
            dt.month().unsigned_abs().into(),
            dt.day().unsigned_abs().into(),
        ),
        CivilTime::from_parts_unchecked(
            dt.hour().unsigned_abs().into(),
            dt.minute().unsigned_abs().into(),
            dt.second().unsigned_abs().into(),
        ),
    )
}

fn to_jiff(civil: CivilDateTime) -> Result<jiff::civil::DateTime, croner::errors::CronError> {
    let part = |v: u32| i8::try_from(v).map_err(|_| croner::errors::CronError::InvalidDate);
    let year = i16::try_from(civil.year()).map_err(|_| croner::errors::CronError::InvalidDate)?;
    jiff::civil::DateTime::new(
        year,
        part(civil.month())?,
        part(civil.day())?,
        part(civil.hour())?,
        part(civil.minute())?,
        part(civil.second())?,
        0,
    )
    .map_err(|_| croner::errors::CronError::InvalidDate)
}

impl CronDateTime for Wall {
    fn to_civil(&self) -> CivilDateTime {
        to_civil(self.0.datetime())
    }

    fn civil_weekday(&self) -> Weekday {
        Weekday::from_days_from_sunday(
            self.0
                .weekday()
                .to_sunday_zero_offset()
                .unsigned_abs()
                .into(),
        )
    }

    fn resolve_civil(
        &self,
        civil: CivilDateTime,
    ) -> Result<Resolution<Self>, croner::errors::CronError> {
        let invalid = |_| croner::errors::CronError::InvalidTime;
        let ambiguous = self
            .0
            .time_zone()
            .to_ambiguous_zoned_datetime(to_jiff(civil)?);
        Ok(match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { .. } => {
                Resolution::Single(Wall(ambiguous.unambiguous().map_err(invalid)?))
            }
            AmbiguousOffset::Fold { .. } => Resolution::Ambiguous(
                Wall(ambiguous.clone().earlier().map_err(invalid)?),
                Wall(ambiguous.later().map_err(invalid)?),
            ),
            AmbiguousOffset::Gap { .. } => Resolution::Gap,
        })
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Self> {
        self.0
            .checked_add(SignedDuration::from_secs(seconds))
            .ok()
            .map(Wall)
    }

    fn cmp_instant(&self, other: &Self) -> Ordering {
        self.0.timestamp().cmp(&other.0.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn five_fields_fire_at_the_next_matching_minute() {
        let every_minute = CronSchedule::parse("* * * * *").unwrap();
        assert_eq!(
            every_minute.next_after(at("2026-12-06T13:16:37Z"), &TimeZone::UTC),
            Some(at("2026-12-06T13:17:00Z"))
        );
        let nightly = CronSchedule::parse("30 2 * * *").unwrap();
        assert_eq!(
            nightly.next_after(at("2026-12-06T13:16:37Z"), &TimeZone::UTC),
            Some(at("2026-12-07T02:30:00Z"))
        );
        // Strictly after: a schedule at its own instant moves on to the next.
        assert_eq!(
            nightly.next_after(at("2026-12-07T02:30:00Z"), &TimeZone::UTC),
            Some(at("2026-12-08T02:30:00Z"))
        );
        let weekdays = CronSchedule::parse("0 9 * * MON-FRI").unwrap();
        // 2026-12-05 is a Saturday.
        assert_eq!(
            weekdays.next_after(at("2026-12-05T10:00:00Z"), &TimeZone::UTC),
            Some(at("2026-12-07T09:00:00Z"))
        );
    }

    #[test]
    fn a_leading_seconds_field_is_the_extension() {
        let every_five = CronSchedule::parse("*/5 * * * * *").unwrap();
        assert_eq!(
            every_five.next_after(at("2026-12-06T13:16:37Z"), &TimeZone::UTC),
            Some(at("2026-12-06T13:16:40Z"))
        );
    }

    #[test]
    fn the_time_zone_decides_the_wall_clock() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let nightly = CronSchedule::parse("30 2 * * *").unwrap();
        // 02:30 in Berlin (UTC+1 in December) is 01:30 UTC.
        assert_eq!(
            nightly.next_after(at("2026-12-06T13:00:00Z"), &tz),
            Some(at("2026-12-07T01:30:00Z"))
        );
        // On 29 March 2026 Berlin's clock jumps from 02:00 to 03:00: 02:30 does not exist that
        // day, and the job runs at the jump (03:00 CEST), once.
        assert_eq!(
            nightly.next_after(at("2026-03-28T12:00:00Z"), &tz),
            Some(at("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            nightly.next_after(at("2026-03-29T01:00:00Z"), &tz),
            Some(at("2026-03-30T00:30:00Z"))
        );
    }

    #[test]
    fn bad_expressions_are_refused_with_the_reason() {
        for bad in [
            "* * * *",
            "* * * * * * *",
            "61 * * * *",
            "* * * * FUNDAY",
            "",
        ] {
            let err = CronSchedule::parse(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        assert!(CronSchedule::parse("@daily").is_ok());
    }
}
