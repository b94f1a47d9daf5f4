//! Picket's OCSF Detection Findings checked against the published OCSF 1.3.0 schema, as PyPI's
//! `pydantic-ocsf` ships it (`ocsf/schemas/v1_3_0.json`: the schema's export, classes and
//! objects with their own attributes, `extends` chains and the attribute dictionary).
//!
//! The export leaves `$include`s unresolved (`includes/classification.json` brings `class_uid`,
//! `activity_id` ...; `includes/occurrence.json` brings `time`); their files, and the profiles',
//! are in `tests/fixtures/ocsf-1.3.0` from the schema's own repository. Profiles count only for
//! events that apply them in `metadata.profiles`, and Picket's apply none.
//!
//! The checker resolves each class and object through its `extends` chain, its includes and
//! each attribute through the dictionary (the class's or object's own definition wins; enums
//! add up, as the schema server merges them), then requires: every attribute written is one the
//! schema defines there, every required one is written, each value has its type (objects
//! recursively, arrays where the dictionary says `is_array`), enum attributes hold a defined
//! value, and `class_uid`, `category_uid` and `type_uid` are the numbers the schema derives
//! (category * 1000 + class; class * 100 + activity). An observable's `type_id` may be any
//! `observable` number the dictionary assigns, as in the schema server's compiled enum.
//!
//! The schema is found through `PICKET_OCSF_SCHEMA` (a path to `v1_3_0.json`) or the installed
//! `ocsf` Python package (`pip install pydantic-ocsf`); without either the test says it was
//! skipped and passes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use picket_report::{OcsfActivity, ocsf_finding};
use serde_json::{Map, Value};

use crate::alerts::{httpd_alert, openssh_alert};

fn schema_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PICKET_OCSF_SCHEMA") {
        return Some(PathBuf::from(path));
    }
    // find_spec locates the package without importing it (and so without pydantic).
    let out = Command::new("python3")
        .args([
            "-c",
            "import importlib.util as u; s = u.find_spec('ocsf'); \
             print(s.submodule_search_locations[0] if s else '')",
        ])
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let path = PathBuf::from(dir.trim()).join("schemas/v1_3_0.json");
    path.exists().then_some(path)
}

/// Attributes computed from the class rather than listed in an enum.
const DERIVED: [&str; 3] = ["class_uid", "category_uid", "type_uid"];

struct Schema {
    root: Value,
    /// Every `observable` type number the dictionary and objects assign.
    observable_types: BTreeSet<String>,
}

