//! Value parsing shared by the format parsers. Each helper names the field it reads, so that a
//! bad value becomes `field X: 'v' is not Y` without the parsers repeating themselves.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use picket_model::{Timestamp, Transport};
use serde_json::{Map, Value};

use crate::error::LineProblem;

pub(crate) type Res<T> = Result<T, LineProblem>;

pub(crate) fn ip(field: &str, s: &str) -> Res<IpAddr> {
    if let Some(v4) = dotted_quad(s.as_bytes()) {
        return Ok(IpAddr::V4(v4));
    }
    s.parse()
        .map_err(|_| LineProblem::bad(field, s, "an IP address"))
}

/// The usual IPv4 address, four decimal octets of one to three digits without a leading zero,
/// read in one pass; `None` for anything else (IPv6, or a bad address), which goes to std's
/// parser. Where this answers, it answers as std does.
fn dotted_quad(s: &[u8]) -> Option<Ipv4Addr> {
    if !(7..=15).contains(&s.len()) {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            (s.get(i) == Some(&b'.')).then_some(())?;
            i += 1;
        }
        let start = i;
        let mut value = 0u32;
        while let Some(d) = s.get(i).filter(|d| d.is_ascii_digit() && i - start < 3) {
            value = value * 10 + u32::from(d - b'0');
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || (digits > 1 && s[start] == b'0') {
            return None;
        }
        *octet = u8::try_from(value).ok()?;
    }
    (i == s.len()).then(|| Ipv4Addr::from(octets))
}

pub(crate) fn port(field: &str, s: &str) -> Res<u16> {
    s.parse().map_err(|_| LineProblem::bad(field, s, "a port"))
}

pub(crate) fn count(field: &str, s: &str) -> Res<u64> {
    s.parse().map_err(|_| LineProblem::bad(field, s, "a count"))
}

/// Seconds since the Unix epoch with an optional fraction (`1632928690.500620`), read exactly
/// (no trip through `f64`, which would lose the microseconds of a current timestamp).
pub(crate) fn epoch(field: &str, s: &str) -> Res<Timestamp> {
    let bad = || LineProblem::bad(field, s, "a time");
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, nanos) = secs_and_nanos(digits).ok_or_else(bad)?;
    let secs = i64::try_from(secs).map_err(|_| bad())?;
    let (secs, nanos) = if negative {
        (-secs, -(nanos as i32))
    } else {
        (secs, nanos as i32)
    };
    Timestamp::new(secs, nanos).map_err(|_| bad())
}

/// A non-negative number of seconds with an optional fraction (`0.027648`).
pub(crate) fn seconds(field: &str, s: &str) -> Res<Duration> {
    secs_and_nanos(s)
        .map(|(secs, nanos)| Duration::new(secs, nanos))
        .ok_or_else(|| LineProblem::bad(field, s, "a duration"))
}

/// `123.456` as whole seconds and nanoseconds. Digits past the ninth decimal are dropped. One
/// pass: every Zeek row has two of these.
fn secs_and_nanos(s: &str) -> Option<(u64, u32)> {
    let b = s.as_bytes();
    let int = b.iter().take_while(|d| d.is_ascii_digit()).count();
    if int == 0 {
        return None;
    }
    let digits = b.get(..int)?;
    let digit = |d: &u8| u64::from(d - b'0');
    // Nineteen digits always fit in a u64: they are read without a check each (which chains
    // the digits' arithmetic on the flags), longer ones with it.
    let secs = if int <= 19 {
        digits.iter().fold(0u64, |n, d| n * 10 + digit(d))
    } else {
        digits
            .iter()
            .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(digit(d)))?
    };
    let mut nanos: u32 = 0;
    if let Some(rest) = b.get(int..).filter(|r| !r.is_empty()) {
        let frac = rest.strip_prefix(b".")?;
        if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for i in 0..9 {
            nanos = nanos * 10 + frac.get(i).map_or(0, |d| u32::from(d - b'0'));
        }
    }
    Some((secs, nanos))
}

