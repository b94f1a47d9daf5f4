//! The quick JSON readers' scanner: one JSON object's top-level members, each key with the
//! raw text of its value, found on the line's bytes without building anything (no map, no
//! value, no allocation). It is what lets a reader screen a line from the few fields the
//! screen needs before any serde work.
//!
//! It must never accept a line that serde_json refuses: every value, read or skipped, is
//! checked as strictly as serde_json checks it (string escapes and control characters, the
//! number grammar, literals, nesting, nothing after the object but whitespace). Whatever it is
//! unsure of (a key with an escape, a `\u` escape anywhere, a number with an exponent or
//! dozens of digits, deep nesting) makes it give up with `None`, and the caller then goes
//! through the full parse. It must never panic, whatever the bytes.

use picket_model::{Timestamp, Transport};
use serde_json::Value;

use crate::fields;

/// Longest number read: far below where serde_json could refuse one for its range.
const MAX_NUMBER: usize = 40;
/// Deepest nesting followed (serde_json's own limit is 128).
const MAX_DEPTH: usize = 32;

/// A member's value, as it is written on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Raw<'a> {
    /// A string without any escape: its contents.
    Str(&'a str),
    /// A string with escapes (none of them `\u`): its contents are not the text between the
    /// quotes.
    Escaped,
    /// A number: no exponent, at most [`MAX_NUMBER`] characters.
    Num(&'a str),
    Bool,
    Null,
    /// An object, braces included: [`object`] reads its members.
    Object(&'a str),
    Array,
}

/// Calls `each` with every top-level member of the object that is the whole of `text` (JSON
/// whitespace around it), in order, with `None` for its parent; a member whose value is an
/// object has that object's members given first, with the member's key for their parent
/// (one level down, no further). `None` when `text` is not such an object, when the scanner
/// is unsure of it (see the module's doc), or when `each` says `None`.
pub(crate) fn object<'a, F>(text: &'a str, each: &mut F) -> Option<()>
where
    F: FnMut(Option<&'a str>, &'a str, Raw<'a>) -> Option<()>,
{
    let mut cur = Cursor { text, i: 0 };
    cur.ws();
    cur.members(0, None, each)?;
    cur.ws();
    (cur.i == text.len()).then_some(())
}

struct Cursor<'a> {
    text: &'a str,
    i: usize,
}

/// The bytes that end a run of plain string contents: the closing quote, an escape, and the
/// control characters JSON refuses inside a string.
static STRING_STOP: [bool; 256] = {
    let mut stop = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        stop[b] = true;
        b += 1;
    }
    stop[b'"' as usize] = true;
    stop[b'\\' as usize] = true;
    stop
};

/// Where the first of 8 bytes (little-endian) that is a quote, a backslash or a control
/// character sits, tested on all of them at once: the exact "has a zero byte" and "has a byte
/// below n" word tests, whose lowest flag is always a true one (a borrow can only flag a byte
/// after a true one).
fn first_look(word: u64) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let flags = zero(word ^ (ONES * u64::from(b'"')))
        | zero(word ^ (ONES * u64::from(b'\\')))
        | below_space;
    (flags != 0).then(|| flags.trailing_zeros() as usize / 8)
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.i += 1)
    }

    /// An object at the cursor, each member given to `each` (with `parent`); at depth 0 the
    /// members of a member's object too.
    /// The calls to `each` are static: the caller's test of each key is inlined here.
    fn members<F>(&mut self, depth: usize, parent: Option<&'a str>, each: &mut F) -> Option<()>
    where
        F: FnMut(Option<&'a str>, &'a str, Raw<'a>) -> Option<()>,
    {
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = match self.string()? {
                Raw::Str(key) => key,
                _ => return None,
            };
            self.ws();
            self.eat(b':')?;
            self.ws();
            let value = if depth == 0 && self.peek() == Some(b'{') {
                let start = self.i;
                self.members(1, Some(key), each)?;
                Raw::Object(self.text.get(start..self.i)?)
            } else {
                self.value(depth)?
            };
            each(parent, key, value)?;
            if self.comma_or(b'}')? {
                return Some(());
            }
        }
    }

    fn value(&mut self, depth: usize) -> Option<Raw<'a>> {
        match self.peek()? {
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal("true", Raw::Bool),
            b'f' => self.literal("false", Raw::Bool),
            b'n' => self.literal("null", Raw::Null),
            b'{' if depth < MAX_DEPTH => {
                let start = self.i;
                self.members(depth + 1, None, &mut |_, _, _| Some(()))?;
                Some(Raw::Object(self.text.get(start..self.i)?))
            }
            b'[' if depth < MAX_DEPTH => {
                self.elements(depth + 1)?;
                Some(Raw::Array)
            }
            _ => None,
        }
    }

    fn elements(&mut self, depth: usize) -> Option<()> {
        self.eat(b'[')?;
        self.ws();
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.value(depth)?;
            if self.comma_or(b']')? {
                return Some(());
            }
        }
    }

    /// After a member or an element: a comma (`false`, the next one follows) or `close`
    /// (`true`, the container ends); `None` for anything else.
    fn comma_or(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let next = self.peek()?;
        if next != b',' && next != close {
            return None;
        }
        self.i += 1;
        if next == b',' {
            self.ws();
        }
        Some(next == close)
    }

    fn literal(&mut self, word: &str, raw: Raw<'a>) -> Option<Raw<'a>> {
        let end = self.i + word.len();
        (self.text.get(self.i..end)? == word).then(|| {
            self.i = end;
            raw
        })
    }

    /// A string at the cursor (its opening quote). Keys and most values are a few bytes long,
    /// shorter than a vector search takes to start: the bytes that need no look are skipped in
    /// one tight loop over a table.
    fn string(&mut self) -> Option<Raw<'a>> {
        self.eat(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.i;
        let mut escaped = false;
        loop {
            // Eight bytes at a time (SWAR) up to the first that needs a look; the last few
            // bytes of the text through the table.
            let mut found = false;
            while let Some(word) = bytes.get(self.i..self.i + 8) {
                let mut eight = [0u8; 8];
                eight.copy_from_slice(word);
                if let Some(at) = first_look(u64::from_le_bytes(eight)) {
                    self.i += at;
                    found = true;
                    break;
                }
                self.i += 8;
            }
            if !found {
                self.i += bytes
                    .get(self.i..)?
                    .iter()
                    .position(|b| STRING_STOP[usize::from(*b)])?;
            }
            match *bytes.get(self.i)? {
                b'"' => {
                    let contents = self.text.get(start..self.i)?;
                    self.i += 1;
                    return Some(if escaped {
                        Raw::Escaped
                    } else {
                        Raw::Str(contents)
                    });
                }
                b'\\' => match bytes.get(self.i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                        escaped = true;
                        self.i += 2;
                    }
                    // `\u` (a lone surrogate is refused only by a full read) and invalid escapes.
                    _ => return None,
                },
                // serde_json refuses control characters inside a string.
                _ => return None,
            }
        }
    }

    /// A number at the cursor, by JSON's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)?`; an
    /// exponent gives up.
    fn number(&mut self) -> Option<Raw<'a>> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            let from = self.i;
            self.digits();
            if self.i == from {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) || self.i - start > MAX_NUMBER {
            return None;
        }
        Some(Raw::Num(self.text.get(start..self.i)?))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }
}