/// Merges `over` into `base`: keys of `over` win, except that enums add up.
fn merge(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(Value::Object(old)), Value::Object(new)) if key == "enum" => {
                old.extend(new.clone());
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

fn collect_observables(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            if let Some(n) = map.get("observable").and_then(Value::as_u64) {
                out.insert(n.to_string());
            }
            map.values().for_each(|v| collect_observables(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_observables(v, out)),
        _ => {}
    }
}

impl Schema {
    fn load(path: &Path) -> Self {
        let root: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(root["version"], "1.3.0", "{}", path.display());
        let mut observable_types = BTreeSet::new();
        collect_observables(&root["dictionary"], &mut observable_types);
        collect_observables(&root["objects"], &mut observable_types);
        Self {
            root,
            observable_types,
        }
    }

    /// The attributes of an include or profile file, from the fixtures.
    fn included(name: &str) -> Map<String, Value> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/ocsf-1.3.0")
            .join(name);
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file: Value = serde_json::from_slice(&text).unwrap();
        file["attributes"].as_object().cloned().unwrap_or_default()
    }

    /// A class's or object's attributes, its ancestors' first, each level overriding.
    fn attributes(&self, section: &str, name: &str) -> Map<String, Value> {
        let Some(entry) = self.root[section].get(name) else {
            return Map::new();
        };
        let mut attrs = match entry["extends"].as_str() {
            Some(parent) => self.attributes(section, parent),
            None => Map::new(),
        };
        let own = entry["attributes"].as_object().cloned().unwrap_or_default();
        let includes: Vec<String> = match &own.get("$include") {
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) => many
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        // A profile's attributes are there only for events that apply it (`metadata.profiles`);
        // Picket applies none.
        let layers = includes
            .iter()
            .filter(|name| name.starts_with("includes/"))
            .map(|name| Self::included(name));
        for layer in layers.chain([own]) {
            for (key, def) in layer {
                if key == "$include" {
                    continue;
                }
                match (attrs.get_mut(&key), def) {
                    (Some(Value::Object(base)), Value::Object(over)) => merge(base, &over),
                    (_, def) => {
                        attrs.insert(key, def);
                    }
                }
            }
        }
        attrs
    }

    /// An attribute's full definition: the dictionary's, with the owner's own on top.
    fn definition(&self, owner: &Map<String, Value>, key: &str) -> Option<Map<String, Value>> {
        let mut def = self.root["dictionary"]["attributes"]
            .get(key)?
            .as_object()?
            .clone();
        if let Some(Value::Object(over)) = owner.get(key) {
            merge(&mut def, over);
        }
        if DERIVED.contains(&key) {
            def.remove("enum");
        }
        Some(def)
    }

    /// A type name down to its base type (`port_t` to `integer_t`); object names stay as they
    /// are.
    fn base_type<'a>(&'a self, mut name: &'a str) -> &'a str {
        let types = &self.root["dictionary"]["types"]["attributes"];
        while let Some(parent) = types[name]["type"].as_str() {
            name = parent;
        }
        name
    }

    fn check_object(
        &self,
        path: &str,
        value: &Value,
        attrs: &Map<String, Value>,
        errors: &mut Vec<String>,
    ) {
        let Some(map) = value.as_object() else {
            errors.push(format!("{path}: not an object"));
            return;
        };
        for (key, def) in attrs {
            if def["requirement"] == "required" && !map.contains_key(key) {
                errors.push(format!("{path}.{key}: required, missing"));
            }
        }
        for (key, v) in map {
            let here = format!("{path}.{key}");
            if !attrs.contains_key(key) {
                errors.push(format!("{here}: not an attribute here in OCSF 1.3.0"));
                continue;
            }
            match self.definition(attrs, key) {
                Some(mut def) => {
                    if key == "type_id" && attrs.contains_key("value") && attrs.contains_key("name")
                    {
                        // An observable: its type ids are the dictionary's observable numbers.
                        if let Some(Value::Object(values)) = def.get_mut("enum") {
                            for n in &self.observable_types {
                                values.insert(n.clone(), Value::Null);
                            }
                        }
                    }
                    self.check_value(&here, v, &def, errors)
                }
                None => errors.push(format!("{here}: not in the attribute dictionary")),
            }
        }
    }

    /// `class_uid`, `category_uid` and `type_uid` as the schema derives them for `class`.
    fn check_uids(&self, class: &str, finding: &Value, errors: &mut Vec<String>) {
        let entry = &self.root["events"][class];
        let category = entry["category"].as_str().unwrap_or_default();
        let category_uid = self.root["categories_meta"]["attributes"][category]["uid"]
            .as_u64()
            .unwrap_or_default();
        let class_uid = category_uid * 1000 + entry["uid"].as_u64().unwrap_or_default();
        let activity = finding["activity_id"].as_u64().unwrap_or_default();
        for (key, want) in [
            ("category_uid", category_uid),
            ("class_uid", class_uid),
            ("type_uid", class_uid * 100 + activity),
        ] {
            if finding[key].as_u64() != Some(want) {
                errors.push(format!("finding.{key}: {} is not {want}", finding[key]));
            }
        }
    }

    fn check_value(
        &self,
        path: &str,
        v: &Value,
        def: &Map<String, Value>,
        errors: &mut Vec<String>,
    ) {
        if def.get("is_array") == Some(&Value::Bool(true)) {
            let Some(items) = v.as_array() else {
                errors.push(format!("{path}: not an array"));
                return;
            };
            let mut one = def.clone();
            one.remove("is_array");
            for (i, item) in items.iter().enumerate() {
                self.check_value(&format!("{path}[{i}]"), item, &one, errors);
            }
            return;
        }
        if let Some(Value::Object(values)) = def.get("enum") {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if !values.contains_key(&text) {
                errors.push(format!("{path}: {text} is not one of the enum's values"));
            }
        }
        let kind = def.get("type").and_then(Value::as_str).unwrap_or("");
        let ok = match self.base_type(kind) {
            "string_t" => v.is_string(),
            "integer_t" | "long_t" => v.is_i64() || v.is_u64(),
            "float_t" => v.is_number(),
            "boolean_t" => v.is_boolean(),
            "json_t" => true,
            "object_t" => v.is_object(),
            object => {
                let attrs = self.attributes("objects", object);
                if attrs.is_empty() {
                    errors.push(format!("{path}: unknown type {object:?}"));
                } else {
                    self.check_object(path, v, &attrs, errors);
                }
                true
            }
        };
        if !ok {
            errors.push(format!("{path}: {v} is not a {kind}"));
        }
    }
}

