//! Files written by other projects (see `tests/fixtures/README.md`), read end to end.

use std::path::Path;

use crate::support::{Db, fixture, json, picket};

/// (host:port, package, vulnerability ids) of every inventory entry.
fn inventory(db: &Db) -> Vec<(String, String, Vec<String>)> {
    let listed = json(&picket(&[
        "--db",
        db.arg(),
        "inventory",
        "--format",
        "json",
    ]));
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let mut ids: Vec<String> = e["vulnerabilities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["vuln_id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            (
                format!("{}:{}", e["host"].as_str().unwrap(), e["port"]),
                e["application"]["product"]
                    .as_str()
                    .unwrap_or("-")
                    .to_owned(),
                ids,
            )
        })
        .collect()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `picket vuln import FILE --at 10.0.0.5:443`, what it printed.
fn import_at_web_server(db: &Db, file: &str) -> String {
    stdout(&picket(&[
        "--db",
        db.arg(),
        "vuln",
        "import",
        file,
        "--at",
        "10.0.0.5:443",
    ]))
}

/// An inventory entry at 10.0.0.5:443.
fn at_web_server(product: &str, ids: &[&str]) -> (String, String, Vec<String>) {
    (
        "10.0.0.5:443".to_owned(),
        product.to_owned(),
        ids.iter().map(|id| (*id).to_owned()).collect(),
    )
}

#[test]
fn every_package_of_a_scanner_report_is_its_own_application() {
    let db = Db::new();
    let trivy = fixture("trivy-alpine-310.json");
    let said = import_at_web_server(&db, &trivy);
    assert!(said.contains("2 application(s) added"), "{said}");
    let both = ["CVE-2019-1549", "CVE-2019-1551"];
    let mut expected = vec![
        at_web_server("libcrypto1.1", &both),
        at_web_server("libssl1.1", &both),
    ];
    assert_eq!(inventory(&db), expected);

    // A second report at the same port adds its own packages; importing the first again
    // replaces its packages instead of doubling them.
    import_at_web_server(&db, &fixture("cyclonedx-trivy-pom.json"));
    import_at_web_server(&db, &trivy);
    expected.insert(
        0,
        at_web_server("jackson-databind", &["CVE-2020-9548", "CVE-2021-20190"]),
    );
    assert_eq!(inventory(&db), expected);

    // Removing a report's source removes all of its packages.
    stdout(&picket(&[
        "--db",
        db.arg(),
        "inventory",
        "remove",
        "10.0.0.5:443",
        "--source",
        &format!("report:{trivy}"),
    ]));
    let left: Vec<String> = inventory(&db).into_iter().map(|(_, p, _)| p).collect();
    assert_eq!(left, ["jackson-databind"]);
}

#[test]
fn detect_says_which_record_types_it_skipped() {
    let db = Db::new();
    let eve = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../picket-detect/tests/fixtures/threat/suricata_docs_one_flow.json");
    let out = picket(&["--db", db.arg(), "detect", eve.to_str().unwrap()]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(
            "2 events from 5 lines, 0 bad lines skipped; \
             records of other types skipped: 1 anomaly, 1 fileinfo, 1 http"
        ),
        "{said}"
    );
}

#[test]
fn pretty_printed_json_is_refused_once_with_a_failing_exit() {
    let db = Db::new();
    let dir = tempfile::tempdir().unwrap();
    let pretty = dir.path().join("eve-pretty.json");
    // `jq .` of a one-line EVE record.
    std::fs::write(
        &pretty,
        "{\n  \"timestamp\": \"2023-09-18T06:14:02.104517+0000\",\n  \"event_type\": \"flow\"\n}\n",
    )
    .unwrap();
    let out = picket(&["--db", db.arg(), "detect", pretty.to_str().unwrap()]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        said.matches("JSON spread over many lines").count(),
        1,
        "{said}"
    );
    assert!(said.contains("jq -c ."), "{said}");
}
