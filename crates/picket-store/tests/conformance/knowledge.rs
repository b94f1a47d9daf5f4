//! Vulnerability knowledge by lookup key, on both backends: an import replaces its sources and
//! writes its applications in one transaction, a lookup reads only the rows of its keys and
//! matches as the whole database does, and raw records of older databases are adopted once.

use picket_model::{KnowledgeKey, KnowledgeKind, KnowledgeSource};
use picket_vuln::knowledge::{Source, application_keys, load};

use super::*;

conformance!(
    knowledge_is_read_by_key_and_replaced_by_source,
    a_failed_knowledge_import_keeps_what_was_stored,
    raw_records_are_adopted_once_without_overwriting_newer_imports,
);

fn sources() -> Vec<Source> {
    let mut sources: Vec<Source> = nvd_records().into_iter().map(Source::nvd).collect();
    sources.extend(osv_records().into_iter().map(Source::osv));
    sources
}

fn stored(sources: &[Source]) -> Vec<KnowledgeSource> {
    sources.iter().map(|s| s.to_stored().unwrap()).collect()
}

fn loaded(store: &Store, apps: &[Application]) -> VulnDb {
    load(apps, |keys| {
        store
            .vuln_knowledge(keys)
            .map_err(|e| picket_vuln::VulnError::Io {
                file: "store".into(),
                source: std::io::Error::other(e),
            })
    })
    .unwrap()
}

fn debian(version: &str) -> Application {
    openssh("9.2p1").with_package("Debian:12", Package::new("openssh", version))
}

fn knowledge_is_read_by_key_and_replaced_by_source(db: &mut TestDb) {
    let mut whole = VulnDb::new();
    nvd_records().into_iter().for_each(|c| whole.add_nvd(c));
    osv_records().into_iter().for_each(|r| whole.add_osv(r));
    let apps = [
        openssh("9.2p1"),
        openssh("9.8p1"),
        debian("1:9.2p1-2+deb12u2"),
        debian("1:9.2p1-2+deb12u3"),
        Application::new("http_server")
            .with_vendor("apache")
            .with_version("2.4.49"),
    ];
    let report = SourceApplications {
        host: ip("192.0.2.10"),
        port: 22,
        applications: vec![debian("1:9.2p1-2+deb12u2")],
        source: "report:trivy.json".into(),
        updated_at: ts(T0),
    };
    {
        let store = db.open();
        store
            .replace_vuln_knowledge(&stored(&sources()), std::slice::from_ref(&report))
            .unwrap();
    }
    // A new process: only the rows of the keys asked are read.
    let store = db.open();
    assert_eq!(
        store.inventory().unwrap()[0].application,
        report.applications[0]
    );
    for app in &apps {
        let db = loaded(&store, std::slice::from_ref(app));
        assert_eq!(db.matches(app), whole.matches(app), "{app}");
    }
    let product = application_keys(&openssh("9.2p1"));
    let rows = store.vuln_knowledge(&product).unwrap();
    assert_eq!(rows.len(), 1, "one CVE names openssh: {rows:?}");
    assert_eq!(rows[0].key, product[0]);
    assert_eq!(rows[0].body, "\"CVE-2024-6387\"");
    let missing = KnowledgeKey::new(KnowledgeKind::Product, "no_such_product");
    assert!(store.vuln_knowledge(&[missing]).unwrap().is_empty());

    let counted: Vec<(String, String, u64)> = store
        .vuln_sources(None)
        .unwrap()
        .into_iter()
        .map(|s| (s.kind, s.id, s.rows))
        .collect();
    let want: Vec<(String, String, u64)> = stored(&sources())
        .into_iter()
        .map(|s| (s.kind, s.id, s.rows.len() as u64))
        .collect();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(counted, want_sorted);
    assert_eq!(store.vuln_sources(Some("osv")).unwrap().len(), 1);
    assert!(store.vuln_sources(Some("kev")).unwrap().is_empty());

    // Importing a source again replaces its rows: without configurations, the CVE no longer
    // names openssh, and the other sources keep theirs.
    let mut cve = nvd_records().remove(0);
    assert_eq!(cve.vulnerability.id, "CVE-2024-6387");
    cve.configurations.clear();
    // The same source twice in one import: the last is kept.
    let older = Source::nvd(nvd_records().remove(0)).to_stored().unwrap();
    let newer = Source::nvd(cve).to_stored().unwrap();
    store.replace_vuln_knowledge(&[older, newer], &[]).unwrap();
    assert!(store.vuln_knowledge(&product).unwrap().is_empty());
    let db = loaded(&store, &apps);
    assert!(db.matches(&openssh("9.2p1")).is_empty());
    assert_eq!(db.matches(&apps[4]), whole.matches(&apps[4]));
    assert_eq!(store.vuln_sources(None).unwrap().len(), want.len());
}

fn a_failed_knowledge_import_keeps_what_was_stored(db: &mut TestDb) {
    let store = db.open();
    store
        .replace_vuln_knowledge(&stored(&sources()), &[])
        .unwrap();
    let before = store.vuln_sources(None).unwrap();
    db.refuse("inventory", "NEW.source = 'report:trivy.json'");
    let report = SourceApplications {
        host: ip("192.0.2.10"),
        port: 22,
        applications: vec![debian("1:9.2p1-2+deb12u2")],
        source: "report:trivy.json".into(),
        updated_at: ts(T0),
    };
    let mut cve = nvd_records().remove(0);
    cve.configurations.clear();
    let changed = Source::nvd(cve).to_stored().unwrap();
    assert!(
        store
            .replace_vuln_knowledge(&[changed], std::slice::from_ref(&report))
            .is_err()
    );
    assert_eq!(store.vuln_sources(None).unwrap(), before);
    assert_eq!(
        store
            .vuln_knowledge(&application_keys(&openssh("9.2p1")))
            .unwrap()
            .len(),
        1,
        "the old rows stay"
    );
    assert!(store.inventory().unwrap().is_empty());
    db.allow("inventory");
}

fn raw_records_are_adopted_once_without_overwriting_newer_imports(db: &mut TestDb) {
    let nvd = nvd_records();
    let store = db.open();
    let records: Vec<VulnRecord> = nvd
        .iter()
        .map(|c| VulnRecord {
            kind: "nvd".into(),
            id: c.vulnerability.id.clone(),
            body: serde_json::to_value(c).unwrap(),
        })
        .collect();
    store.put_vuln_records(&records).unwrap();
    // Imported by a new build before anything loaded: this one is newer than its raw record.
    let mut newer = nvd[0].clone();
    newer.configurations.clear();
    store
        .replace_vuln_knowledge(&[Source::nvd(newer).to_stored().unwrap()], &[])
        .unwrap();

    let converted: Vec<KnowledgeSource> = nvd
        .into_iter()
        .map(|c| Source::nvd(c).to_stored().unwrap())
        .collect();
    store.adopt_vuln_records(&converted).unwrap();
    let mut left = 0;
    store.vuln_records(None, &mut |_| left += 1).unwrap();
    assert_eq!(left, 0, "raw records are converted once");
    assert!(
        store
            .vuln_knowledge(&application_keys(&openssh("9.2p1")))
            .unwrap()
            .is_empty(),
        "the newer import is kept"
    );
    let httpd = Application::new("http_server").with_vendor("apache");
    assert_eq!(
        store
            .vuln_knowledge(&application_keys(&httpd))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.vuln_sources(Some("nvd")).unwrap().len(), 2);
}