#[test]
fn detection_findings_are_valid_ocsf_1_3_0() {
    let Some(path) = schema_path() else {
        println!(
            "skipped: no OCSF 1.3.0 schema (pip install pydantic-ocsf, or PICKET_OCSF_SCHEMA)"
        );
        return;
    };
    let schema = Schema::load(&path);
    let class = schema.attributes("events", "detection_finding");
    assert!(class.contains_key("finding_info"), "extends chain resolved");
    for alert in [openssh_alert(), httpd_alert()] {
        for activity in [OcsfActivity::Create, OcsfActivity::Update] {
            let finding = ocsf_finding(&alert, activity);
            let mut errors = Vec::new();
            schema.check_object("finding", &finding, &class, &mut errors);
            schema.check_uids("detection_finding", &finding, &mut errors);
            assert!(errors.is_empty(), "{}", errors.join("\n"));
            let recommended: Vec<&String> = class
                .iter()
                .filter(|(key, def)| {
                    def["requirement"] == "recommended" && finding.get(key.as_str()).is_none()
                })
                .map(|(key, _)| key)
                .collect();
            // Picket knows no device beyond the address (in `resources`); `status_code` and
            // `status_detail` carry a logged activity's outcome as its source wrote it, and a
            // finding made by Picket has no source status.
            assert_eq!(
                recommended,
                ["device", "status_code", "status_detail"],
                "recommended and left out"
            );
        }
    }
}

#[test]
fn the_checker_finds_what_ocsf_1_3_0_lacks() {
    let Some(path) = schema_path() else {
        println!("skipped: no OCSF 1.3.0 schema");
        return;
    };
    let schema = Schema::load(&path);
    let class = schema.attributes("events", "detection_finding");
    let mut finding = ocsf_finding(&openssh_alert(), OcsfActivity::Create);
    // `is_alert` came with OCSF 1.4.0; a status outside the enum; a port as text; a class
    // number of another class.
    finding["is_alert"] = Value::Bool(true);
    finding["class_uid"] = 2001.into();
    finding["status_id"] = 7.into();
    finding["evidences"][0]["dst_endpoint"]["port"] = "22".into();
    finding["finding_info"]
        .as_object_mut()
        .unwrap()
        .remove("uid");
    let mut errors = Vec::new();
    schema.check_object("finding", &finding, &class, &mut errors);
    schema.check_uids("detection_finding", &finding, &mut errors);
    errors.sort();
    assert_eq!(
        errors,
        [
            "finding.class_uid: 2001 is not 2004",
            "finding.evidences[0].dst_endpoint.port: \"22\" is not a port_t",
            "finding.finding_info.uid: required, missing",
            "finding.is_alert: not an attribute here in OCSF 1.3.0",
            "finding.status_id: 7 is not one of the enum's values",
        ]
    );
}
