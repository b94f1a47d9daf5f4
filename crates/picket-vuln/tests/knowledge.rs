//! Knowledge loaded by keys matches exactly as the whole database does: over the real NVD
//! records and KEV entries in the fixtures (copied from /work/shared/data, see
//! fixtures/README.md), the OSV, EPSS and scanner-report fixtures, and many applications built
//! from every product and version bound those records name.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::PathBuf;

use picket_model::{Application, Cpe, KnowledgeKey, KnowledgeRow, Package};
use picket_vuln::knowledge::{Source, load};
use picket_vuln::{
    NvdCve, VulnDb, VulnError, read_epss, read_kev, read_nvd, read_osv, read_report,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn open(name: &str) -> File {
    File::open(fixture(name)).unwrap()
}

/// Every NVD record of the fixtures, by id.
fn nvd_records() -> Vec<NvdCve> {
    let mut names: Vec<String> = std::fs::read_dir(fixture("nvd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 40, "{names:?}");
    names
        .iter()
        .flat_map(|name| {
            let name = format!("nvd/{name}");
            let import = read_nvd(open(&name), &name).unwrap();
            assert!(import.skipped.is_empty(), "{:?}", import.skipped);
            import.records
        })
        .collect()
}

/// The whole database built as every command built it before (NVD, then OSV, then reports,
/// then KEV and EPSS), and the same knowledge as stored sources.
fn knowledge() -> (VulnDb, Vec<Source>) {
    let mut full = VulnDb::new();
    let mut sources = Vec::new();
    for cve in nvd_records() {
        full.add_nvd(cve.clone());
        sources.push(Source::nvd(cve));
    }
    for name in ["osv_debian_openssh.json", "osv_npm_semver.json"] {
        for record in read_osv(open(name), name).unwrap().records {
            full.add_osv(record.clone());
            sources.push(Source::osv(record));
        }
    }
    for name in [
        "cyclonedx_vex.json",
        "grype_debian12.json",
        "trivy_debian12.json",
    ] {
        let report = read_report(open(name), name).unwrap();
        full.add_report(report.clone());
        sources.push(Source::report(name, report));
    }
    let kev = read_kev(open("kev_for_nvd_fixtures.json"), "kev").unwrap();
    assert_eq!(kev.records.len(), 9);
    full.add_kev(&kev);
    sources.push(Source::kev(&kev));
    let epss = read_epss(open("epss_sample.csv"), "epss").unwrap();
    full.add_epss(&epss);
    sources.push(Source::epss(&epss));
    (full, sources)
}

/// A row's source (kind, id) and its place in that source.
type SourcePosition = (String, String, usize);

/// What the store does: rows by key, those of one key by source (kind, id), then in the
/// order the source gave them.
struct FakeStore {
    rows: BTreeMap<KnowledgeKey, Vec<(SourcePosition, String)>>,
    fetched: usize,
}

impl FakeStore {
    fn new(sources: &[Source]) -> Self {
        let mut rows: BTreeMap<KnowledgeKey, Vec<_>> = BTreeMap::new();
        for source in sources {
            let stored = source.to_stored().unwrap();
            for (seq, row) in stored.rows.into_iter().enumerate() {
                rows.entry(row.key)
                    .or_default()
                    .push(((stored.kind.clone(), stored.id.clone(), seq), row.body));
            }
        }
        for list in rows.values_mut() {
            list.sort_by(|a, b| a.0.cmp(&b.0));
        }
        FakeStore { rows, fetched: 0 }
    }

    fn fetch(&mut self, keys: &[KnowledgeKey]) -> Result<Vec<KnowledgeRow>, VulnError> {
        let keys: BTreeSet<&KnowledgeKey> = keys.iter().collect();
        let mut out = Vec::new();
        for key in keys {
            for (_, body) in self.rows.get(key).into_iter().flatten() {
                out.push(KnowledgeRow {
                    key: key.clone(),
                    body: body.clone(),
                });
            }
        }
        self.fetched += out.len();
        Ok(out)
    }

    fn total(&self) -> usize {
        self.rows.values().map(Vec::len).sum()
    }
}

/// Versions around a bound: itself, a little below and a little above.
fn around(version: &str) -> Vec<String> {
    let mut out = vec![
        version.to_owned(),
        format!("{version}.1"),
        format!("{version}p1"),
    ];
    if let Some((head, last)) = version.rsplit_once('.')
        && let Ok(n) = last.parse::<u64>()
    {
        out.push(format!("{head}.{}", n + 1));
        if n > 0 {
            out.push(format!("{head}.{}", n - 1));
        }
    }
    out
}

/// Applications of every product the records name, at every version their criteria mention
/// and around it, with and without vendor and CPE; plus the packages of the OSV and report
/// fixtures.
fn applications(sources: &[Source]) -> Vec<Application> {
    let mut apps: BTreeSet<String> = BTreeSet::new();
    let mut out: Vec<Application> = Vec::new();
    let mut push = |app: Application| {
        if apps.insert(serde_json::to_string(&app).unwrap()) {
            out.push(app);
        }
    };
    for cve in nvd_records() {
        for m in cve
            .configurations
            .iter()
            .flat_map(|c| &c.nodes)
            .flat_map(|n| &n.matches)
        {
            let (Some(vendor), Some(product)) = (m.cpe.vendor.as_value(), m.cpe.product.as_value())
            else {
                continue;
            };
            let mut versions: Vec<String> = Vec::new();
            versions.extend(m.cpe.version.as_value().map(str::to_owned));
            for bound in m.start.iter().chain(&m.end) {
                versions.extend(around(&bound.version));
            }
            versions.push("0.1".into());
            for version in versions {
                let app = Application::new(product)
                    .with_vendor(vendor)
                    .with_version(version.clone());
                push(Application::new(product.to_uppercase()).with_version(version.clone()));
                if let Ok(cpe) =
                    format!("cpe:2.3:a:{vendor}:{product}:{version}:*:*:*:*:*:*:*").parse::<Cpe>()
                {
                    push(app.clone().with_cpe(cpe));
                }
                push(app);
            }
        }
    }
    for openssh in [
        "1:9.2p1-2",
        "1:9.2p1-2+deb12u2",
        "1:9.2p1-2+deb12u3",
        "1:9.6p1-1",
    ] {
        for (product, ecosystem) in [("openssh", "Debian:12"), ("openssh-server", "Debian")] {
            push(
                Application::new("openssh")
                    .with_vendor("openbsd")
                    .with_version("9.2p1")
                    .with_package(ecosystem, Package::new(product, openssh)),
            );
        }
    }
    for v in ["1.3.0", "1.4.2", "2.1.0", "2.1.1"] {
        push(
            Application::new("example-static-server")
                .with_package("npm", Package::new("example-static-server", v)),
        );
    }
    for source in sources {
        if let Some(report) = source.entries.iter().find_map(|e| match e {
            picket_vuln::knowledge::Entry::Reported { m, .. } => Some(m),
            _ => None,
        }) {
            push(report.application.clone());
        }
    }
    out
}

#[test]
fn keyed_loading_matches_exactly_as_the_whole_database() {
    let (full, sources) = knowledge();
    let apps = applications(&sources);
    assert!(apps.len() > 500, "{} applications", apps.len());
    let mut store = FakeStore::new(&sources);
    let mut with_matches = 0;
    for app in &apps {
        let before = store.fetched;
        let keyed = load(std::slice::from_ref(app), |keys| store.fetch(keys)).unwrap();
        let (want, got) = (full.matches(app), keyed.matches(app));
        assert_eq!(got, want, "{app}");
        with_matches += usize::from(!want.is_empty());
        assert!(
            store.fetched - before < store.total() / 4,
            "{app}: loaded {} of {} rows",
            store.fetched - before,
            store.total()
        );
    }
    assert!(with_matches > 200, "{with_matches} applications matched");

    // One load for every application at once, as an inventory does.
    let keyed = load(&apps, |keys| store.fetch(keys)).unwrap();
    for app in &apps {
        assert_eq!(keyed.matches(app), full.matches(app), "{app}");
    }
}
