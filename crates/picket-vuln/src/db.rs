//! `VulnDb`: the in-memory index that answers "which vulnerabilities does this application have?"

use std::collections::{HashMap, HashSet};

use picket_model::{Application, Confidence, CpeValue, Epss, KevEntry, VulnMatch, Vulnerability};

use crate::cpe_match::{CriterionResult, application_cpe, normalize_name};
use crate::epss::EpssFile;
use crate::kev::KevCatalog;
use crate::knowledge::Entry;
use crate::nvd::{Configuration, Node, NvdCve, Operator};
use crate::osv::{OsvAffected, OsvRecord};
use crate::report::ScannerReport;

/// Vulnerability records indexed by CPE product and by package, joined with KEV and EPSS.
#[derive(Debug, Default)]
pub struct VulnDb {
    vulns: HashMap<String, Vulnerability>,
    /// CVE id -> NVD configurations.
    configurations: HashMap<String, Vec<Configuration>>,
    /// CPE product -> CVE ids whose criteria name it (vendor is checked by the criterion).
    by_product: HashMap<String, Vec<String>>,
    /// (ecosystem base, package name) -> (vulnerability id, affected entry).
    by_package: HashMap<(String, String), Vec<(String, OsvAffected)>>,
    /// (package name, package version) -> matches a scanner reported.
    reported: HashMap<(String, String), Vec<VulnMatch>>,
    kev: HashMap<String, KevEntry>,
    epss: HashMap<String, Epss>,
}

/// `Debian:12` -> `debian`: advisories for a release also hold for the same ecosystem's packages.
pub(crate) fn ecosystem_base(ecosystem: &str) -> String {
    ecosystem
        .split(':')
        .next()
        .unwrap_or(ecosystem)
        .trim()
        .to_lowercase()
}

/// The CPE product an application's NVD criteria are indexed under.
pub(crate) fn product_key(app: &Application) -> String {
    match application_cpe(app).product {
        CpeValue::Value(p) => p,
        _ => normalize_name(&app.product),
    }
}

impl VulnDb {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of vulnerability records.
    pub fn len(&self) -> usize {
        self.vulns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vulns.is_empty()
    }

    /// Adds (or replaces) an NVD record.
    pub fn add_nvd(&mut self, cve: NvdCve) {
        let id = cve.vulnerability.id.clone();
        let products = cve.products();
        for product in products {
            let ids = self.by_product.entry(product).or_default();
            if !ids.contains(&id) {
                ids.push(id.clone());
            }
        }
        self.configurations.insert(id.clone(), cve.configurations);
        self.merge(cve.vulnerability);
    }

    /// Adds an OSV record: its packages become matchable by ecosystem and name.
    pub fn add_osv(&mut self, record: OsvRecord) {
        let id = record.vulnerability.id.clone();
        for affected in record.affected {
            let key = (ecosystem_base(&affected.ecosystem), affected.name.clone());
            self.by_package
                .entry(key)
                .or_default()
                .push((id.clone(), affected));
        }
        self.merge(record.vulnerability);
    }

    /// Adds a scanner report: its matches are returned for the same package name and version.
    pub fn add_report(&mut self, report: ScannerReport) {
        for vuln in report.vulnerabilities {
            self.merge(vuln);
        }
        for m in report.matches {
            if let Some(p) = &m.application.package {
                let key = (p.name.clone(), p.version.clone());
                let list = self.reported.entry(key).or_default();
                if !list.iter().any(|o| o.vuln_id == m.vuln_id) {
                    list.push(m);
                }
            }
        }
    }

    pub fn add_kev(&mut self, catalog: &KevCatalog) {
        for r in &catalog.records {
            self.kev.insert(r.cve_id.clone(), r.entry.clone());
        }
    }

    pub fn add_epss(&mut self, file: &EpssFile) {
        for (cve, e) in &file.scores {
            self.epss.insert(cve.clone(), e.clone());
        }
    }

