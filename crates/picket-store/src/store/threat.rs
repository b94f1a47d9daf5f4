//! The threat side of [`SqlStore`]: feeds and their indicators, the inventory, vulnerability
//! knowledge, alerts, suppressions, follow checkpoints and blocks.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::ops::Range;

use ipnet::IpNet;
use picket_model::{
    Alert, AlertTriage, Application, FeedMeta, Indicator, Severity, Suppression, Timestamp,
    Vulnerability, canonical_ip,
};
use serde::{Deserialize, Serialize};

use super::{Fields, Session, check_finite, to_json};
use crate::alert_body::Packer;
use crate::conn::{Row, Value};
use crate::error::StoreError;
use crate::sql::{self, Dialect};
use crate::{
    AlertCount, AlertFilter, AlertWrite, BlockRecord, ClaimedCheckpoint, FeedSummary,
    IndicatorSlice, InventoryEntry, SourceApplications, TriagedAlert, VulnRecord,
};

/// The optional fields of an indicator as written to its `extra` column. Most feeds give none of
/// them, and then the column is NULL: a million rows of `{}` would cost time and space for
/// nothing.
#[derive(Serialize)]
struct ExtraOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_seen: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
}

/// [`ExtraOut`] read back.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtraIn {
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    first_seen: Option<Timestamp>,
    #[serde(default)]
    last_seen: Option<Timestamp>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

fn indicator_extra(
    i: &Indicator,
    what: &impl Fn() -> String,
) -> Result<Option<String>, StoreError> {
    if i.score.is_none()
        && i.first_seen.is_none()
        && i.last_seen.is_none()
        && i.category.is_none()
        && i.comment.is_none()
    {
        return Ok(None);
    }
    let extra = ExtraOut {
        score: i.score,
        first_seen: i.first_seen,
        last_seen: i.last_seen,
        category: i.category.as_deref(),
        comment: i.comment.as_deref(),
    };
    to_json(&extra, what, "indicator").map(Some)
}

/// An indicator read back from the columns feed name, network, extra (in that order).
fn indicator_from(f: Fields<'_>) -> Result<Indicator, StoreError> {
    let name = f.text(0, "feed")?;
    // A bad field names the feed; naming it up front would cost a string for every row.
    let fields = || {
        let mut indicator = Indicator::new(f.net(1, "network")?, name);
        if f.opt_text(2, "extra")?.is_some() {
            let extra: ExtraIn = f.json(2, "extra")?;
            indicator.score = extra.score;
            indicator.first_seen = extra.first_seen;
            indicator.last_seen = extra.last_seen;
            indicator.category = extra.category;
            indicator.comment = extra.comment;
        }
        Ok(indicator)
    };
    fields().map_err(|e| match e {
        StoreError::Corrupt {
            location,
            table,
            field,
            why,
            ..
        } => StoreError::Corrupt {
            location,
            table,
            key: format!("feed {name}"),
            field,
            why,
        },
        other => other,
    })
}

/// What `net_key` holds for a network: the network with its host bits cleared, as text. An
/// IPv4-mapped IPv6 network keeps its IPv6 form, so that it covers what the intel table says it
/// covers (no address: lookups are by IPv4 for mapped addresses).
fn net_key(net: IpNet) -> String {
    net.trunc().to_string()
}

/// The keys of every network that can cover `addr`: the address cut to each prefix length of
/// its family.
fn covering_keys(addr: IpAddr) -> impl Iterator<Item = String> {
    let max = match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    (0..=max).filter_map(move |len| IpNet::new(addr, len).ok().map(net_key))
}

/// A timestamp as it reads back from the store: whole microseconds.
fn stored(t: Timestamp) -> Timestamp {
    Timestamp::from_microsecond(t.as_microsecond()).unwrap_or(t)
}

/// A position or count as a 64-bit column.
fn int(n: usize, what: &impl Fn() -> String, field: &'static str) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Unstorable {
        what: what(),
        field,
        why: format!("{n} does not fit in a 64-bit integer"),
    })
}

/// Severities as numbers, so that "at least high" is one comparison. The model declares them
/// from least to most urgent, which is also their `Ord`.
fn severity_rank(s: Severity) -> i64 {
    s as i64
}

/// JSON cannot hold NaN or infinity (serde_json would write `null` and the alert could never be
/// read back): refuse them before anything is written.
fn check_alert(alert: &Alert, what: &impl Fn() -> String) -> Result<(), StoreError> {
    for hit in &alert.intel {
        if let Some(score) = hit.score {
            check_finite(what, "intel.score", score)?;
        }
    }
    for v in &alert.vulns {
        if let Some(cvss) = &v.cvss {
            check_finite(what, "vulns.cvss.base_score", cvss.base_score)?;
        }
        if let Some(epss) = &v.epss {
            check_finite(what, "vulns.epss.score", epss.score)?;
            check_finite(what, "vulns.epss.percentile", epss.percentile)?;
        }
    }
    Ok(())
}

fn check_vulnerability(v: &Vulnerability) -> Result<(), StoreError> {
    let what = || format!("vulnerability {}", v.id);
    if let Some(cvss) = &v.cvss {
        check_finite(&what, "cvss.base_score", cvss.base_score)?;
    }
    if let Some(epss) = &v.epss {
        check_finite(&what, "epss.score", epss.score)?;
        check_finite(&what, "epss.percentile", epss.percentile)?;
    }
    Ok(())
}

/// Alerts written at once from which their parameters are made on a second thread.
const PIPELINED_ALERTS: usize = 64;
/// Alerts' parameters handed from the maker to the writer at once: a handoff that wakes the
/// other thread for every row costs each of them more than making or writing a row.
const PIPELINED_BATCH: usize = 64;
/// The writer makes one batch of parameters in this many itself: making a row costs more than
/// writing it (SQLite: 7.7 against 5.3 µs), so the maker alone would keep the writer waiting.
const WRITER_MAKES_EVERY: usize = 7;
/// Batches of parameters made ahead of the writer at most.
const PIPELINED_AHEAD: usize = 4;
/// Alerts of a transaction from which it commits on a second thread while the caller's
/// `meanwhile` runs (below, a thread would cost more than the overlap gains).
const OVERLAPPED_COMMIT: usize = 64;

