//! MISP attributes, exported as CSV (`uuid,event_id,category,type,value,comment,to_ids,date,...`,
//! columns found by their header) or as JSON: attribute searches (`{"response":{"Attribute":
//! [...]}}`), event searches (`{"response":[{"Event":{...}}]}`) and events as MISP exports them
//! and as MISP feeds publish them (`{"Event":{..., "Attribute":[...], "Object":[...]}}`), the
//! attributes of an event's objects included.
//!
//! Address types are read (`ip-src`, `ip-dst`, and `ip-src|port`, `ip-dst|port` whose value is
//! `ADDRESS|PORT`); other types (domains, hashes) and attributes not flagged `to_ids` (context an
//! analyst did not mean for detection) are skipped. The attribute's date or timestamp, the time it
//! was last changed, becomes `last_seen`; MISP's own `first_seen` / `last_seen` win when present.
//! An attribute without a comment of its own carries its event's title (`info`).

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use picket_model::{FeedFormat, FeedMeta, Indicator};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::json_document_error;
use crate::lines::{line_col, non_empty, parse_epoch, parse_net, parse_rfc3339};
use crate::{IntelError, Origin, ParsedFeed};

/// One attribute, whichever export it came from.
#[derive(Default)]
struct Attribute<'a> {
    kind: &'a str,
    value: &'a str,
    category: Option<&'a str>,
    comment: Option<&'a str>,
    to_ids: Option<bool>,
    /// The attribute's date (CSV `date`, `20170516`) or timestamp (JSON, Unix seconds).
    changed: Option<&'a str>,
    first_seen: Option<&'a str>,
    last_seen: Option<&'a str>,
}

const ADDRESS_TYPES: [&str; 4] = ["ip-src", "ip-dst", "ip-src|port", "ip-dst|port"];

/// The indicator of one attribute; `Ok(None)` when the attribute is skipped.
fn indicator(
    origin: Origin<'_>,
    a: &Attribute<'_>,
) -> Result<Option<Indicator>, (&'static str, String)> {
    if !ADDRESS_TYPES.contains(&a.kind) || a.to_ids == Some(false) {
        return Ok(None);
    }
    let address = if a.kind.ends_with("|port") {
        a.value.split('|').next().unwrap_or_default()
    } else {
        a.value
    };
    let mut ind = Indicator::new(parse_net(address).map_err(|r| ("value", r))?, origin.feed);
    ind.category = a.category.and_then(non_empty);
    ind.comment = a.comment.and_then(non_empty);
    let date = |field: &'static str, s: Option<&str>| {
        s.filter(|s| !s.trim().is_empty())
            .map(|s| parse_misp_date(s).map_err(|r| (field, r)))
            .transpose()
    };
    ind.first_seen = date("first_seen", a.first_seen)?;
    ind.last_seen = match date("last_seen", a.last_seen)? {
        Some(ts) => Some(ts),
        None => date("date", a.changed)?,
    };
    Ok(Some(ind))
}

/// MISP writes dates as `20170516` (CSV), Unix seconds (`timestamp`) or RFC 3339 (`first_seen`).
fn parse_misp_date(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return Date::strptime("%Y%m%d", s)
            .and_then(|d| TimeZone::UTC.to_timestamp(d.at(0, 0, 0, 0)))
            .map_err(|e| format!("{s:?}: {e}"));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return parse_epoch(s);
    }
    if let Ok(d) = s.parse::<Date>() {
        return TimeZone::UTC
            .to_timestamp(d.at(0, 0, 0, 0))
            .map_err(|e| format!("{s:?}: {e}"));
    }
    parse_rfc3339(s)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

