//! Streaming JSON: walk the records of a big `{"key": [record, ...]}` document one at a time,
//! so an NVD year feed (hundreds of MB) never sits in memory as one tree.

use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::VulnError;

/// What an importer read: the records that parsed, and the ones it skipped with the reason.
#[derive(Debug)]
pub struct Import<T> {
    pub records: Vec<T>,
    /// Records that were well-formed JSON but not valid records; the import went on without them.
    pub skipped: Vec<VulnError>,
}

impl<T> Default for Import<T> {
    fn default() -> Self {
        Import {
            records: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

impl<T> Import<T> {
    pub(crate) fn push(&mut self, result: Result<T, VulnError>) {
        match result {
            Ok(record) => self.records.push(record),
            Err(e) => self.skipped.push(e),
        }
    }
}

/// Deserializes a JSON value into `T`, naming the JSON path of the first bad field.
pub(crate) fn from_value<T: DeserializeOwned>(
    file: &str,
    prefix: &str,
    value: Value,
) -> Result<T, VulnError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (prefix.is_empty(), inner.as_str()) {
            (true, _) => inner,
            (false, ".") => prefix.to_owned(),
            (false, _) => format!("{prefix}.{inner}"),
        };
        VulnError::field(file, path, e.into_inner().to_string())
    })
}

/// Reads a top-level JSON object. Each element of the array under `key` is handed to
/// `on_item(index, value)` as soon as it is parsed; every other top-level member is returned.
/// Syntax errors (and a top level that is not an object) abort with the line and column.
pub(crate) fn stream_array<R: Read>(
    reader: R,
    file: &str,
    key: &str,
    on_item: &mut dyn FnMut(usize, Value),
) -> Result<Map<String, Value>, VulnError> {
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader));
    let mut rest = Map::new();
    let seed = TopLevel {
        key,
        on_item,
        rest: &mut rest,
    };
    seed.deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| {
            if e.is_io() {
                VulnError::Io {
                    file: file.to_owned(),
                    source: e.into(),
                }
            } else {
                VulnError::json(file, &e)
            }
        })?;
    Ok(rest)
}

struct TopLevel<'a> {
    key: &'a str,
    on_item: &'a mut dyn FnMut(usize, Value),
    rest: &'a mut Map<String, Value>,
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(k) = map.next_key::<String>()? {
            if k == self.key {
                map.next_value_seed(Items {
                    on_item: &mut *self.on_item,
                })?;
            } else {
                let v: Value = map.next_value()?;
                self.rest.insert(k, v);
            }
        }
        Ok(())
    }
}

struct Items<'a> {
    on_item: &'a mut dyn FnMut(usize, Value),
}

impl<'de> DeserializeSeed<'de> for Items<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(v) = seq.next_element::<Value>()? {
            (self.on_item)(index, v);
            index += 1;
        }
        Ok(())
    }
}

/// Parses a whole (small) JSON document into `T` with path-named errors.
pub(crate) fn parse_document<T: DeserializeOwned, R: Read>(
    reader: R,
    file: &str,
) -> Result<T, VulnError> {
    let value: Value = serde_json::from_reader(std::io::BufReader::new(reader)).map_err(|e| {
        if e.is_io() {
            VulnError::io(file, e.into())
        } else {
            VulnError::json(file, &e)
        }
    })?;
    from_value(file, "", value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_items_and_keeps_the_rest() {
        let doc = br#"{"format":"NVD_CVE","items":[{"a":1},{"a":2}],"total":2}"#;
        let mut seen = Vec::new();
        let rest =
            stream_array(&doc[..], "t.json", "items", &mut |i, v| seen.push((i, v))).unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].1["a"], 2);
        assert_eq!(rest["total"], 2);
        assert!(!rest.contains_key("items"));
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let doc = b"{\"items\": [\n{\"a\": 1},\n{\"a\": }]}";
        let err = stream_array(&doc[..], "feed.json", "items", &mut |_, _| {}).unwrap_err();
        match err {
            VulnError::Json { file, line, .. } => {
                assert_eq!(file, "feed.json");
                assert_eq!(line, 3);
            }
            other => panic!("{other:?}"),
        }
        let err = stream_array(&b"[1,2]"[..], "x", "items", &mut |_, _| {}).unwrap_err();
        assert!(err.to_string().contains("a JSON object"), "{err}");
    }

    #[test]
    fn field_errors_name_the_path() {
        type R = std::collections::BTreeMap<String, Vec<std::collections::BTreeMap<String, u32>>>;
        let v: Value = serde_json::json!({"inner": [{"n": 1}, {"n": "x"}]});
        let err = from_value::<R>("f.json", "items[4]", v).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.json: at items[4].inner[1].n: invalid type: string \"x\", expected u32"
        );
    }
}