/// An RFC 3339 / ISO 8601 instant with an offset (`2024-05-01T12:00:00Z`,
/// `2017-04-07T22:24:37.251547+0100` as Suricata writes it).
pub(crate) fn rfc3339(field: &str, s: &str) -> Res<Timestamp> {
    if let Some(t) = plain_rfc3339(s.as_bytes()) {
        return Ok(t);
    }
    s.parse()
        .map_err(|_| LineProblem::bad(field, s, "an RFC 3339 time"))
}

/// The common shape of an RFC 3339 time, as Suricata and Zeek write them on every line
/// (`2024-05-01T12:00:00.749938+0000`, `...Z`, `...+02:00`): digits at fixed places, read
/// without a general parser. `None` for anything else (a leap second, an offset of a day or
/// more, lowercase letters, a date that does not exist ...): jiff's parser decides those, and
/// for every text this reads, this gives jiff's answer (a property test holds it to that).
fn plain_rfc3339(b: &[u8]) -> Option<Timestamp> {
    let num = |at: usize, len: usize| -> Option<i64> {
        let digits = b.get(at..at + len)?;
        digits.iter().try_fold(0i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |at: usize, c: u8| b.get(at) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut at = 19;
    let mut nanos = 0i64;
    if sep(at, b'.') {
        let digits = b
            .get(at + 1..)?
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        nanos = num(at + 1, digits)? * 10i64.pow(9 - digits as u32);
        at += 1 + digits;
    }
    let offset = match b.get(at..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), ..] => {
            let (hours, minutes) = match b.len() - at {
                5 => (num(at + 1, 2)?, num(at + 3, 2)?),
                6 if sep(at + 3, b':') => (num(at + 1, 2)?, num(at + 4, 2)?),
                _ => return None,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let secs = hours * 3600 + minutes * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Timestamp::new(secs, i32::try_from(nanos).ok()?).ok()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A `time` field in a JSON source: epoch seconds as a number, epoch milliseconds as a large
/// integer (Zeek's `JSON::TS_MILLIS`), or RFC 3339 text (Zeek's `JSON::TS_ISO8601`).
pub(crate) fn json_time(field: &str, v: &Value) -> Res<Timestamp> {
    // Epoch seconds reach 1e11 only in the year 5138: larger integers are milliseconds.
    const MILLIS_FROM: u64 = 100_000_000_000;
    match v {
        Value::String(s) => json_time_text(field, s),
        Value::Number(n) => {
            if let Some(ms) = n.as_u64().filter(|ms| *ms >= MILLIS_FROM) {
                let ms = i64::try_from(ms)
                    .map_err(|_| LineProblem::bad(field, &ms.to_string(), "a time"))?;
                return Timestamp::from_millisecond(ms)
                    .map_err(|_| LineProblem::bad(field, &n.to_string(), "a time"));
            }
            // serde_json keeps the literal digits only as f64 or an integer; an integer is
            // exact and a float has microsecond precision for current dates.
            epoch(field, &n.to_string())
                .or_else(|_| float_secs(n.as_f64()).ok_or(()))
                .map_err(|_| LineProblem::bad(field, &n.to_string(), "a time"))
        }
        other => Err(LineProblem::bad(field, &other.to_string(), "a time")),
    }
}

/// A time given as a JSON string: RFC 3339, or epoch seconds written out.
pub(crate) fn json_time_text(field: &str, s: &str) -> Res<Timestamp> {
    rfc3339(field, s).or_else(|e| epoch(field, s).map_err(|_| e))
}

fn float_secs(f: Option<f64>) -> Option<Timestamp> {
    let f = f?;
    if !f.is_finite() {
        return None;
    }
    let micros = (f * 1e6).round();
    if micros.abs() > 9.0e18 {
        return None;
    }
    Timestamp::from_microsecond(micros as i64).ok()
}

/// Looks a key up in a JSON object; `null` counts as absent.
pub(crate) fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

pub(crate) fn json_str<'a>(obj: &'a Map<String, Value>, key: &str) -> Res<Option<&'a str>> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(LineProblem::bad(key, &other.to_string(), "a string")),
    }
}

pub(crate) fn json_u64(
    obj: &Map<String, Value>,
    key: &str,
    what: &'static str,
) -> Res<Option<u64>> {
    match get(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| LineProblem::bad(key, &v.to_string(), what)),
    }
}

