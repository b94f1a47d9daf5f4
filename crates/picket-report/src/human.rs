//! Small formatting helpers for text a person reads: counts, durations, round-trip times,
//! aligned columns.

use std::net::IpAddr;
use std::time::Duration;

use picket_model::{PortSet, Timestamp};

use crate::safe::terminal_safe;

/// `65531` -> `65,531`.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count with its noun, singular or plural: `1 port`, `65,531 ports`.
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// A duration at the precision a person cares about: `850 ms`, `12.3 s`, `4m 05s`, `2h 03m`,
/// `3d 04h`.
pub(crate) fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    let secs = d.as_secs();
    if ms < 1000 {
        format!("{ms} ms")
    } else if secs < 60 {
        format!("{:.1} s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else if secs < 86_400 {
        format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60)
    } else {
        format!("{}d {:02}h", secs / 86_400, (secs % 86_400) / 3600)
    }
}

/// A round-trip time in milliseconds with three significant digits or so: `0.041 ms`,
/// `4.12 ms`, `41.2 ms`, `412 ms`, `4,120 ms`.
pub(crate) fn rtt(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{} ms", count(ms.round() as u64))
    }
}

/// A rate in probes per second: whole numbers with separators, fractions below 10.
pub(crate) fn rate(per_second: f64) -> String {
    if !per_second.is_finite() || per_second < 0.0 {
        "an unknown rate".to_owned()
    } else if per_second < 10.0 && per_second.fract() != 0.0 {
        format!("{per_second:.1} probes/s")
    } else {
        format!("{} probes/s", count(per_second.round() as u64))
    }
}

/// A share as a percentage: `0.0312` -> `3.1%`.
pub(crate) fn percent(share: f64) -> String {
    if share.is_finite() {
        format!("{:.1}%", share * 100.0)
    } else {
        "unknown".to_owned()
    }
}

/// A timestamp as a person reads it, always in UTC (this crate reads no time zone database).
pub(crate) fn time(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The time of day only, for events within a run whose date the header already gave.
pub(crate) fn clock(ts: Timestamp) -> String {
    ts.strftime("%H:%M:%S UTC").to_string()
}

/// `host:port`, with IPv6 addresses in brackets.
pub(crate) fn endpoint(host: IpAddr, port: u16) -> String {
    match host {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// Cuts `text` to at most `max` characters, marking the cut with `...`.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(3)).collect();
    format!("{kept}...")
}

/// A port set as the compressed spec when it is short, otherwise as a count.
pub(crate) fn ports_brief(ports: &PortSet) -> String {
    let spec = ports.to_string();
    if spec.len() <= 24 {
        spec
    } else {
        counted(ports.len() as u64, "port", "ports")
    }
}

/// Left-aligned columns separated by two spaces, without trailing blanks.
pub fn columns(rows: &[Vec<String>]) -> Vec<String> {
    // Cells may hold third-party text: a newline or an escape sequence must not reach the terminal.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| terminal_safe(c).into_owned()).collect())
        .collect();
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..width)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (cell, w) in row.iter().zip(&widths) {
                line.push_str(cell);
                let pad = w - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
            line.trim_end().to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(65531), "65,531");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(counted(1, "port", "ports"), "1 port");
        assert_eq!(counted(2, "port", "ports"), "2 ports");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(850)), "850 ms");
        assert_eq!(duration(Duration::from_millis(12_340)), "12.3 s");
        assert_eq!(duration(Duration::from_secs(245)), "4m 05s");
        assert_eq!(duration(Duration::from_secs(7380)), "2h 03m");
        assert_eq!(duration(Duration::from_secs(273_600)), "3d 04h");
    }

    #[test]
    fn rtts_keep_three_digits() {
        assert_eq!(rtt(Duration::from_micros(41)), "0.041 ms");
        assert_eq!(rtt(Duration::from_micros(4123)), "4.12 ms");
        assert_eq!(rtt(Duration::from_micros(41_230)), "41.2 ms");
        assert_eq!(rtt(Duration::from_micros(412_300)), "412 ms");
        assert_eq!(rtt(Duration::from_micros(4_123_000)), "4,123 ms");
    }

    #[test]
    fn rates_and_shares() {
        assert_eq!(rate(1500.0), "1,500 probes/s");
        assert_eq!(rate(2.5), "2.5 probes/s");
        assert_eq!(rate(f64::NAN), "an unknown rate");
        assert_eq!(percent(0.0312), "3.1%");
    }

    #[test]
    fn endpoints_bracket_ipv6() {
        assert_eq!(endpoint("10.0.0.1".parse().unwrap(), 22), "10.0.0.1:22");
        assert_eq!(endpoint("fd00::1".parse().unwrap(), 22), "[fd00::1]:22");
    }

    #[test]
    fn columns_align_and_trim() {
        let rows = vec![
            vec!["PORT".to_owned(), "STATE".to_owned(), "RTT".to_owned()],
            vec!["22/tcp".to_owned(), "open".to_owned(), String::new()],
        ];
        assert_eq!(columns(&rows), vec!["PORT    STATE  RTT", "22/tcp  open"]);
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("abcdef", 10), "abcdef");
        assert_eq!(truncate("abcdefghijkl", 8), "abcde...");
    }
}