/// The parameters of one row of [`sql::UPSERT_ALERTS`] and of [`sql::UPDATE_ALERT`], the body
/// packed by `packer`.
fn alert_params(alert: &Alert, packer: &mut Packer) -> Result<Vec<Value>, StoreError> {
    let what = || format!("alert {}", alert.dedup_key);
    check_alert(alert, &what)?;
    // The id lives in its column: a copy in the body could only ever disagree with it.
    let body = match alert.id {
        None => Cow::Borrowed(alert),
        Some(_) => Cow::Owned(Alert {
            id: None,
            ..alert.clone()
        }),
    };
    Ok(vec![
        alert.kind.as_str().into(),
        alert.client.to_string().into(),
        alert.host.to_string().into(),
        alert.port.into(),
        alert.severity.as_str().into(),
        severity_rank(alert.severity).into(),
        alert.first_seen.as_microsecond().into(),
        alert.last_seen.as_microsecond().into(),
        packer
            .pack(&to_json(&*body, &what, "*")?)
            .map_err(|why| StoreError::Unstorable {
                what: what(),
                field: "body",
                why,
            })?
            .into(),
        alert.dedup_key.as_str().into(),
        alert.window_start.as_microsecond().into(),
    ])
}

/// `select` with the conditions of `filter`, the order, and its page, with their parameters.
fn alert_query(select: &str, filter: &AlertFilter) -> (String, Vec<Value>) {
    let mut query = String::from(select);
    let mut params: Vec<Value> = Vec::new();
    if let Some(since) = filter.since {
        query.push_str(" AND last_seen >= ?");
        params.push(since.as_microsecond().into());
    }
    if let Some(severity) = filter.min_severity {
        query.push_str(" AND severity_rank >= ?");
        params.push(severity_rank(severity).into());
    }
    // Alerts store addresses in canonical form (IPv4 for a mapped address).
    if let Some(client) = filter.client {
        query.push_str(" AND client = ?");
        params.push(canonical_ip(client).to_string().into());
    }
    if let Some(host) = filter.host {
        query.push_str(" AND host = ?");
        params.push(canonical_ip(host).to_string().into());
    }
    if let Some(status) = filter.status {
        query.push_str(" AND status = ?");
        params.push(status.as_str().into());
    }
    if let Some(after) = filter.after {
        let at = after.first_seen.as_microsecond();
        // The first term alone bounds a range of the (first_seen, id) index: an OR alone
        // would have the database walk the index from its start.
        query.push_str(" AND first_seen >= ? AND (first_seen > ? OR id > ?)");
        params.extend([at.into(), at.into(), after.id.into()]);
    }
    query.push_str(sql::ALERTS_ORDER);
    if filter.limit.is_some() || filter.offset > 0 {
        // Both dialects need a LIMIT before an OFFSET; i64::MAX stands for none.
        let limit = filter
            .limit
            .map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
        query.push_str(" LIMIT ? OFFSET ?");
        params.push(limit.into());
        params.push(i64::try_from(filter.offset).unwrap_or(i64::MAX).into());
    }
    (query, params)
}

/// Keeps the last of the items that share a key, in the order of their first appearance.
pub(super) fn last_of_each<'a, T, K: Eq + std::hash::Hash>(
    items: &'a [T],
    key: impl Fn(&'a T) -> K,
) -> Vec<&'a T> {
    let mut slot: HashMap<K, usize> = HashMap::with_capacity(items.len());
    let mut kept: Vec<&T> = Vec::with_capacity(items.len());
    for item in items {
        match slot.get(&key(item)) {
            Some(&i) => kept[i] = item,
            None => {
                slot.insert(key(item), kept.len());
                kept.push(item);
            }
        }
    }
    kept
}

/// The package part of an inventory key: `ECOSYSTEM/NAME@VERSION`, empty for an application
/// known without a package (a scan, a manual entry).
fn package_key(app: &Application) -> String {
    app.package.as_ref().map_or_else(String::new, |p| {
        format!(
            "{}/{}@{}",
            app.ecosystem.as_deref().unwrap_or(""),
            p.name,
            p.version
        )
    })
}

