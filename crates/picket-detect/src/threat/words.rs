//! Small wording helpers for alert reasons.

/// `48213` -> `48,213`.
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

/// `1 feed`, `2 feeds`; `1 vulnerability`, `3 vulnerabilities`.
pub(crate) fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else if let Some(stem) = noun.strip_suffix('y') {
        format!("{} {stem}ies", thousands(n))
    } else {
        format!("{} {noun}s", thousands(n))
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
    fn words() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(48_213), "48,213");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(count(1, "feed"), "1 feed");
        assert_eq!(count(2, "feed"), "2 feeds");
        assert_eq!(count(3, "vulnerability"), "3 vulnerabilities");
        assert_eq!(list(&[]), "");
        assert_eq!(list(&["a", "b"]), "a and b");
        assert_eq!(list(&["a", "b", "c"]), "a, b and c");
        assert_eq!(list(&["a", "b", "c", "d"]), "a, b, c, d");
    }
}