pub(crate) fn json_port(obj: &Map<String, Value>, key: &str) -> Res<Option<u16>> {
    match get(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| LineProblem::bad(key, &v.to_string(), "a port")),
    }
}

pub(crate) fn json_ip(obj: &Map<String, Value>, key: &str) -> Res<IpAddr> {
    match get(obj, key) {
        None => Err(LineProblem::missing(key)),
        Some(Value::String(s)) => ip(key, s),
        Some(other) => Err(LineProblem::bad(key, &other.to_string(), "an IP address")),
    }
}

pub(crate) fn json_seconds(obj: &Map<String, Value>, key: &str) -> Res<Option<Duration>> {
    match get(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .and_then(|f| Duration::try_from_secs_f64(f).ok())
            .map(Some)
            .ok_or_else(|| LineProblem::bad(key, &v.to_string(), "a duration")),
    }
}

/// A protocol given as a name (`tcp`, `TCP`) or an IANA number, as text or as a JSON number.
pub(crate) fn json_transport(obj: &Map<String, Value>, key: &str) -> Res<Transport> {
    match get(obj, key) {
        None => Err(LineProblem::missing(key)),
        Some(v) => transport_value(key, v),
    }
}

/// [`json_transport`] of a value that is there (not null).
pub(crate) fn transport_value(key: &str, v: &Value) -> Res<Transport> {
    match v {
        Value::String(s) => transport(key, s),
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .map(Transport::from_number)
            .ok_or_else(|| LineProblem::bad(key, &n.to_string(), "a transport protocol")),
        other => Err(LineProblem::bad(
            key,
            &other.to_string(),
            "a transport protocol",
        )),
    }
}

pub(crate) fn transport(field: &str, s: &str) -> Res<Transport> {
    Transport::parse(s).ok_or_else(|| LineProblem::bad(field, s, "a transport protocol"))
}

/// Whether ports mean anything for this protocol. Sources put ICMP type and code (or zeros) in
/// the port columns; reporting those as ports would make `dst_port 3` match an ICMP type.
pub(crate) fn has_ports(proto: Transport) -> bool {
    // TCP, UDP, DCCP (33), SCTP (132), UDP-Lite (136).
    matches!(
        proto,
        Transport::Tcp | Transport::Udp | Transport::Other(33 | 132 | 136)
    )
}