impl Session<'_> {
    pub(crate) fn replace_feed(
        &mut self,
        name: &str,
        meta: &FeedMeta,
        indicators: &[Indicator],
        loaded_at: Timestamp,
    ) -> Result<FeedSummary, StoreError> {
        let what = || format!("feed {name}");
        if meta.name != name {
            return Err(StoreError::Unstorable {
                what: what(),
                field: "meta.name",
                why: format!("is {:?}, not the feed's name", meta.name),
            });
        }
        // Checked before the transaction: a feed that cannot be stored whole is not started.
        for (i, ind) in indicators.iter().enumerate() {
            let what = || format!("feed {name} indicator {} ({})", i + 1, ind.network);
            if ind.feed != name {
                return Err(StoreError::Unstorable {
                    what: what(),
                    field: "feed",
                    why: format!("names feed {:?}", ind.feed),
                });
            }
            if let Some(score) = ind.score {
                check_finite(&what, "score", score)?;
            }
        }
        let count = int(indicators.len(), &what, "indicator_count")?;
        let meta_json = to_json(meta, &what, "meta")?;
        self.transaction(|store| {
            store.forget_intel_table()?;
            store.delete_feed(name)?;
            let params = [
                name.into(),
                meta.format.as_str().into(),
                meta_json.into(),
                count.into(),
                loaded_at.as_microsecond().into(),
            ];
            let rows = store.query(sql::INSERT_FEED, &params, || {
                format!("registering feed {name}")
            })?;
            let feed_id = store.fields(&rows, "feeds", what)?.int(0, "id")?;
            store.insert_indicators(name, feed_id, indicators)
        })?;
        Ok(FeedSummary {
            name: name.to_owned(),
            format: meta.format,
            meta: meta.clone(),
            indicators: indicators.len() as u64,
            loaded_at: stored(loaded_at),
        })
    }

    /// Inserts `items` with multi-row inserts, encoding one chunk at a time (`encode` pushes
    /// one row of values for the item at an index) so that a million items never exist twice in
    /// memory. `what` describes a chunk by its index range, for errors.
    pub(super) fn insert_encoded<T>(
        &mut self,
        insert: &sql::Insert,
        items: &[T],
        mut encode: impl FnMut(usize, &T, &mut Vec<Value>) -> Result<(), StoreError>,
        what: impl Fn(Range<usize>) -> String,
    ) -> Result<(), StoreError> {
        let mut chunk: Vec<Value> = Vec::with_capacity(sql::MAX_ROWS_PER_INSERT * insert.width);
        let full = sql::insert_rows(insert, sql::MAX_ROWS_PER_INSERT);
        let mut done = 0;
        while done < items.len() {
            let n = sql::rows_per_insert(items.len() - done);
            chunk.clear();
            for (i, item) in items.iter().enumerate().skip(done).take(n) {
                encode(i, item, &mut chunk)?;
            }
            let partial;
            let statement = if n == sql::MAX_ROWS_PER_INSERT {
                &full
            } else {
                partial = sql::insert_rows(insert, n);
                &partial
            };
            self.exec(statement, &chunk, || what(done..done + n))?;
            done += n;
        }
        Ok(())
    }

    /// Every indicator whose network covers `addr`, as [`crate::IntelStore::indicators_covering`]
    /// describes: one query through the `net_key` index with the address cut to each prefix
    /// length of its family.
    pub(crate) fn indicators_covering(
        &mut self,
        addr: IpAddr,
    ) -> Result<Vec<Indicator>, StoreError> {
        let addr = canonical_ip(addr);
        let keys: Vec<Value> = covering_keys(addr).map(Value::from).collect();
        let statement = format!(
            "{}{}",
            sql::SELECT_INDICATORS_WITH_KEY,
            sql::in_list(keys.len())
        );
        let mut found = Vec::new();
        let key = format!("indicator covering {addr}");
        self.each_row(
            &statement,
            &keys,
            ("indicators", &key),
            || format!("looking up the indicators covering {addr}"),
            |f| {
                let order = (f.int(3, "feed_id")?, f.int(4, "ordinal")?);
                let indicator = indicator_from(f)?;
                found.push((indicator.network.prefix_len(), order, indicator));
                Ok(())
            },
        )?;
        // The order of the intel table: widest first, then as `indicators` lists them.
        found.sort_by_key(|(prefix, order, _)| (*prefix, *order));
        Ok(found.into_iter().map(|(_, _, i)| i).collect())
    }

    /// Migration 5: `net_key` was copied from `network`; rows whose network has host bits set
    /// get the network with them cleared. Feeds store cleared networks, so these are few: the
    /// scan keeps only them.
    pub(super) fn fix_indicator_keys(&mut self) -> Result<(), StoreError> {
        let mut fixes: Vec<[Value; 3]> = Vec::new();
        let result = self
            .conn
            .query_each(sql::SELECT_INDICATOR_NETWORKS, &[], &mut |row: Row| {
                if let (Some(Value::Int(feed)), Some(Value::Int(ordinal)), Some(Value::Text(net))) =
                    (row.first(), row.get(1), row.get(2))
                    && let Ok(parsed) = net.parse::<IpNet>()
                    && parsed.trunc() != parsed
                {
                    fixes.push([net_key(parsed).into(), (*feed).into(), (*ordinal).into()]);
                }
                Ok(())
            });
        match result {
            Ok(handled) => handled?,
            Err(e) => return Err(self.db_error("reading indicator networks".into(), e)),
        }
        for fix in &fixes {
            self.exec(sql::SET_INDICATOR_KEY, fix, || {
                "keying indicators by network".into()
            })?;
        }
        Ok(())
    }

    fn insert_indicators(
        &mut self,
        name: &str,
        feed_id: i64,
        indicators: &[Indicator],
    ) -> Result<(), StoreError> {
        self.insert_encoded(
            &sql::INSERT_INDICATORS,
            indicators,
            |i, ind, row| {
                let what = || format!("feed {name} indicator {} ({})", i + 1, ind.network);
                row.extend([
                    feed_id.into(),
                    int(i, &what, "ordinal")?.into(),
                    ind.network.to_string().into(),
                    net_key(ind.network).into(),
                    indicator_extra(ind, &what)?.into(),
                ]);
                Ok(())
            },
            |rows| {
                format!(
                    "storing feed {name} indicators {} to {} ({} to {})",
                    rows.start + 1,
                    rows.end,
                    indicators[rows.start].network,
                    indicators[rows.end - 1].network
                )
            },
        )
    }

    pub(crate) fn feeds(&mut self) -> Result<Vec<FeedSummary>, StoreError> {
        let rows = self.query(sql::SELECT_FEEDS, &[], || "listing feeds".into())?;
        let mut feeds = rows
            .iter()
            .map(|row| {
                let f = self.row_fields(row, "feeds", "listed feed".into());
                let name = f.text(0, "name")?.to_owned();
                let f = f.keyed(format!("feed {name}"));
                Ok(FeedSummary {
                    format: f.name(1, "format")?,
                    meta: f.json(2, "meta")?,
                    indicators: u64::try_from(f.int(3, "indicator_count")?)
                        .map_err(|_| f.corrupt(3, "indicator_count", "negative".into()))?,
                    loaded_at: f.timestamp(4, "loaded_at")?,
                    name,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // By name as Rust compares text: PostgreSQL's collation would order it differently.
        feeds.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(feeds)
    }

    pub(crate) fn remove_feed(&mut self, name: &str) -> Result<bool, StoreError> {
        self.transaction(|store| store.delete_feed(name))
    }

    /// Deletes the feed and its indicators (inside the caller's transaction); `false` if there
    /// was no such feed.
    fn delete_feed(&mut self, name: &str) -> Result<bool, StoreError> {
        let rows = self.query(sql::SELECT_FEED_ID, &[name.into()], || {
            format!("looking up feed {name}")
        })?;
        if rows.is_empty() {
            return Ok(false);
        }
        let id = self
            .fields(&rows, "feeds", || format!("feed {name}"))?
            .int(0, "id")?;
        self.forget_intel_table()?;
        self.exec(sql::DELETE_INDICATORS, &[id.into()], || {
            format!("removing the indicators of feed {name}")
        })?;
        self.exec(sql::DELETE_FEED, &[id.into()], || {
            format!("removing feed {name}")
        })?;
        Ok(true)
    }

    /// What the intel table is built from: each feed's id, indicator count and load time, in
    /// id order (see [`sql::SELECT_FEED_VERSIONS`]). Any change to the feeds changes it.
    pub(crate) fn intel_table_key(&mut self) -> Result<String, StoreError> {
        let rows = self.query(sql::SELECT_FEED_VERSIONS, &[], || {
            "listing what the intel table is built from".into()
        })?;
        let mut key = String::new();
        for row in &rows {
            let f = self.row_fields(row, "feeds", "listed feed".into());
            let (id, count, at) = (
                f.int(0, "id")?,
                f.int(1, "indicator_count")?,
                f.int(2, "loaded_at")?,
            );
            key.push_str(&format!("{id}:{count}:{at};"));
        }
        Ok(key)
    }

    /// The encoded intel table kept for the feeds `key` names, if there is one.
    pub(crate) fn stored_intel_table(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut body: Option<Vec<u8>> = None;
        self.each_row(
            sql::SELECT_INTEL_TABLE,
            &[key.into()],
            ("intel_tables", "kept intel table"),
            || "reading the kept intel table".into(),
            |f| {
                let part = f.int(0, "part")?;
                let have = body.get_or_insert_with(Vec::new);
                // Parts are numbered from 0 without a gap: one missing is a table cut short.
                if usize::try_from(part).ok() != Some(have.len() / sql::INTEL_TABLE_PART)
                    || !have.len().is_multiple_of(sql::INTEL_TABLE_PART)
                {
                    return Err(f.corrupt(0, "part", "not the part that follows".into()));
                }
                have.extend_from_slice(f.bytes(1, "body")?);
                Ok(())
            },
        )?;
        Ok(body)
    }

    /// Keeps `body` as the intel table of the feeds `key` names, in place of any other, unless
    /// the feeds are no longer those (`false`: nothing written).
    pub(crate) fn keep_intel_table(&mut self, key: &str, body: &[u8]) -> Result<bool, StoreError> {
        self.transaction(|store| {
            if store.intel_table_key()? != key {
                return Ok(false);
            }
            store.forget_intel_table()?;
            for (part, bytes) in body.chunks(sql::INTEL_TABLE_PART).enumerate() {
                let row = [
                    int(part, &|| "the kept intel table".into(), "part")?.into(),
                    key.into(),
                    bytes.to_vec().into(),
                ];
                store.exec(sql::INSERT_INTEL_TABLE, &row, || {
                    format!("keeping part {part} of the intel table")
                })?;
            }
            Ok(true)
        })
    }

    /// Deletes the kept intel table (inside the caller's transaction, which changes the feeds).
    fn forget_intel_table(&mut self) -> Result<(), StoreError> {
        self.exec(sql::DELETE_INTEL_TABLES, &[], || {
            "deleting the kept intel table".into()
        })?;
        Ok(())
    }

    pub(crate) fn each_indicator(
        &mut self,
        feed: Option<&str>,
        each: &mut dyn FnMut(Indicator),
    ) -> Result<(), StoreError> {
        let (statement, params): (&str, Vec<Value>) = match feed {
            Some(name) => (sql::SELECT_FEED_INDICATORS, vec![name.into()]),
            None => (sql::SELECT_ALL_INDICATORS, vec![]),
        };
        self.stream_indicators(statement, &params, each, || match feed {
            Some(name) => format!("reading the indicators of feed {name}"),
            None => "reading indicators".into(),
        })
    }

    /// Cuts at the positions `total * k / parts` of the indicators' order: one query each, along
    /// the primary key's index.
    pub(crate) fn indicator_slices(
        &mut self,
        parts: usize,
    ) -> Result<Vec<IndicatorSlice>, StoreError> {
        let rows = self.query(sql::COUNT_INDICATORS, &[], || "counting indicators".into())?;
        let total = self
            .fields(&rows, "indicators", || "indicator count".into())?
            .int(0, "count")?;
        let parts = i64::try_from(parts.max(1)).unwrap_or(i64::MAX);
        let mut cuts: Vec<(i64, i64)> = Vec::new();
        for k in 1..parts {
            let offset = total.saturating_mul(k) / parts;
            let rows = self.query(sql::SELECT_INDICATOR_AT, &[offset.into()], || {
                format!("finding indicator {offset}")
            })?;
            let Some(row) = rows.first() else { break };
            let f = self.row_fields(row, "indicators", format!("indicator {offset}"));
            let at = (f.int(0, "feed_id")?, f.int(1, "ordinal")?);
            if cuts.last().is_none_or(|last| *last < at) {
                cuts.push(at);
            }
        }
        let mut slices = Vec::with_capacity(cuts.len() + 1);
        let mut from = None;
        for cut in cuts {
            slices.push(IndicatorSlice {
                from,
                to: Some(cut),
            });
            from = Some(cut);
        }
        slices.push(IndicatorSlice { from, to: None });
        Ok(slices)
    }

    pub(crate) fn each_indicator_in(
        &mut self,
        slice: &IndicatorSlice,
        each: &mut dyn FnMut(Indicator),
    ) -> Result<(), StoreError> {
        let mut statement = String::from(sql::SELECT_INDICATORS_HEAD);
        let mut params: Vec<Value> = Vec::with_capacity(4);
        if let Some((feed, ordinal)) = slice.from {
            statement.push_str(sql::INDICATORS_FROM);
            params.extend([feed.into(), ordinal.into()]);
        }
        if let Some((feed, ordinal)) = slice.to {
            statement.push_str(sql::INDICATORS_TO);
            params.extend([feed.into(), ordinal.into()]);
        }
        statement.push_str(sql::INDICATORS_ORDER);
        self.stream_indicators(&statement, &params, each, || {
            "reading a slice of the indicators".into()
        })
    }

    /// Streams the rows of an indicator query (feed name, network, extra) to `each`.
    fn stream_indicators(
        &mut self,
        statement: &str,
        params: &[Value],
        each: &mut dyn FnMut(Indicator),
        op: impl FnOnce() -> String,
    ) -> Result<(), StoreError> {
        self.each_row(
            statement,
            params,
            ("indicators", "listed indicator"),
            op,
            |f| {
                each(indicator_from(f)?);
                Ok(())
            },
        )
    }

    pub(crate) fn replace_applications(
        &mut self,
        host: IpAddr,
        port: u16,
        apps: &[Application],
        source: &str,
        updated_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.transaction(|store| store.write_applications(host, port, apps, source, updated_at))
    }

    /// Replaces what `source` said runs on `host` port `port` inside the caller's transaction.
    pub(super) fn write_applications(
        &mut self,
        host: IpAddr,
        port: u16,
        apps: &[Application],
        source: &str,
        updated_at: Timestamp,
    ) -> Result<(), StoreError> {
        let what = || format!("applications on {host} port {port} from {source}");
        let key = [host.to_string().into(), port.into(), source.into()];
        self.exec(sql::DELETE_APPLICATION, &key, || {
            format!("replacing the {}", what())
        })?;
        for app in last_of_each(apps, package_key) {
            let row = [
                host.to_string().into(),
                port.into(),
                source.into(),
                package_key(app).into(),
                to_json(app, &what, "application")?.into(),
                updated_at.as_microsecond().into(),
            ];
            self.exec(sql::INSERT_APPLICATION, &row, || {
                format!("storing the {}", what())
            })?;
        }
        Ok(())
    }

    pub(crate) fn inventory(&mut self) -> Result<Vec<InventoryEntry>, StoreError> {
        let rows = self.query(sql::SELECT_INVENTORY, &[], || {
            "listing the inventory".into()
        })?;
        let mut entries = rows
            .iter()
            .map(|row| {
                let f = self.row_fields(row, "inventory", "listed entry".into());
                let (host, port) = (f.ip(0, "host")?, f.port(1, "port")?);
                let source = f.text(2, "source")?.to_owned();
                let f = f.keyed(format!("{host} port {port} from {source}"));
                Ok(InventoryEntry {
                    host,
                    port,
                    application: f.json(3, "application")?,
                    source,
                    updated_at: f.timestamp(4, "updated_at")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Hosts are text in the table ("192.0.2.10" < "192.0.2.2"): sort them as addresses. A
        // report's packages come by product name (then by package key, the query's order).
        entries.sort_by(|a, b| {
            (a.host, a.port, &a.source, &a.application.product).cmp(&(
                b.host,
                b.port,
                &b.source,
                &b.application.product,
            ))
        });
        Ok(entries)
    }

    pub(crate) fn remove_application(
        &mut self,
        host: IpAddr,
        port: u16,
        source: &str,
    ) -> Result<bool, StoreError> {
        let params = [host.to_string().into(), port.into(), source.into()];
        let removed = self.exec(sql::DELETE_APPLICATION, &params, || {
            format!("removing the application on {host} port {port} from {source}")
        })?;
        Ok(removed > 0)
    }

    pub(crate) fn put_vulnerabilities(
        &mut self,
        vulns: &[Vulnerability],
    ) -> Result<(), StoreError> {
        let kept = last_of_each(vulns, |v| v.id.as_str());
        // Refused before the transaction starts; encoding happens chunk by chunk inside it.
        kept.iter().try_for_each(|v| check_vulnerability(v))?;
        self.transaction(|store| {
            store.insert_encoded(
                &sql::UPSERT_VULNERABILITIES,
                &kept,
                |_, v, row| {
                    let what = || format!("vulnerability {}", v.id);
                    row.extend([v.id.as_str().into(), to_json(v, &what, "*")?.into()]);
                    Ok(())
                },
                |rows| {
                    format!(
                        "storing vulnerabilities {} to {}",
                        kept[rows.start].id,
                        kept[rows.end - 1].id
                    )
                },
            )
        })
    }

    pub(crate) fn vulnerabilities(&mut self) -> Result<Vec<Vulnerability>, StoreError> {
        let rows = self.query(sql::SELECT_VULNERABILITIES, &[], || {
            "listing vulnerabilities".into()
        })?;
        let mut vulns = rows
            .iter()
            .map(|row| {
                let f = self.row_fields(row, "vulnerabilities", "listed vulnerability".into());
                let id = f.text(0, "id")?.to_owned();
                let f = f.keyed(id);
                f.json::<Vulnerability>(1, "body")
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        vulns.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(vulns)
    }

    pub(crate) fn put_vuln_records(&mut self, records: &[VulnRecord]) -> Result<(), StoreError> {
        self.transaction(|store| store.upsert_vuln_records(records))
    }

    pub(crate) fn import_vuln_knowledge(
        &mut self,
        records: &[VulnRecord],
        applications: &[SourceApplications],
    ) -> Result<(), StoreError> {
        self.transaction(|store| {
            store.upsert_vuln_records(records)?;
            applications.iter().try_for_each(|set| {
                store.write_applications(
                    set.host,
                    set.port,
                    &set.applications,
                    &set.source,
                    set.updated_at,
                )
            })
        })
    }

    /// Inserts or replaces `records` inside the caller's transaction.
    fn upsert_vuln_records(&mut self, records: &[VulnRecord]) -> Result<(), StoreError> {
        let kept = last_of_each(records, |r| (r.kind.as_str(), r.id.as_str()));
        self.insert_encoded(
            &sql::UPSERT_VULN_RECORDS,
            &kept,
            |_, r, row| {
                let what = || format!("{} record {}", r.kind, r.id);
                row.extend([
                    r.kind.as_str().into(),
                    r.id.as_str().into(),
                    to_json(&r.body, &what, "body")?.into(),
                ]);
                Ok(())
            },
            |rows| {
                let (first, last) = (kept[rows.start], kept[rows.end - 1]);
                format!(
                    "storing vulnerability records {} {} to {} {}",
                    first.kind, first.id, last.kind, last.id
                )
            },
        )
    }

    pub(crate) fn vuln_records(
        &mut self,
        kind: Option<&str>,
        each: &mut dyn FnMut(VulnRecord),
    ) -> Result<(), StoreError> {
        let (statement, params): (&str, Vec<Value>) = match kind {
            Some(kind) => (sql::SELECT_VULN_RECORDS, vec![kind.into()]),
            None => (sql::SELECT_ALL_VULN_RECORDS, vec![]),
        };
        self.each_row(
            statement,
            &params,
            ("vuln_records", "listed record"),
            || "reading vulnerability records".into(),
            |f| {
                let (kind, id) = (f.text(0, "kind")?, f.text(1, "id")?);
                let f = f.keyed(format!("{kind} {id}"));
                each(VulnRecord {
                    kind: kind.to_owned(),
                    id: id.to_owned(),
                    body: f.json(2, "body")?,
                });
                Ok(())
            },
        )
    }

    /// Writes `alerts` in order (inside the caller's transaction). From
    /// [`PIPELINED_ALERTS`] on, a second thread turns the alerts into their parameters (the
    /// JSON body is most of an alert's cost) while this one writes those already made, and
    /// makes one batch in [`WRITER_MAKES_EVERY`] itself.
    fn write_alerts(&mut self, alerts: &[Alert]) -> Result<Vec<(i64, AlertWrite)>, StoreError> {
        let mut packer = Packer::new().map_err(|why| StoreError::Unstorable {
            what: "alerts".into(),
            field: "body",
            why,
        })?;
        if alerts.len() < PIPELINED_ALERTS {
            let params = alerts.iter().map(|alert| alert_params(alert, &mut packer));
            return self.write_alerts_from(alerts, params, drop);
        }
        let mut own = Packer::new().map_err(|why| StoreError::Unstorable {
            what: "alerts".into(),
            field: "body",
            why,
        })?;
        let writer_makes = |k: usize| k % WRITER_MAKES_EVERY == WRITER_MAKES_EVERY - 1;
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<_>>(PIPELINED_AHEAD);
            let (spent_tx, spent_rx) = std::sync::mpsc::channel::<Vec<Vec<Value>>>();
            scope.spawn(move || {
                for (k, batch) in alerts.chunks(PIPELINED_BATCH).enumerate() {
                    if writer_makes(k) {
                        continue;
                    }
                    // The rows the writer is done with are freed by this thread, which made
                    // them: a free from another thread takes a lock on this one's arena.
                    spent_rx.try_iter().for_each(drop);
                    // A closed channel: the writer stopped at an error.
                    let params = batch.iter().map(|alert| alert_params(alert, &mut packer));
                    if tx.send(params.collect()).is_err() {
                        break;
                    }
                }
            });
            // The last rows, and any sent back after the maker ended, are freed here.
            let mut spent = Vec::with_capacity(PIPELINED_BATCH);
            // A closed channel (the maker stopped) leaves rows unmade: the write reports them.
            let params = alerts
                .chunks(PIPELINED_BATCH)
                .enumerate()
                .flat_map(|(k, batch)| match writer_makes(k) {
                    true => batch.iter().map(|a| alert_params(a, &mut own)).collect(),
                    false => rx.recv().unwrap_or_default(),
                });
            self.write_alerts_from(alerts, params, |row| {
                spent.push(row);
                if spent.len() == PIPELINED_BATCH {
                    let _ = spent_tx.send(std::mem::replace(
                        &mut spent,
                        Vec::with_capacity(PIPELINED_BATCH),
                    ));
                }
            })
        })
    }

    /// Writes `alerts`, whose [`alert_params`] `params` yields in the same order, in the way
    /// that is fastest for the backend; hands each row of parameters to `spent` once written.
    fn write_alerts_from(
        &mut self,
        alerts: &[Alert],
        params: impl Iterator<Item = Result<Vec<Value>, StoreError>>,
        spent: impl FnMut(Vec<Value>),
    ) -> Result<Vec<(i64, AlertWrite)>, StoreError> {
        match self.conn.dialect() {
            Dialect::Sqlite => self.write_alerts_each(alerts, params, spent),
            Dialect::Postgres => self.write_alerts_in_rows(alerts, params, spent),
        }
    }

    /// SQLite: each alert inserted on its own unless its key is stored (see
    /// [`sql::INSERT_NEW_ALERT`]), updated otherwise. A transaction here holds the write lock
    /// from its start, so no other writer comes between the insert and the id it got.
    fn write_alerts_each(
        &mut self,
        alerts: &[Alert],
        mut params: impl Iterator<Item = Result<Vec<Value>, StoreError>>,
        mut spent: impl FnMut(Vec<Value>),
    ) -> Result<Vec<(i64, AlertWrite)>, StoreError> {
        let insert = sql::insert_rows(&sql::INSERT_NEW_ALERT, 1);
        let mut written = Vec::with_capacity(alerts.len());
        for alert in alerts {
            let key = || format!("alert {}", alert.dedup_key);
            let row = next_params(&mut params, alert)?;
            let added = match self.conn.insert_id(&insert, &row) {
                Ok(added) => added,
                Err(e) => return Err(self.db_error(format!("storing {}", key()), e)),
            };
            written.push(match added {
                Some(id) => (id, AlertWrite::New),
                None => (self.update_alert(alert, &row)?, AlertWrite::Updated),
            });
            spent(row);
        }
        Ok(written)
    }

    /// PostgreSQL: multi-row inserts that skip the keys already stored and tell which rows
    /// they added (one round trip for 256 alerts); each alert that was not added is then
    /// updated on its own. Two alerts with the same key never go in one insert: the second
    /// one, in the next, updates what the first wrote.
    fn write_alerts_in_rows(
        &mut self,
        alerts: &[Alert],
        mut params: impl Iterator<Item = Result<Vec<Value>, StoreError>>,
        mut spent: impl FnMut(Vec<Value>),
    ) -> Result<Vec<(i64, AlertWrite)>, StoreError> {
        let width = sql::UPSERT_ALERTS.width;
        let full = sql::insert_rows(&sql::UPSERT_ALERTS, sql::MAX_ROWS_PER_INSERT);
        let mut written = Vec::with_capacity(alerts.len());
        let mut values: Vec<Value> = Vec::new();
        let mut keys = HashSet::new();
        while written.len() < alerts.len() {
            let start = written.len();
            let want = sql::rows_per_insert(alerts.len() - start);
            values.clear();
            keys.clear();
            for alert in &alerts[start..start + want] {
                if !keys.insert((alert.dedup_key.as_str(), alert.window_start)) {
                    break;
                }
                let made = next_params(&mut params, alert)?;
                values.extend(made);
            }
            let chunk = &alerts[start..start + values.len() / width];
            let partial;
            let statement = if chunk.len() == sql::MAX_ROWS_PER_INSERT {
                &full
            } else {
                partial = sql::insert_rows(&sql::UPSERT_ALERTS, chunk.len());
                &partial
            };
            let rows = self.query(statement, &values, || {
                format!(
                    "storing alert {} and the {} after it",
                    chunk.first().map_or("", |a| a.dedup_key.as_str()),
                    chunk.len().saturating_sub(1)
                )
            })?;
            let mut added: HashMap<String, Vec<(i64, i64)>> = HashMap::with_capacity(rows.len());
            for row in &rows {
                let f = self.row_fields(row, "alerts", "alert just stored".into());
                let (id, window) = (f.int(0, "id")?, f.int(2, "window_start")?);
                added
                    .entry(f.text(1, "dedup_key")?.to_owned())
                    .or_default()
                    .push((window, id));
            }
            for (i, alert) in chunk.iter().enumerate() {
                let window = alert.window_start.as_microsecond();
                let new = added
                    .get(alert.dedup_key.as_str())
                    .and_then(|ids| ids.iter().find(|(w, _)| *w == window));
                written.push(match new {
                    Some(&(_, id)) => (id, AlertWrite::New),
                    None => {
                        let row = &values[i * width..(i + 1) * width];
                        (self.update_alert(alert, row)?, AlertWrite::Updated)
                    }
                });
            }
            spent(std::mem::take(&mut values));
        }
        Ok(written)
    }

    /// Overwrites the stored alert with `alert`'s key from its [`alert_params`]; its id.
    fn update_alert(&mut self, alert: &Alert, params: &[Value]) -> Result<i64, StoreError> {
        let key = || format!("alert {}", alert.dedup_key);
        let rows = self.query(sql::UPDATE_ALERT, params, || format!("updating {}", key()))?;
        self.fields(&rows, "alerts", key)?.int(0, "id")
    }

    pub(crate) fn upsert_alert(&mut self, alert: &mut Alert) -> Result<AlertWrite, StoreError> {
        let written = self.transaction(|store| store.write_alerts(std::slice::from_ref(alert)))?;
        let Some(&(id, write)) = written.first() else {
            return Err(StoreError::Unstorable {
                what: format!("alert {}", alert.dedup_key),
                field: "*",
                why: "the store gave no write for it".into(),
            });
        };
        alert.id = Some(id);
        Ok(write)
    }

    /// Every alert in one transaction: one disk sync for a whole batch, all or nothing.
    pub(crate) fn upsert_alerts(
        &mut self,
        alerts: &mut [Alert],
        meanwhile: &mut dyn FnMut(&[Alert], &[AlertWrite]),
    ) -> Result<Vec<AlertWrite>, StoreError> {
        self.alerts_transaction(
            alerts,
            |store, alerts| store.write_alerts(alerts),
            meanwhile,
        )
    }

    /// Writes `alerts` with `write` in a transaction, then commits it; while a batch of
    /// [`OVERLAPPED_COMMIT`] alerts or more commits on a second thread, `meanwhile` runs here on
    /// the alerts as stored (ids set) and what happened to each (a smaller batch calls it after
    /// the commit). After a failure nothing is stored and every id is as it was.
    fn alerts_transaction(
        &mut self,
        alerts: &mut [Alert],
        write: impl FnOnce(&mut Self, &[Alert]) -> Result<Vec<(i64, AlertWrite)>, StoreError>,
        meanwhile: &mut dyn FnMut(&[Alert], &[AlertWrite]),
    ) -> Result<Vec<AlertWrite>, StoreError> {
        let begin = self.conn.dialect().begin();
        self.batch(begin, || "starting a transaction".into())?;
        let written = match write(self, alerts) {
            Ok(written) => written,
            Err(e) => return self.end_transaction(Err(e)),
        };
        let ids: Vec<Option<i64>> = alerts.iter().map(|a| a.id).collect();
        let writes = assign_ids(alerts, written);
        let committed = if alerts.len() >= OVERLAPPED_COMMIT {
            let conn = &mut *self.conn;
            std::thread::scope(|scope| {
                let commit = scope.spawn(move || conn.batch("COMMIT"));
                meanwhile(alerts, &writes);
                // A panic while committing is a bug: it goes on as the panic it is.
                commit
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        } else {
            self.conn
                .batch("COMMIT")
                .inspect(|()| meanwhile(alerts, &writes))
        };
        match committed {
            Ok(()) => Ok(writes),
            Err(e) => {
                for (alert, id) in alerts.iter_mut().zip(ids) {
                    alert.id = id;
                }
                // As after any failed commit: SQLite keeps the transaction open after BUSY.
                let _ = self.conn.batch("ROLLBACK");
                Err(self.db_error("committing".into(), e))
            }
        }
    }

    fn read_alerts(
        &mut self,
        statement: &str,
        params: &[Value],
        op: impl FnOnce() -> String,
    ) -> Result<Vec<Alert>, StoreError> {
        let rows = self.query(statement, params, op)?;
        rows.iter()
            .map(|row| Ok(alert_of(self.row_fields(row, "alerts", "listed alert".into()))?.1))
            .collect()
    }

    pub(crate) fn alerts(&mut self, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
        let (query, params) = alert_query(sql::SELECT_ALERTS, filter);
        self.read_alerts(&query, &params, || "listing alerts".into())
    }

    pub(crate) fn triaged_alerts(
        &mut self,
        filter: &AlertFilter,
    ) -> Result<Vec<TriagedAlert>, StoreError> {
        let (query, params) = alert_query(sql::SELECT_TRIAGED_ALERTS, filter);
        let rows = self.query(&query, &params, || {
            "listing alerts with their triage".into()
        })?;
        rows.iter()
            .map(|row| {
                let (f, alert) = alert_of(self.row_fields(row, "alerts", "listed alert".into()))?;
                let triage = AlertTriage {
                    status: f.name(2, "status")?,
                    close_reason: f.opt_name(3, "close_reason")?,
                    note: f.opt_text(4, "triage_note")?.map(str::to_owned),
                    by: f.opt_text(5, "triaged_by")?.map(str::to_owned),
                    at: f.opt_timestamp(6, "triaged_at")?,
                };
                Ok(TriagedAlert { alert, triage })
            })
            .collect()
    }

    pub(crate) fn set_alert_triage(
        &mut self,
        id: i64,
        triage: &AlertTriage,
    ) -> Result<bool, StoreError> {
        let params = [
            triage.status.as_str().into(),
            triage.close_reason.map(|r| r.as_str()).into(),
            triage.note.clone().into(),
            triage.by.clone().into(),
            triage.at.map(Timestamp::as_microsecond).into(),
            id.into(),
        ];
        let rows = self.query(sql::SET_ALERT_TRIAGE, &params, || {
            format!("triaging alert {id}")
        })?;
        Ok(!rows.is_empty())
    }

    pub(crate) fn alert_counts(&mut self) -> Result<Vec<AlertCount>, StoreError> {
        let rows = self.query(sql::COUNT_ALERTS, &[], || "counting alerts".into())?;
        rows.iter()
            .map(|row| {
                let f = self.row_fields(row, "alerts", "alert count".into());
                Ok(AlertCount {
                    severity: f.name(0, "severity")?,
                    status: f.name(1, "status")?,
                    count: u64::try_from(f.int(2, "count")?).unwrap_or(0),
                })
            })
            .collect()
    }

    pub(crate) fn open_alerts(&mut self, since: Timestamp) -> Result<Vec<Alert>, StoreError> {
        self.read_alerts(
            sql::SELECT_OPEN_ALERTS,
            &[since.as_microsecond().into()],
            || format!("listing the alerts of windows since {since}"),
        )
    }

    pub(crate) fn add_suppression(&mut self, s: &Suppression) -> Result<i64, StoreError> {
        let what = || format!("suppression {:?}", s.reason);
        if let Some(id) = s.id {
            return Err(StoreError::AlreadyStored { what: what(), id });
        }
        let params = [
            s.client.map(|net| net.to_string()).into(),
            s.port.into(),
            s.application.clone().into(),
            s.reason.as_str().into(),
            s.created_at.as_microsecond().into(),
            s.expires_at.map(Timestamp::as_microsecond).into(),
        ];
        let rows = self.query(sql::INSERT_SUPPRESSION, &params, || {
            format!("storing {}", what())
        })?;
        self.fields(&rows, "suppressions", what)?.int(0, "id")
    }

    pub(crate) fn suppressions(&mut self) -> Result<Vec<Suppression>, StoreError> {
        let rows = self.query(sql::SELECT_SUPPRESSIONS, &[], || {
            "listing suppressions".into()
        })?;
        rows.iter()
            .map(|row| {
                let f = self.row_fields(row, "suppressions", "listed suppression".into());
                let id = f.int(0, "id")?;
                let f = f.keyed(format!("suppression {id}"));
                Ok(Suppression {
                    id: Some(id),
                    client: f.opt_net(1, "client")?,
                    port: f
                        .opt_int(2, "port")?
                        .map(|_| f.port(2, "port"))
                        .transpose()?,
                    application: f.opt_text(3, "application")?.map(str::to_owned),
                    reason: f.text(4, "reason")?.to_owned(),
                    created_at: f.timestamp(5, "created_at")?,
                    expires_at: f.opt_timestamp(6, "expires_at")?,
                })
            })
            .collect()
    }

    pub(crate) fn remove_suppression(&mut self, id: i64) -> Result<bool, StoreError> {
        let removed = self.exec(sql::DELETE_SUPPRESSION, &[id.into()], || {
            format!("removing suppression {id}")
        })?;
        Ok(removed > 0)
    }

    pub(crate) fn checkpoint(
        &mut self,
        source: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let rows = self.query(sql::SELECT_CHECKPOINT, &[source.into()], || {
            format!("reading the checkpoint of {source}")
        })?;
        let body: Option<serde_json::Value> = rows
            .first()
            .map(|row| {
                self.row_fields(row, "checkpoints", source.to_owned())
                    .json(0, "body")
            })
            .transpose()?;
        // A checkpoint claimed but never saved holds `null`.
        Ok(body.filter(|b| !b.is_null()))
    }

    pub(crate) fn save_checkpoint_with_alerts(
        &mut self,
        source: &str,
        checkpoint: &serde_json::Value,
        alerts: &mut [Alert],
        meanwhile: &mut dyn FnMut(&[Alert], &[AlertWrite]),
    ) -> Result<Vec<AlertWrite>, StoreError> {
        let what = || format!("checkpoint of {source}");
        let body = to_json(checkpoint, &what, "checkpoint")?;
        self.alerts_transaction(
            alerts,
            |store, alerts| {
                let written = store.write_alerts(alerts)?;
                store.exec(
                    sql::UPSERT_CHECKPOINT,
                    &[source.into(), body.into()],
                    || format!("saving the {}", what()),
                )?;
                Ok(written)
            },
            meanwhile,
        )
    }

    pub(crate) fn claim_checkpoint(
        &mut self,
        source: &str,
    ) -> Result<ClaimedCheckpoint, StoreError> {
        let rows = self.query(sql::CLAIM_CHECKPOINT, &[source.into()], || {
            format!("claiming the checkpoint of {source}")
        })?;
        let f = self.fields(&rows, "checkpoints", || source.to_owned())?;
        let checkpoint: serde_json::Value = f.json(1, "body")?;
        Ok(ClaimedCheckpoint {
            epoch: f.int(0, "epoch")?,
            checkpoint: Some(checkpoint).filter(|c| !c.is_null()),
        })
    }

    pub(crate) fn save_fenced_checkpoint_with_alerts(
        &mut self,
        source: &str,
        epoch: i64,
        checkpoint: &serde_json::Value,
        alerts: &mut [Alert],
    ) -> Result<Vec<AlertWrite>, StoreError> {
        let what = || format!("checkpoint of {source}");
        let body = to_json(checkpoint, &what, "checkpoint")?;
        let written = self.transaction(|store| {
            // First, so that a superseded holder writes no alert either; in PostgreSQL the
            // update also locks the row, so a claim waits until this transaction ends.
            let set = store.exec(
                sql::SAVE_FENCED_CHECKPOINT,
                &[body.into(), source.into(), epoch.into()],
                || format!("saving the {} under epoch {epoch}", what()),
            )?;
            if set == 0 {
                return Err(StoreError::Fenced {
                    location: store.location.to_owned(),
                    checkpoint: source.to_owned(),
                    epoch,
                });
            }
            store.write_alerts(alerts)
        })?;
        Ok(assign_ids(alerts, written))
    }

    pub(crate) fn record_block(&mut self, block: &BlockRecord) -> Result<i64, StoreError> {
        let what = || format!("block of {}", block.net);
        if let Some(id) = block.id {
            return Err(StoreError::AlreadyStored { what: what(), id });
        }
        let params = [
            block.net.to_string().into(),
            block.reason.as_str().into(),
            block.alert_id.into(),
            block.created_at.as_microsecond().into(),
            block.expires_at.map(Timestamp::as_microsecond).into(),
            block.removed_at.map(Timestamp::as_microsecond).into(),
        ];
        let added = match self.conn.insert_id(sql::INSERT_BLOCK, &params) {
            Ok(added) => added,
            Err(e) => return Err(self.db_error(format!("storing {}", what()), e)),
        };
        added.ok_or_else(|| StoreError::Unstorable {
            what: what(),
            field: "id",
            why: "the database added no row".into(),
        })
    }

    pub(crate) fn blocks(
        &mut self,
        active_at: Option<Timestamp>,
    ) -> Result<Vec<BlockRecord>, StoreError> {
        let rows = match active_at {
            Some(at) => self.query(
                sql::SELECT_ACTIVE_BLOCKS,
                &[at.as_microsecond().into()],
                || format!("listing the blocks in force at {at}"),
            )?,
            None => self.query(sql::SELECT_BLOCKS, &[], || "listing blocks".into())?,
        };
        rows.iter()
            .map(|row| {
                let f = self.row_fields(row, "blocks", "listed block".into());
                let id = f.int(0, "id")?;
                let f = f.keyed(format!("block {id}"));
                Ok(BlockRecord {
                    id: Some(id),
                    net: f.net(1, "net")?,
                    reason: f.text(2, "reason")?.to_owned(),
                    alert_id: f.opt_int(3, "alert_id")?,
                    created_at: f.timestamp(4, "created_at")?,
                    expires_at: f.opt_timestamp(5, "expires_at")?,
                    removed_at: f.opt_timestamp(6, "removed_at")?,
                })
            })
            .collect()
    }

    pub(crate) fn mark_unblocked(&mut self, net: IpNet, at: Timestamp) -> Result<u64, StoreError> {
        self.exec(
            sql::MARK_UNBLOCKED,
            &[at.as_microsecond().into(), net.to_string().into()],
            || format!("marking {net} unblocked"),
        )
    }
}

/// Sets each alert's id once its transaction committed: a rolled-back alert must not look stored.
/// The next of the [`alert_params`] rows made for the alerts in order: `alert`'s.
fn next_params(
    params: &mut impl Iterator<Item = Result<Vec<Value>, StoreError>>,
    alert: &Alert,
) -> Result<Vec<Value>, StoreError> {
    params.next().ok_or_else(|| StoreError::Unstorable {
        what: format!("alert {}", alert.dedup_key),
        field: "*",
        why: "its parameters were never made".into(),
    })?
}

fn assign_ids(alerts: &mut [Alert], written: Vec<(i64, AlertWrite)>) -> Vec<AlertWrite> {
    alerts
        .iter_mut()
        .zip(written)
        .map(|(alert, (id, write))| {
            alert.id = Some(id);
            write
        })
        .collect()
}

/// An alert from a row whose first columns are its id and body, with the row's fields keyed by
/// the alert for the columns that follow.
fn alert_of(f: Fields<'_>) -> Result<(Fields<'_>, Alert), StoreError> {
    let id = f.int(0, "id")?;
    let f = f.keyed(format!("alert {id}"));
    let mut alert: Alert = f.packed_json(1, "body")?;
    alert.id = Some(id);
    Ok((f, alert))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The alert filter compares ranks: they must follow the severities' own order.
    #[test]
    fn severity_ranks_follow_severity_order() {
        for pair in Severity::ALL.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(severity_rank(pair[0]) < severity_rank(pair[1]));
        }
    }

    #[test]
    fn keeps_the_last_of_each_key_in_first_order() {
        let items = [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)];
        let kept: Vec<_> = last_of_each(&items, |i| i.0).into_iter().copied().collect();
        assert_eq!(kept, [("a", 3), ("b", 5), ("c", 4)]);
    }

    #[test]
    fn an_indicator_without_extras_stores_null() {
        let bare = Indicator::new("192.0.2.0/24".parse().unwrap(), "drop");
        assert_eq!(indicator_extra(&bare, &String::new).unwrap(), None);
        let mut scored = bare.clone();
        scored.score = Some(2.5);
        assert_eq!(
            indicator_extra(&scored, &String::new).unwrap().as_deref(),
            Some(r#"{"score":2.5}"#)
        );
    }
}
