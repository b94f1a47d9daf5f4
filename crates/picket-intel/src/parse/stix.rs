//! STIX 2.1 bundles: objects of type `indicator` whose `pattern` compares `ipv4-addr:value` or
//! `ipv6-addr:value` with an address or CIDR (`=` or `ISSUBSET`, `IN (...)`, joined by `OR`).
//!
//! A pattern that joins an address with anything by `AND`, `FOLLOWEDBY`, `NOT` or a qualifier
//! (`WITHIN`, `REPEATS`, `START`) does not say "this address is bad" on its own: matching on the
//! address alone would raise false alerts, so such indicators are skipped, as are indicators of
//! other things (file hashes, domains). `valid_from` becomes `first_seen`, `confidence` the score.

use picket_model::{FeedFormat, FeedMeta, Indicator};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::json_document_error;
use crate::lines::{line_col, non_empty, parse_net, parse_rfc3339};
use crate::{IntelError, Origin, ParsedFeed};

#[derive(Deserialize)]
struct Bundle<'a> {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(borrow, default)]
    objects: Vec<&'a RawValue>,
}

pub(crate) fn parse(origin: Origin<'_>, input: &[u8]) -> Result<ParsedFeed, IntelError> {
    let text = std::str::from_utf8(input).map_err(|e| {
        let (line, column) = line_col(input, e.valid_up_to());
        IntelError::Document {
            file: origin.file.to_owned(),
            format: FeedFormat::Stix,
            line,
            column,
            reason: "not UTF-8 text".to_owned(),
        }
    })?;
    let bundle: Bundle<'_> = serde_json::from_str(text)
        .map_err(|e| json_document_error(origin, FeedFormat::Stix, &e))?;
    if bundle.kind.as_deref() != Some("bundle") {
        return Err(IntelError::Document {
            file: origin.file.to_owned(),
            format: FeedFormat::Stix,
            line: 1,
            column: 1,
            reason: "the top-level object is not of \"type\": \"bundle\"".to_owned(),
        });
    }
    let mut out = ParsedFeed::new(FeedMeta::new(origin.feed, FeedFormat::Stix));
    for raw in bundle.objects {
        let offset = raw.get().as_ptr() as usize - text.as_ptr() as usize;
        let (line, _) = line_col(input, offset);
        let object: Map<String, Value> = match serde_json::from_str(raw.get()) {
            Ok(o) => o,
            Err(_) => {
                out.errors
                    .push(origin.error(line, "objects", "not a JSON object"));
                continue;
            }
        };
        if object.get("type").and_then(Value::as_str) != Some("indicator") {
            continue;
        }
        match indicator(origin, &object) {
            Ok(Some(found)) => out.indicators.extend(found),
            Ok(None) => out.skipped += 1,
            Err((field, reason)) => out.errors.push(origin.error(line, field, reason)),
        }
    }
    Ok(out)
}

