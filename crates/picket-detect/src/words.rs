//! Small helpers that put numbers, durations and commands into the words a person reads.

use std::time::Duration;

/// `1204` -> `1,204`: probe counts are read at a glance.
pub(crate) fn thousands(n: u64) -> String {
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

/// `1` -> `1 probe`, `1204` -> `1,204 probes`; `3 vulnerabilities`.
pub(crate) fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else if let Some(stem) = noun.strip_suffix('y') {
        format!("{} {stem}ies", thousands(n))
    } else {
        format!("{} {noun}s", thousands(n))
    }
}

/// `[80, 443, 8080]` -> `80, 443 and 8080`.
pub(crate) fn port_list(ports: &[u16]) -> String {
    match ports {
        [] => String::new(),
        [only] => only.to_string(),
        [init @ .., last] => format!(
            "{} and {last}",
            init.iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A duration as the CLI reads it (humantime style): `3s`, `1500ms`.
pub(crate) fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 && ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A probe rate without false precision: `850`, `12.5`.
pub(crate) fn rate(r: f64) -> String {
    if r >= 100.0 || r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// A loss share (0.27) as a percentage (`27%`).
pub(crate) fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// Quotes `s` for a POSIX shell when it needs it, so that a printed command can be pasted.
pub(crate) fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `a`, `a and b`, `a, b and c` for two or three names; longer lists are joined with commas.
pub(crate) fn list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [a, b] => format!("{a} and {b}"),
        [a, b, c] => format!("{a}, {b} and {c}"),
        many => many.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn counts_with_plurals() {
        assert_eq!(count(1, "probe"), "1 probe");
        assert_eq!(count(0, "probe"), "0 probes");
        assert_eq!(count(1204, "probe"), "1,204 probes");
    }

    #[test]
    fn lists_ports() {
        assert_eq!(port_list(&[]), "");
        assert_eq!(port_list(&[22]), "22");
        assert_eq!(port_list(&[22, 80]), "22 and 80");
        assert_eq!(port_list(&[22, 80, 443]), "22, 80 and 443");
    }

    #[test]
    fn formats_durations_rates_and_loss() {
        assert_eq!(duration(Duration::from_secs(3)), "3s");
        assert_eq!(duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(duration(Duration::from_millis(250)), "250ms");
        assert_eq!(rate(850.4), "850");
        assert_eq!(rate(12.5), "12.5");
        assert_eq!(rate(50.0), "50");
        assert_eq!(percent(0.274), "27%");
    }

    #[test]
    fn lists_read_as_prose() {
        assert_eq!(list(&[]), "");
        assert_eq!(list(&["a", "b"]), "a and b");
        assert_eq!(list(&["a", "b", "c"]), "a, b and c");
        assert_eq!(list(&["a", "b", "c", "d"]), "a, b, c, d");
    }

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(shell_quote("/var/lib/picket.db"), "/var/lib/picket.db");
        assert_eq!(shell_quote("my scans.db"), "'my scans.db'");
        assert_eq!(shell_quote("it's.db"), r"'it'\''s.db'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(
            shell_quote("postgres://u@db/picket"),
            "postgres://u@db/picket"
        );
    }
}