/// A plain unsigned integer (digits only) as a `u64`, as serde_json reads one into a `u64`
/// field: `None` for anything else (a sign, a fraction, out of range).
pub(crate) fn plain_u64(text: &str) -> Option<u64> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

/// A time field's raw value as the full parse reads it (`fields::json_time`): a number through
/// serde_json's own reading, a string as text. `None` for anything else or a bad time.
pub(crate) fn time(key: &str, raw: Raw<'_>) -> Option<Timestamp> {
    match raw {
        Raw::Num(n) => fields::json_time(key, &serde_json::from_str::<Value>(n).ok()?).ok(),
        Raw::Str(s) => fields::json_time_text(key, s).ok(),
        _ => None,
    }
}

/// A transport field's raw value as the full parse reads it (`fields::transport_value`).
pub(crate) fn transport(key: &str, raw: Raw<'_>) -> Option<Transport> {
    match raw {
        Raw::Num(n) => fields::transport_value(key, &serde_json::from_str::<Value>(n).ok()?).ok(),
        Raw::Str(s) => fields::transport(key, s).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(text: &str) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        object(text, &mut |parent, k, v| {
            let k = match parent {
                Some(p) => format!("{p}.{k}"),
                None => k.to_owned(),
            };
            out.push((k, format!("{v:?}")));
            Some(())
        })?;
        Some(out)
    }

    #[test]
    fn reads_members() {
        let got =
            members(r#" {"a":"x","b":-1.25,"c":[1,{"d":[]}],"e":{"f":null},"g":true,"h":"q\"r"} "#)
                .unwrap();
        let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c", "e.f", "e", "g", "h"]);
        assert_eq!(got[0].1, r#"Str("x")"#);
        assert_eq!(got[1].1, r#"Num("-1.25")"#);
        assert_eq!(got[2].1, "Array");
        assert_eq!(got[3].1, "Null");
        assert_eq!(got[4].1, r#"Object("{\"f\":null}")"#);
        assert_eq!(got[6].1, "Escaped");
        assert_eq!(members("{}").unwrap(), []);
    }

    #[test]
    fn refuses_what_serde_json_refuses_or_is_unsure_of() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"a":1,}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":-}"#,
            r#"{"a":1e5}"#,
            r#"{"a":tru}"#,
            r#"{"a":"x\q"}"#,
            r#"{"a":"\u0041"}"#,
            "{\"a\":\"x\ty\"}",
            r#"{"a\"b":1}"#,
            r#"{"a":1} x"#,
            r#"{"a":1}{}"#,
            r#"{"a" 1}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a":{"b"}}"#,
            r#"{"a":"unterminated}"#,
        ] {
            assert_eq!(members(bad), None, "{bad}");
            assert!(
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(bad).is_err()
                    || bad.contains(['e', 'u', '\\']),
                "{bad}"
            );
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(40), "]".repeat(40));
        assert_eq!(members(&deep), None);
    }

    #[test]
    fn plain_integers() {
        assert_eq!(plain_u64("4995"), Some(4995));
        assert_eq!(plain_u64("-0"), None);
        assert_eq!(plain_u64("1.0"), None);
        assert_eq!(plain_u64("18446744073709551616"), None);
    }

    proptest::proptest! {
        /// The word test finds the byte that looking at each of the 8 in turn finds first.
        #[test]
        fn first_look_is_the_table_on_every_byte(
            bytes in proptest::array::uniform8(proptest::prop_oneof![
                3 => 0x20u8..=0xff,
                1 => proptest::prelude::any::<u8>(),
            ]),
        ) {
            let expected = bytes.iter().position(|b| STRING_STOP[usize::from(*b)]);
            proptest::prop_assert_eq!(first_look(u64::from_le_bytes(bytes)), expected);
        }
    }
}