pub(crate) fn parse_csv(origin: Origin<'_>, input: &[u8]) -> Result<ParsedFeed, IntelError> {
    let document = |line: usize, reason: String| IntelError::Document {
        file: origin.file.to_owned(),
        format: FeedFormat::MispCsv,
        line,
        column: 1,
        reason,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(input.strip_prefix(b"\xef\xbb\xbf").unwrap_or(input));
    let headers = reader
        .headers()
        .map_err(|e| document(1, format!("unreadable header: {e}")))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (Some(type_col), Some(value_col)) = (column("type"), column("value")) else {
        return Err(document(
            1,
            "the header has no `type` and `value` columns".to_owned(),
        ));
    };
    let (category, comment, to_ids, date, first_seen, last_seen) = (
        column("category"),
        column("comment"),
        column("to_ids"),
        column("date"),
        column("first_seen"),
        column("last_seen"),
    );
    let mut out = ParsedFeed::new(FeedMeta::new(origin.feed, FeedFormat::MispCsv));
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                out.errors.push(origin.error(line, "record", e.to_string()));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        let get = |col: Option<usize>| col.and_then(|c| record.get(c));
        let attr = Attribute {
            kind: get(Some(type_col)).unwrap_or_default().trim(),
            value: get(Some(value_col)).unwrap_or_default(),
            category: get(category),
            comment: get(comment),
            to_ids: get(to_ids).and_then(parse_bool),
            changed: get(date),
            first_seen: get(first_seen),
            last_seen: get(last_seen),
        };
        match indicator(origin, &attr) {
            Ok(Some(ind)) => out.indicators.push(ind),
            Ok(None) => out.skipped += 1,
            Err((field, reason)) => out.errors.push(origin.error(line, field, reason)),
        }
    }
    Ok(out)
}

/// The shapes MISP writes attributes in: an attribute search (`{"response": {"Attribute":
/// [..]}}` or `{"Attribute": [..]}`), an event search (`{"response": [{"Event": {..}}, ..]}`)
/// and an event, as exported or as a feed's event file (`{"Event": {..}}`). An event's
/// attributes are its own and those of its objects.
#[derive(Deserialize)]
struct Document<'a> {
    #[serde(borrow)]
    response: Option<&'a RawValue>,
    #[serde(borrow, rename = "Attribute")]
    attribute: Option<Vec<&'a RawValue>>,
    #[serde(borrow, rename = "Event")]
    event: Option<Event<'a>>,
}

#[derive(Deserialize)]
struct AttributeSearch<'a> {
    #[serde(borrow, rename = "Attribute", default)]
    attribute: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct EventEntry<'a> {
    #[serde(borrow, rename = "Event")]
    event: Event<'a>,
}

#[derive(Deserialize)]
struct Event<'a> {
    /// The event's title, the comment of attributes that have none.
    info: Option<String>,
    #[serde(borrow, rename = "Attribute", default)]
    attribute: Vec<&'a RawValue>,
    #[serde(borrow, rename = "Object", default)]
    object: Vec<MispObject<'a>>,
}

#[derive(Deserialize)]
struct MispObject<'a> {
    #[serde(borrow, rename = "Attribute", default)]
    attribute: Vec<&'a RawValue>,
}

/// An attribute still as text, with the title of the event it belongs to.
struct Found<'a> {
    raw: &'a RawValue,
    event_info: Option<&'a str>,
}

fn event_attributes<'a>(event: &'a Event<'a>, out: &mut Vec<Found<'a>>) {
    let event_info = event.info.as_deref().filter(|i| !i.trim().is_empty());
    let own = event.attribute.iter();
    let in_objects = event.object.iter().flat_map(|o| o.attribute.iter());
    out.extend(own.chain(in_objects).map(|raw| Found { raw, event_info }));
}