type FieldError = (&'static str, String);

/// The address indicators of one STIX indicator object; `None` when it is not an address
/// indicator Picket can match on.
fn indicator(
    origin: Origin<'_>,
    object: &Map<String, Value>,
) -> Result<Option<Vec<Indicator>>, FieldError> {
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    if object.get("revoked").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    if text("pattern_type").is_some_and(|t| t != "stix") {
        return Ok(None);
    }
    let pattern = text("pattern").ok_or(("pattern", "missing".to_owned()))?;
    let values = match address_values(pattern) {
        Ok(values) => values,
        Err(PatternError::NotPlain) => return Ok(None),
        Err(PatternError::Syntax(reason)) => return Err(("pattern", reason)),
    };
    let first_seen = text("valid_from")
        .map(parse_rfc3339)
        .transpose()
        .map_err(|reason| ("valid_from", reason))?;
    let score = object.get("confidence").and_then(Value::as_f64);
    let category = object
        .get("indicator_types")
        .or_else(|| object.get("labels"))
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .and_then(non_empty);
    let comment = text("name").or(text("description")).and_then(non_empty);
    values
        .iter()
        .map(|v| {
            let mut ind = Indicator::new(parse_net(v).map_err(|r| ("pattern", r))?, origin.feed);
            ind.first_seen = first_seen;
            ind.score = score;
            ind.category.clone_from(&category);
            ind.comment.clone_from(&comment);
            Ok(ind)
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[derive(Debug, PartialEq)]
enum PatternError {
    /// Well-formed, but not a plain disjunction of address comparisons.
    NotPlain,
    Syntax(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Comma,
    Str(String),
    Word(String),
}

/// The address literals of a pattern that is a plain `OR` of comparisons. Brackets and parentheses
/// only group, and with `OR` alone grouping does not change the meaning, so they are checked for
/// balance and then dropped.
fn address_values(pattern: &str) -> Result<Vec<String>, PatternError> {
    let tokens = tokenize(pattern)?;
    let mut values = Vec::new();
    for part in tokens.split(|t| *t == Tok::Word("OR".to_owned())) {
        let words = || {
            part.iter().filter_map(|t| match t {
                Tok::Word(w) => Some(w.as_str()),
                _ => None,
            })
        };
        if part.is_empty() {
            return Err(PatternError::Syntax(
                "empty comparison around OR".to_owned(),
            ));
        }
        if words().any(|w| {
            matches!(
                w,
                "AND" | "FOLLOWEDBY" | "NOT" | "WITHIN" | "REPEATS" | "START" | "STOP"
            )
        }) {
            return Err(PatternError::NotPlain);
        }
        let Some(Tok::Word(path)) = part.first() else {
            return Err(PatternError::Syntax(
                "a comparison must start with an object path".to_owned(),
            ));
        };
        if !(path.starts_with("ipv4-addr:") || path.starts_with("ipv6-addr:")) {
            // Another branch of the OR (a file hash, a domain): it does not bind the address.
            continue;
        }
        if !path.ends_with(":value") {
            return Err(PatternError::NotPlain);
        }
        match &part[1..] {
            [Tok::Word(op), Tok::Str(v)] if op == "=" || op == "ISSUBSET" => values.push(v.clone()),
            [Tok::Word(op), rest @ ..] if op == "IN" && !rest.is_empty() => {
                for (i, t) in rest.iter().enumerate() {
                    match (i % 2, t) {
                        (0, Tok::Str(v)) => values.push(v.clone()),
                        (1, Tok::Comma) => {}
                        _ => {
                            return Err(PatternError::Syntax(
                                "IN takes a list of quoted values".to_owned(),
                            ));
                        }
                    }
                }
            }
            _ => return Err(PatternError::NotPlain),
        }
    }
    if values.is_empty() {
        return Err(PatternError::NotPlain);
    }
    Ok(values)
}

fn tokenize(pattern: &str) -> Result<Vec<Tok>, PatternError> {
    let mut tokens = Vec::new();
    let (mut brackets, mut parens) = (0i32, 0i32);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '[' => brackets += 1,
            ']' => brackets -= 1,
            '(' => parens += 1,
            ')' => parens -= 1,
            ',' => tokens.push(Tok::Comma),
            '\'' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => match chars.next() {
                            Some(e) => s.push(e),
                            None => return Err(unterminated()),
                        },
                        Some('\'') => break,
                        Some(ch) => s.push(ch),
                        None => return Err(unterminated()),
                    }
                }
                tokens.push(Tok::Str(s));
            }
            '=' | '!' | '<' | '>' => {
                let mut op = c.to_string();
                while let Some(&n) = chars.peek().filter(|n| matches!(n, '=' | '<' | '>')) {
                    op.push(n);
                    chars.next();
                }
                tokens.push(Tok::Word(op));
            }
            _ => {
                let mut w = c.to_string();
                while let Some(&n) = chars
                    .peek()
                    .filter(|n| !n.is_whitespace() && !"[](),'=!<>".contains(**n))
                {
                    w.push(n);
                    chars.next();
                }
                tokens.push(Tok::Word(w));
            }
        }
        if brackets < 0 || parens < 0 {
            return Err(PatternError::Syntax(
                "a closing bracket without its opening one".to_owned(),
            ));
        }
    }
    if brackets != 0 || parens != 0 {
        return Err(PatternError::Syntax("brackets do not balance".to_owned()));
    }
    Ok(tokens)
}

fn unterminated() -> PatternError {
    PatternError::Syntax("a quoted value is not closed".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(p: &str) -> Result<Vec<String>, PatternError> {
        address_values(p)
    }

    #[test]
    fn plain_address_patterns() {
        assert_eq!(
            values("[ipv4-addr:value = '198.51.100.1']").unwrap(),
            ["198.51.100.1"]
        );
        assert_eq!(
            values("[ipv4-addr:value = '198.51.100.1/32' OR ipv4-addr:value = '203.0.113.33/32']")
                .unwrap(),
            ["198.51.100.1/32", "203.0.113.33/32"]
        );
        assert_eq!(
            values("[ipv6-addr:value ISSUBSET '2001:db8::/32'] OR [ipv4-addr:value='1.2.3.4']")
                .unwrap(),
            ["2001:db8::/32", "1.2.3.4"]
        );
        assert_eq!(
            values("[ipv4-addr:value IN ('1.2.3.4', '5.6.7.8')]").unwrap(),
            ["1.2.3.4", "5.6.7.8"]
        );
        assert_eq!(
            values("[file:name = 'x.exe'] OR [ipv4-addr:value = '1.2.3.4']").unwrap(),
            ["1.2.3.4"]
        );
    }

    #[test]
    fn patterns_that_are_not_plain_address_indicators() {
        for p in [
            "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
            "[ipv4-addr:value = '1.2.3.4' AND network-traffic:dst_port = 443]",
            "[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '5.6.7.8']",
            "[ipv4-addr:value = '1.2.3.4'] WITHIN 300 SECONDS",
            "[ipv4-addr:value != '1.2.3.4']",
            "[ipv4-addr:resolves_to_refs[*].value = 'aa:bb']",
        ] {
            assert_eq!(values(p), Err(PatternError::NotPlain), "{p}");
        }
    }

    #[test]
    fn broken_patterns() {
        for p in [
            "[ipv4-addr:value = '1.2.3.4]",
            "[ipv4-addr:value = '1.2.3.4'",
            "]ipv4-addr:value = '1.2.3.4'[",
            "[ipv4-addr:value = '1.2.3.4' OR OR ipv4-addr:value = '1.2.3.5']",
            "['1.2.3.4']",
        ] {
            assert!(matches!(values(p), Err(PatternError::Syntax(_))), "{p}");
        }
    }
}
