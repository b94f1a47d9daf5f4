//! What the threat commands share: the intel table, the vulnerability database and the
//! inventory, rebuilt from the store; home nets and the allow-list from flags.

use std::collections::HashMap;
use std::net::IpAddr;

use anyhow::{Context, Result, bail};
use ipnet::IpNet;
use picket_detect::threat::Inventory;
use picket_ingest::HomeNet;
use picket_intel::IntelTable;
use picket_model::{
    Application, KnowledgeSource, Transport, VulnMatch, canonical_ip, canonical_net,
};
use picket_respond::AllowList;
use picket_store::{InventoryEntry, Store, VulnRecord};
use picket_vuln::knowledge::{
    self, SOURCE_EPSS, SOURCE_KEV, SOURCE_NVD, SOURCE_OSV, SOURCE_REPORT, Source,
};
use picket_vuln::{NvdCve, OsvRecord, ScannerReport, VulnDb};
use serde::Deserialize;

/// Every stored indicator in one immutable lookup table.
pub fn intel_table(store: &mut dyn Store) -> Result<IntelTable> {
    let indicators = store.indicators(None)?;
    IntelTable::build(indicators).context("cannot build the intel table")
}

/// A vulnerability database holding what matching `apps` needs, and nothing else: the
/// knowledge rows of their keys, read from the store (see `picket_vuln::knowledge`).
pub fn vuln_db(store: &mut dyn Store, apps: &[Application]) -> Result<VulnDb> {
    adopt_raw_records(store)?;
    knowledge::load(apps, |keys| -> Result<_> {
        Ok(store.vuln_knowledge(keys)?)
    })
}

/// Databases written before knowledge was stored by key hold the imported records raw: the
/// first command that reads or writes knowledge converts them, once, into keyed rows (a
/// source imported since keeps its newer rows).
pub fn adopt_raw_records(store: &mut dyn Store) -> Result<()> {
    let mut sources = Vec::new();
    let mut failure = None;
    let mut any = false;
    store.vuln_records(None, &mut |record| {
        any = true;
        if failure.is_some() {
            return;
        }
        match converted(&record) {
            Ok(source) => sources.push(source),
            Err(why) => {
                failure = Some(format!(
                    "stored {} record {:?}: {why}",
                    record.kind, record.id
                ));
            }
        }
    })?;
    if let Some(why) = failure {
        bail!("{why}");
    }
    if any {
        store.adopt_vuln_records(&sources)?;
    }
    Ok(())
}

/// One raw record as the keyed rows of its source.
fn converted(record: &VulnRecord) -> Result<KnowledgeSource, String> {
    let json = |e: serde_json::Error| e.to_string();
    let source = match record.kind.as_str() {
        SOURCE_NVD => Source::nvd(NvdCve::deserialize(&record.body).map_err(json)?),
        SOURCE_OSV => Source::osv(OsvRecord::deserialize(&record.body).map_err(json)?),
        SOURCE_REPORT => Source::report(
            record.id.clone(),
            ScannerReport::deserialize(&record.body).map_err(json)?,
        ),
        SOURCE_KEV => Source::kev(
            &picket_vuln::read_kev(raw_text(&record.body)?.as_bytes(), &record.id)
                .map_err(|e| e.to_string())?,
        ),
        SOURCE_EPSS => Source::epss(
            &picket_vuln::read_epss(raw_text(&record.body)?.as_bytes(), &record.id)
                .map_err(|e| e.to_string())?,
        ),
        other => return Err(format!("unknown record kind {other:?}")),
    };
    source.to_stored().map_err(|e| e.to_string())
}

fn raw_text(body: &serde_json::Value) -> Result<&str, String> {
    body.as_str()
        .ok_or_else(|| "expected the raw document as text".to_owned())
}

/// The inventory with the vulnerabilities that match each entry, loading only the knowledge
/// its applications need.
pub fn inventory(store: &mut dyn Store) -> Result<Vec<(InventoryEntry, Vec<VulnMatch>)>> {
    let entries = store.inventory()?;
    let apps: Vec<Application> = entries.iter().map(|e| e.application.clone()).collect();
    let db = vuln_db(store, &apps)?;
    Ok(entries
        .into_iter()
        .map(|entry| {
            let matches = db.matches(&entry.application);
            (entry, matches)
        })
        .collect())
}

/// The detector's inventory: every entry, TCP, with its matches.
pub fn detector_inventory(entries: &[(InventoryEntry, Vec<VulnMatch>)]) -> Inventory {
    let mut inv = Inventory::new();
    for (entry, matches) in entries {
        inv.insert(
            entry.host,
            entry.port,
            Transport::Tcp,
            entry.application.clone(),
            matches,
        );
    }
    inv
}

pub fn home_net(flags: &[String]) -> Result<HomeNet> {
    if flags.is_empty() {
        return Ok(HomeNet::default());
    }
    HomeNet::parse(&flags.join(",")).map_err(|e| anyhow::anyhow!("--home-net: {e}"))
}

/// The networks no block may touch: the default home ranges always (a `--home-net` names more of
/// ours, it never makes the private ranges blockable), `home`, and `--allow`.
pub fn allow_list(home: &HomeNet, allow: &[String]) -> Result<AllowList> {
    let extra = allow
        .iter()
        .map(|a| parse_net(a).with_context(|| format!("--allow {a:?}")))
        .collect::<Result<Vec<_>>>()?;
    let protected = [HomeNet::default().nets(), home.nets()].concat();
    Ok(AllowList::new(&protected, &extra))
}

/// An address or a CIDR as a network (an address is its own /32 or /128).
/// An address or CIDR, IPv4-mapped forms as the IPv4 network they stand for.
pub fn parse_net(s: &str) -> Result<IpNet> {
    let s = s.trim();
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .or_else(|_| s.parse::<IpNet>())
        .map(canonical_net)
        .map_err(|_| anyhow::anyhow!("{s:?} is not an address or CIDR"))
}

/// `HOST:PORT`, with IPv6 in brackets (`[fd00::1]:22`).
pub fn parse_host_port(s: &str) -> Result<(IpAddr, u16)> {
    let addr: std::net::SocketAddr = s
        .parse()
        .with_context(|| format!("{s:?}: expected HOST:PORT (IPv6 as [ADDR]:PORT)"))?;
    if addr.port() == 0 {
        bail!("{s:?}: port 0");
    }
    Ok((canonical_ip(addr.ip()), addr.port()))
}

/// Vulnerability ids per inventory entry, for tables.
pub fn vuln_summary(matches: &[VulnMatch]) -> String {
    let mut seen: HashMap<&str, ()> = HashMap::new();
    let ids: Vec<String> = matches
        .iter()
        .filter(|m| seen.insert(m.vuln_id.as_str(), ()).is_none())
        .map(|m| {
            let score = m
                .cvss
                .as_ref()
                .map(|c| format!(" {:.1}", c.base_score))
                .unwrap_or_default();
            let kev = if m.kev.is_some() { " KEV" } else { "" };
            format!("{}{score}{kev}", m.vuln_id)
        })
        .collect();
    if ids.is_empty() {
        "-".to_owned()
    } else {
        ids.join(", ")
    }
}