    /// Adds one stored knowledge entry, as the `add_*` call of its source would have.
    pub(crate) fn add_entry(&mut self, entry: Entry) {
        match entry {
            Entry::Product { product, id } => {
                let ids = self.by_product.entry(product).or_default();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            Entry::Configurations { id, configurations } => {
                self.configurations.insert(id, configurations);
            }
            Entry::Package {
                ecosystem,
                name,
                id,
                affected,
            } => self
                .by_package
                .entry((ecosystem, name))
                .or_default()
                .push((id, affected)),
            Entry::Reported { name, version, m } => {
                let list = self.reported.entry((name, version)).or_default();
                if !list.iter().any(|o| o.vuln_id == m.vuln_id) {
                    list.push(*m);
                }
            }
            Entry::Vulnerability(v) => self.merge(v),
            Entry::Kev { cve, entry } => {
                self.kev.insert(cve, entry);
            }
            Entry::Epss { cve, score } => {
                self.epss.insert(cve, score);
            }
        }
    }

    /// Keeps the richer of two records for the same id: NVD's CVSS wins over a scanner's only
    /// when the stored one has none.
    fn merge(&mut self, vuln: Vulnerability) {
        match self.vulns.get_mut(&vuln.id) {
            None => {
                self.vulns.insert(vuln.id.clone(), vuln);
            }
            Some(old) => {
                if old.summary.is_empty() {
                    old.summary = vuln.summary;
                }
                if old.cvss.is_none() {
                    old.cvss = vuln.cvss;
                }
                for a in vuln.aliases {
                    if !old.aliases.contains(&a) {
                        old.aliases.push(a);
                    }
                }
                for r in vuln.references {
                    if !old.references.contains(&r) {
                        old.references.push(r);
                    }
                }
                old.published = old.published.or(vuln.published);
                old.modified = old.modified.max(vuln.modified);
            }
        }
    }

    /// The record with KEV and EPSS joined in (by its id or any CVE alias).
    pub fn get(&self, id: &str) -> Option<Vulnerability> {
        let mut v = self.vulns.get(id)?.clone();
        v.kev = self.lookup(&v, &self.kev);
        v.epss = self.lookup(&v, &self.epss);
        Some(v)
    }

    fn lookup<T: Clone>(&self, v: &Vulnerability, table: &HashMap<String, T>) -> Option<T> {
        std::iter::once(&v.id)
            .chain(&v.aliases)
            .find_map(|id| table.get(id))
            .cloned()
    }

    /// Every vulnerability this application has, best evidence per vulnerability, with CVSS,
    /// KEV and EPSS attached. Ordered: KEV first, then CVSS score, then id.
    pub fn matches(&self, app: &Application) -> Vec<VulnMatch> {
        let mut by_cpe = Evidence::default();
        let cpe = application_cpe(app);
        let product = product_key(app);
        for id in self.by_product.get(&product).into_iter().flatten() {
            for config in self.configurations.get(id).into_iter().flatten() {
                if let Some((confidence, why)) = evaluate_configuration(config, &cpe) {
                    by_cpe.keep(id, confidence, why);
                }
            }
        }
        // Package advisories (OSV, distro trackers) know about backported fixes that the
        // upstream version in a CPE cannot show: where one covers this package, its verdict
        // replaces the CPE's, for the record's id and its aliases.
        let mut by_package = Evidence::default();
        let mut cleared: HashSet<String> = HashSet::new();
        if let (Some(ecosystem), Some(package)) = (&app.ecosystem, &app.package) {
            let key = (ecosystem_base(ecosystem), package.name.clone());
            for (id, affected) in self.by_package.get(&key).into_iter().flatten() {
                match affected.affects(&package.version) {
                    Ok(Some((confidence, why))) => by_package.keep(id, confidence, why),
                    Ok(None) => {
                        cleared.insert(id.clone());
                        let aliases = self.vulns.get(id).map(|v| v.aliases.as_slice());
                        cleared.extend(aliases.unwrap_or_default().iter().cloned());
                    }
                    // A version this ecosystem cannot compare is no evidence either way.
                    Err(_) => {}
                }
            }
            for m in self
                .reported
                .get(&(package.name.clone(), package.version.clone()))
                .into_iter()
                .flatten()
            {
                by_package.keep(&m.vuln_id, m.confidence, m.why.clone());
            }
        }
        let mut found = by_package.0;
        for (id, (confidence, why)) in by_cpe.0 {
            if !cleared.contains(&id) && !found.contains_key(&id) {
                found.insert(id, (confidence, why));
            }
        }
        let mut out: Vec<VulnMatch> = Vec::new();
        for (id, (confidence, why)) in found {
            let joined = self.get(&id);
            out.push(VulnMatch {
                vuln_id: id,
                application: app.clone(),
                confidence,
                why,
                cvss: joined.as_ref().and_then(|v| v.cvss.clone()),
                kev: joined.as_ref().and_then(|v| v.kev.clone()),
                epss: joined.as_ref().and_then(|v| v.epss.clone()),
            });
        }
        out.sort_by(|a, b| {
            let score = |m: &VulnMatch| m.cvss.as_ref().map_or(-1.0, |c| c.base_score);
            b.kev
                .is_some()
                .cmp(&a.kev.is_some())
                .then(score(b).total_cmp(&score(a)))
                .then_with(|| a.vuln_id.cmp(&b.vuln_id))
        });
        out
    }
}

/// The best (most confident) reason per vulnerability id.
#[derive(Default)]
struct Evidence(HashMap<String, (Confidence, String)>);

impl Evidence {
    fn keep(&mut self, id: &str, confidence: Confidence, why: String) {
        if self.0.get(id).is_none_or(|(c, _)| confidence > *c) {
            self.0.insert(id.to_owned(), (confidence, why));
        }
    }
}

/// Three-valued logic: criteria about other products (the OS, a device) are unknown, not false.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    True,
    False,
    Unknown,
}

