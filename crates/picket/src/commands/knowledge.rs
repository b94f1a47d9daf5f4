//! What the threat commands share: the intel table, the vulnerability database and the
//! inventory, rebuilt from the store; home nets and the allow-list from flags.

use std::collections::HashMap;
use std::net::IpAddr;

use anyhow::{Context, Result, bail};
use ipnet::IpNet;
use picket_detect::threat::Inventory;
use picket_ingest::HomeNet;
use picket_intel::IntelTable;
use picket_model::{Transport, VulnMatch, canonical_ip, canonical_net};
use picket_respond::AllowList;
use picket_store::prelude::*;
use picket_store::{InventoryEntry, Store};
use picket_vuln::{NvdCve, OsvRecord, ScannerReport, VulnDb};

/// Record kinds in the store's vulnerability records (see `commands::vuln`).
pub const KIND_NVD: &str = "nvd";
pub const KIND_OSV: &str = "osv";
pub const KIND_KEV: &str = "kev";
pub const KIND_EPSS: &str = "epss";
pub const KIND_REPORT: &str = "report";

/// Every stored indicator in one immutable lookup table.
pub fn intel_table(store: &Store) -> Result<IntelTable> {
    let indicators = store.indicators(None)?;
    IntelTable::build(indicators).context("cannot build the intel table")
}

/// The vulnerability database rebuilt from every stored record.
pub fn vuln_db(store: &Store) -> Result<VulnDb> {
    let mut db = VulnDb::new();
    let mut failure = None;
    store.vuln_records(None, &mut |record| {
        if failure.is_some() {
            return;
        }
        let loaded = match record.kind.as_str() {
            KIND_NVD => serde_json::from_value::<NvdCve>(record.body)
                .map(|c| db.add_nvd(c))
                .map_err(|e| e.to_string()),
            KIND_OSV => serde_json::from_value::<OsvRecord>(record.body)
                .map(|r| db.add_osv(r))
                .map_err(|e| e.to_string()),
            KIND_REPORT => serde_json::from_value::<ScannerReport>(record.body)
                .map(|r| db.add_report(r))
                .map_err(|e| e.to_string()),
            KIND_KEV => raw_text(&record.body)
                .and_then(|t| {
                    picket_vuln::read_kev(t.as_bytes(), &record.id).map_err(|e| e.to_string())
                })
                .map(|c| db.add_kev(&c)),
            KIND_EPSS => raw_text(&record.body)
                .and_then(|t| {
                    picket_vuln::read_epss(t.as_bytes(), &record.id).map_err(|e| e.to_string())
                })
                .map(|f| db.add_epss(&f)),
            other => Err(format!("unknown record kind {other:?}")),
        };
        if let Err(why) = loaded {
            failure = Some(format!(
                "stored {} record {:?}: {why}",
                record.kind, record.id
            ));
        }
    })?;
    if let Some(why) = failure {
        bail!("{why}");
    }
    Ok(db)
}

fn raw_text(body: &serde_json::Value) -> Result<String, String> {
    body.as_str()
        .map(str::to_owned)
        .ok_or_else(|| "expected the raw document as text".to_owned())
}

/// The inventory with the vulnerabilities that match each entry.
pub fn inventory(store: &Store, db: &VulnDb) -> Result<Vec<(InventoryEntry, Vec<VulnMatch>)>> {
    Ok(store
        .inventory()?
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