pub(crate) fn parse_json(origin: Origin<'_>, input: &[u8]) -> Result<ParsedFeed, IntelError> {
    let document = |line: usize, column: usize, reason: String| IntelError::Document {
        file: origin.file.to_owned(),
        format: FeedFormat::MispJson,
        line,
        column,
        reason,
    };
    let text = std::str::from_utf8(input).map_err(|e| {
        let (line, column) = line_col(input, e.valid_up_to());
        document(line, column, "not UTF-8 text".to_owned())
    })?;
    let doc: Document<'_> = serde_json::from_str(text)
        .map_err(|e| json_document_error(origin, FeedFormat::MispJson, &e))?;
    let located = |e: serde_json::Error, within: &RawValue| {
        let (line, column) = line_col(input, offset_in(text, within.get()));
        document(line + e.line() - 1, column, e.to_string())
    };
    let mut events = Vec::new();
    let mut attributes = Vec::new();
    if let Some(response) = doc.response {
        if response.get().trim_start().starts_with('[') {
            events = serde_json::from_str::<Vec<EventEntry<'_>>>(response.get())
                .map_err(|e| located(e, response))?
                .into_iter()
                .map(|entry| entry.event)
                .collect();
        } else {
            let search: AttributeSearch<'_> =
                serde_json::from_str(response.get()).map_err(|e| located(e, response))?;
            attributes = search.attribute;
        }
    } else if let Some(list) = doc.attribute {
        attributes = list;
    } else if let Some(event) = doc.event {
        events.push(event);
    } else {
        return Err(document(
            1,
            1,
            "no `Event`, `response` or `Attribute`: not a MISP event or attribute export (a \
             feed's manifest.json lists events; load the event files it names)"
                .to_owned(),
        ));
    }
    let mut found: Vec<Found<'_>> = attributes
        .into_iter()
        .map(|raw| Found {
            raw,
            event_info: None,
        })
        .collect();
    for event in &events {
        event_attributes(event, &mut found);
    }
    let mut out = ParsedFeed::new(FeedMeta::new(origin.feed, FeedFormat::MispJson));
    for Found { raw, event_info } in found {
        let (line, _) = line_col(input, offset_in(text, raw.get()));
        let Ok(object) = serde_json::from_str::<Map<String, Value>>(raw.get()) else {
            out.errors
                .push(origin.error(line, "Attribute", "not a JSON object"));
            continue;
        };
        let text = |key: &str| object.get(key).and_then(Value::as_str);
        let to_ids = match object.get("to_ids") {
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::Number(n)) => n.as_u64().map(|n| n != 0),
            Some(Value::String(s)) => parse_bool(s),
            _ => None,
        };
        let timestamp = object.get("timestamp").map(|t| match t {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let attr = Attribute {
            kind: text("type").unwrap_or_default(),
            value: text("value").unwrap_or_default(),
            category: text("category"),
            comment: text("comment")
                .filter(|c| !c.trim().is_empty())
                .or(event_info),
            to_ids,
            changed: timestamp.as_deref(),
            first_seen: text("first_seen"),
            last_seen: text("last_seen"),
        };
        match indicator(origin, &attr) {
            Ok(Some(ind)) => out.indicators.push(ind),
            Ok(None) => out.skipped += 1,
            Err((field, reason)) => out.errors.push(origin.error(line, field, reason)),
        }
    }
    Ok(out)
}

/// Where `part`, a slice of `whole`, starts in it.
fn offset_in(whole: &str, part: &str) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin<'static> {
        Origin {
            feed: "misp",
            file: "misp.csv",
        }
    }

    #[test]
    fn csv_export() {
        let input = b"uuid,event_id,category,type,value,comment,to_ids,date,object_relation,attribute_tag,object_uuid,object_name,object_meta-category\n\
5a1d,12,Network activity,ip-dst,198.51.100.7,\"C2, seen in \"\"phase 2\"\"\",1,20170516,,,,,\n\
5a1e,12,Network activity,ip-src|port,2001:db8::5|443,,1,20170517,,,,,\n\
5a1f,12,Network activity,domain,evil.example,,1,20170516,,,,,\n\
5a20,12,Network activity,ip-dst,203.0.113.9,context only,0,20170516,,,,,\n\
5a21,12,Network activity,ip-dst,203.0.113.300,,1,20170516,,,,,\n";
        let out = parse_csv(origin(), input).unwrap();
        assert_eq!(out.indicators.len(), 2);
        let first = &out.indicators[0];
        assert_eq!(first.network.to_string(), "198.51.100.7/32");
        assert_eq!(first.comment.as_deref(), Some("C2, seen in \"phase 2\""));
        assert_eq!(first.category.as_deref(), Some("Network activity"));
        assert_eq!(first.last_seen.unwrap().to_string(), "2017-05-16T00:00:00Z");
        assert_eq!(out.indicators[1].network.to_string(), "2001:db8::5/128");
        assert_eq!(out.skipped, 2);
        assert_eq!(out.errors.len(), 1);
        assert_eq!(
            (out.errors[0].line, out.errors[0].field.as_str()),
            (6, "value")
        );
    }

    #[test]
    fn csv_without_value_column_is_refused() {
        assert!(matches!(
            parse_csv(origin(), b"uuid,kind\n1,2\n"),
            Err(IntelError::Document { .. })
        ));
    }

    #[test]
    fn json_export() {
        let input = br#"{"response": {"Attribute": [
  {"id": "1", "type": "ip-src", "category": "Network activity", "to_ids": true,
   "value": "192.0.2.44", "timestamp": "1617875568", "comment": "",
   "first_seen": "2021-04-01T00:00:00.000000+00:00", "last_seen": null},
  {"id": "2", "type": "ip-dst|port", "to_ids": true, "value": "198.51.100.3|8080"},
  {"id": "3", "type": "md5", "to_ids": true, "value": "d41d8cd98f00b204e9800998ecf8427e"},
  {"id": "4", "type": "ip-dst", "to_ids": true, "value": "nope"},
  7
]}}"#;
        let out = parse_json(origin(), input).unwrap();
        assert_eq!(out.indicators.len(), 2);
        let first = &out.indicators[0];
        assert_eq!(
            first.first_seen.unwrap().to_string(),
            "2021-04-01T00:00:00Z"
        );
        assert_eq!(first.last_seen.unwrap().to_string(), "2021-04-08T09:52:48Z");
        assert_eq!(first.comment, None);
        assert_eq!(out.indicators[1].network.to_string(), "198.51.100.3/32");
        assert_eq!(out.skipped, 1);
        let errs: Vec<(usize, &str)> = out
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_str()))
            .collect();
        assert_eq!(errs, [(7, "value"), (8, "Attribute")]);
    }

    #[test]
    fn event_with_an_ip_port_object() {
        let input = br#"{"Event": {"info": "C2 of campaign X", "Attribute": [
  {"type": "ip-src", "to_ids": true, "value": "192.0.2.7", "comment": "scanner"}],
 "Object": [{"name": "ip-port", "meta-category": "network", "Attribute": [
  {"object_relation": "ip-dst", "type": "ip-dst", "to_ids": true, "value": "198.51.100.9"},
  {"object_relation": "dst-port", "type": "port", "to_ids": false, "value": "443"},
  {"object_relation": "ip-dst", "type": "ip-dst", "to_ids": false, "value": "203.0.113.5"},
  {"object_relation": "ip-dst", "type": "ip-dst", "to_ids": true, "value": "198.51.100.300"}
 ]}]}}"#;
        let out = parse_json(origin(), input).unwrap();
        let nets: Vec<String> = out
            .indicators
            .iter()
            .map(|i| i.network.to_string())
            .collect();
        assert_eq!(nets, ["192.0.2.7/32", "198.51.100.9/32"]);
        assert_eq!(out.indicators[0].comment.as_deref(), Some("scanner"));
        assert_eq!(
            out.indicators[1].comment.as_deref(),
            Some("C2 of campaign X")
        );
        assert_eq!(
            out.skipped, 2,
            "the port, and the address not for detection"
        );
        let errs: Vec<(usize, &str)> = out
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_str()))
            .collect();
        assert_eq!(errs, [(7, "value")]);
    }

    #[test]
    fn event_search_errors_are_located_and_a_manifest_is_refused() {
        match parse_json(origin(), b"{\"response\": [\n  {\"Event\": 5}]}") {
            Err(IntelError::Document { line, reason, .. }) => {
                assert_eq!(line, 2, "{reason}");
                assert!(reason.contains("expected struct Event"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let manifest = br#"{"5a1d5d9b-0f1c-4a0c-9e4b-2a0a4c0e0a01": {"info": "OSINT", "Orgc": {"name": "CIRCL"}, "timestamp": "1511873115"}}"#;
        match parse_json(origin(), manifest) {
            Err(IntelError::Document { reason, .. }) => {
                assert!(reason.contains("manifest.json"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_json_names_where_it_broke() {
        match parse_json(origin(), b"{\"response\": {\"Attribute\": [\n{,") {
            Err(IntelError::Document { line, .. }) => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
    }
}