/// The duration between two instants, when the second is not before the first.
pub(crate) fn between(start: Timestamp, end: Timestamp) -> Option<Duration> {
    let d = end.duration_since(start);
    Duration::try_from(d).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_is_exact() {
        let t = epoch("ts", "1632928690.500620").unwrap();
        assert_eq!(t.as_second(), 1_632_928_690);
        assert_eq!(t.subsec_microsecond(), 500_620);
        assert_eq!(epoch("ts", "0").unwrap().as_second(), 0);
        assert_eq!(epoch("ts", "-1.5").unwrap().as_millisecond(), -1500);
        for bad in [
            "",
            ".5",
            "1.",
            "1e9",
            "XXXXXXXXXX.XXXXXX",
            "1.2.3",
            "+1",
            "99999999999999999999",
        ] {
            assert!(epoch("ts", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seconds_and_times() {
        assert_eq!(
            seconds("d", "0.027648").unwrap(),
            Duration::from_micros(27_648)
        );
        assert!(seconds("d", "-1").is_err());
        let t = rfc3339("timestamp", "2017-04-07T22:24:37.251547+0100").unwrap();
        assert_eq!(t.to_string(), "2017-04-07T21:24:37.251547Z");
        assert!(rfc3339("timestamp", "2017-04-07T22:24:37").is_err());
    }

    #[test]
    fn json_times() {
        let v: Value = serde_json::from_str("1632928690.50062").unwrap();
        assert_eq!(json_time("ts", &v).unwrap().subsec_microsecond(), 500_620);
        let v: Value = serde_json::from_str("1632928690500").unwrap();
        assert_eq!(
            json_time("ts", &v).unwrap().as_millisecond(),
            1_632_928_690_500
        );
        let v: Value = serde_json::from_str("\"2021-09-29T15:18:10.500620Z\"").unwrap();
        assert_eq!(json_time("ts", &v).unwrap().as_second(), 1_632_928_690);
        let v: Value = serde_json::from_str("true").unwrap();
        assert!(json_time("ts", &v).is_err());
        let v: Value = serde_json::from_str("-1e300").unwrap();
        assert!(json_time("ts", &v).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// Wherever the one-pass reader answers, std's parser gives the same address; and it
        /// answers every address std prints.
        #[test]
        fn dotted_quad_reads_as_std(
            text in "[0-9.]{0,16}|(0|[1-9][0-9]{0,3})(\\.(0|00|[1-9][0-9]{0,2})){3}",
            octets in proptest::prelude::any::<[u8; 4]>(),
        ) {
            if let Some(v4) = dotted_quad(text.as_bytes()) {
                proptest::prop_assert_eq!(text.parse::<Ipv4Addr>().ok(), Some(v4));
            }
            let printed = Ipv4Addr::from(octets);
            proptest::prop_assert_eq!(dotted_quad(printed.to_string().as_bytes()), Some(printed));
        }

        /// Whatever the common-shape reader reads, it reads as jiff does, over times near and
        /// past every edge (month ends, leap years, leap seconds, offsets, fractions of any
        /// length) and bytes changed anywhere.
        #[test]
        fn the_plain_rfc3339_reader_agrees_with_jiff(
            year in proptest::prop_oneof![1900i64..2100, 0i64..=9999],
            month in 0i64..=13,
            day in 0i64..=32,
            hour in 0i64..=24,
            minute in 0i64..=60,
            second in 0i64..=61,
            fraction in proptest::option::of("[0-9]{0,11}"),
            zone in proptest::prop_oneof![
                proptest::strategy::Just("Z".to_owned()),
                proptest::strategy::Just("z".to_owned()),
                "[+-][0-2][0-9][0-6][0-9]",
                "[+-][0-2][0-9]:[0-6][0-9]",
                "[+-][0-9]{1,3}",
            ],
            mutate in proptest::option::of((0usize..40, proptest::prelude::any::<u8>())),
        ) {
            let mut text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
            if let Some(f) = fraction {
                text.push('.');
                text.push_str(&f);
            }
            text.push_str(&zone);
            let mut bytes = text.into_bytes();
            if let Some((at, b)) = mutate
                && let Some(slot) = bytes.get_mut(at)
            {
                *slot = b;
            }
            if let Some(fast) = plain_rfc3339(&bytes) {
                let text = std::str::from_utf8(&bytes).unwrap();
                let slow: Result<Timestamp, _> = text.parse();
                proptest::prop_assert_eq!(Ok(fast), slow.map_err(|e| e.to_string()), "{}", text);
            }
        }
    }

    /// The shapes Suricata, Zeek and the NDJSON input write are read without jiff's parser.
    #[test]
    fn common_shapes_are_read_plainly() {
        for text in [
            "2024-05-01T12:00:00.749938+0000",
            "2024-05-01T12:00:00Z",
            "2024-02-29T23:59:59.123456789-05:30",
            "1970-01-01T00:00:00+00:00",
        ] {
            let fast = plain_rfc3339(text.as_bytes());
            assert_eq!(fast, Some(text.parse().unwrap()), "{text}");
        }
        for text in [
            "2023-02-29T00:00:00Z",
            "2024-05-01T12:00:60Z",
            "2024-05-01t12:00:00Z",
        ] {
            assert_eq!(plain_rfc3339(text.as_bytes()), None, "{text}");
        }
    }

    proptest::proptest! {
        /// Seconds read in one pass are those of splitting at the dot and parsing each side,
        /// for numbers and for near-numbers (signs, dots, spaces, overflow).
        #[test]
        fn secs_and_nanos_reads_as_split_and_parse(s in "[0-9.+ -]{0,24}|[0-9]{1,22}(\\.[0-9]{0,12})?") {
            let split = || -> Option<(u64, u32)> {
                let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
                if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                if !frac.bytes().all(|b| b.is_ascii_digit()) || (s.contains('.') && frac.is_empty()) {
                    return None;
                }
                let secs: u64 = int.parse().ok()?;
                let padded = format!("{frac:0<9}");
                Some((secs, padded.get(..9)?.parse().ok()?))
            };
            proptest::prop_assert_eq!(secs_and_nanos(&s), split(), "{:?}", s);
        }
    }
}
