//! Value parsing shared by the format parsers. Each helper names the field it reads, so that a
//! bad value becomes `field X: 'v' is not Y` without the parsers repeating themselves.

use std::net::IpAddr;
use std::time::Duration;

use picket_model::{Timestamp, Transport};
use serde_json::{Map, Value};

use crate::error::LineProblem;

pub(crate) type Res<T> = Result<T, LineProblem>;

pub(crate) fn ip(field: &str, s: &str) -> Res<IpAddr> {
    s.parse()
        .map_err(|_| LineProblem::bad(field, s, "an IP address"))
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

/// `123.456` as whole seconds and nanoseconds. Digits past the ninth decimal are dropped.
fn secs_and_nanos(s: &str) -> Option<(u64, u32)> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || (s.contains('.') && frac.is_empty()) {
        return None;
    }
    let secs: u64 = int.parse().ok()?;
    let mut nanos: u32 = 0;
    for i in 0..9 {
        let d = frac.as_bytes().get(i).map_or(0, |b| u32::from(b - b'0'));
        nanos = nanos * 10 + d;
    }
    Some((secs, nanos))
}

/// An RFC 3339 / ISO 8601 instant with an offset (`2024-05-01T12:00:00Z`,
/// `2017-04-07T22:24:37.251547+0100` as Suricata writes it).
pub(crate) fn rfc3339(field: &str, s: &str) -> Res<Timestamp> {
    s.parse()
        .map_err(|_| LineProblem::bad(field, s, "an RFC 3339 time"))
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
}
