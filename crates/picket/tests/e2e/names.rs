//! Reverse DNS names (`picket scan -R`) in the binary's reports, looked up only for loopback,
//! whose name /etc/hosts gives (no DNS server is asked).

use crate::support::{Db, assert_valid_nmap_xml, json, picket};

/// The name the system resolver gives 127.0.0.1: the first one /etc/hosts lists for it.
fn hosts_file_name() -> String {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    hosts
        .lines()
        .filter_map(|l| {
            let mut fields = l.split('#').next()?.split_whitespace();
            (fields.next()? == "127.0.0.1").then(|| fields.next())?
        })
        .next()
        .expect("127.0.0.1 in /etc/hosts")
        .to_owned()
}

#[test]
fn r_writes_the_ptr_name_in_nmap_xml_and_json_and_nothing_without_it() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let db = Db::new();
    let scan = |more: &[&str]| {
        let mut args = vec!["--db", db.arg(), "scan", "127.0.0.1", "-p", &port];
        args.extend(more);
        let out = picket(&args);
        assert!(out.status.success());
        out
    };
    let name = hosts_file_name();

    let xml = String::from_utf8(scan(&["-R", "-f", "xml"]).stdout).unwrap();
    let element = format!("<hostname name=\"{name}\" type=\"PTR\"/>");
    assert!(xml.contains(&element), "{element} not in {xml}");
    assert_valid_nmap_xml(&xml);

    let doc = json(&scan(&["--resolve", "-f", "json"]));
    assert_eq!(doc["hosts"][0]["reverse_name"], name.as_str());

    let xml = String::from_utf8(scan(&["-n", "-f", "xml"]).stdout).unwrap();
    assert!(xml.contains("<hostnames/>"), "{xml}");
    let doc = json(&scan(&["-f", "json"]));
    assert!(doc["hosts"][0].get("reverse_name").is_none(), "{doc}");
}