impl Tri {
    fn not(self, negate: bool) -> Tri {
        match (self, negate) {
            (Tri::True, true) => Tri::False,
            (Tri::False, true) => Tri::True,
            (t, _) => t,
        }
    }

    fn combine(op: Operator, items: impl Iterator<Item = Tri>) -> Tri {
        let items: Vec<Tri> = items.collect();
        let (win, lose) = match op {
            Operator::Or => (Tri::True, Tri::False),
            Operator::And => (Tri::False, Tri::True),
        };
        if items.contains(&win) {
            win
        } else if !items.is_empty() && items.iter().all(|t| *t == lose) {
            lose
        } else {
            Tri::Unknown
        }
    }
}

/// The application is affected by a configuration when it matches a vulnerable criterion in a
/// non-negated node and the configuration as a whole is not false. Conditions on other
/// products (e.g. "running on Windows") cannot be checked from the application alone: the
/// match stands and says so.
fn evaluate_configuration(
    config: &Configuration,
    cpe: &picket_model::Cpe,
) -> Option<(Confidence, String)> {
    let mut best: Option<(Confidence, String)> = None;
    let mut node_value = |node: &Node| -> Tri {
        let results: Vec<Tri> = node
            .matches
            .iter()
            .map(|m| match m.evaluate(cpe) {
                CriterionResult::OtherProduct => Tri::Unknown,
                CriterionResult::Miss => Tri::False,
                CriterionResult::Match { confidence, why } => {
                    if m.vulnerable
                        && !node.negate
                        && best.as_ref().is_none_or(|(c, _)| confidence > *c)
                    {
                        best = Some((confidence, why));
                    }
                    if confidence == Confidence::ProductOnly {
                        Tri::Unknown
                    } else {
                        Tri::True
                    }
                }
            })
            .collect();
        Tri::combine(node.operator, results.into_iter()).not(node.negate)
    };
    let nodes: Vec<Tri> = config.nodes.iter().map(&mut node_value).collect();
    let overall = Tri::combine(config.operator, nodes.into_iter()).not(config.negate);
    let (confidence, why) = best?;
    match overall {
        Tri::False => None,
        Tri::True => Some((confidence, why)),
        Tri::Unknown if config.nodes.len() > 1 => Some((
            confidence,
            format!("{why} (other conditions of this configuration not checked)"),
        )),
        Tri::Unknown => Some((confidence, why)),
    }
}
