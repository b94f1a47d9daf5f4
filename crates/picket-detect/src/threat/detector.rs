//! The bad-client rule: correlate each connection event with the intel table and the inventory,
//! and keep one aggregated alert per client, host port, application and window.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use picket_intel::IntelTable;
use picket_model::{
    ALERT_MAX_SOURCES, Alert, AlertKind, ConnEvent, ConnOutcome, HomeNet, IntelHit, Suppression,
    Timestamp, Transport,
};
use thiserror::Error;

use super::inventory::{Inventory, InventoryApp};
use super::severity::assess;

/// The rule's knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreatSettings {
    /// How long one alert gathers connections, from its first connection: a connection at or
    /// after `window_start + window` starts a new alert (with a new dedup key).
    pub window: Duration,
    /// How many distinct feeds must list a client before its connections count.
    pub min_feeds: usize,
}

impl ThreatSettings {
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);
    /// Longer windows would keep alerts open for more than a year; nobody reads those.
    pub const MAX_WINDOW: Duration = Duration::from_secs(366 * 24 * 3600);

    fn validate(&self) -> Result<SignedDuration, ThreatError> {
        if self.min_feeds == 0 {
            return Err(ThreatError::BadSetting {
                field: "min_feeds",
                why: "must be at least 1: with 0 every outside client would raise alerts".into(),
            });
        }
        if self.window < Duration::from_secs(1) || self.window > Self::MAX_WINDOW {
            return Err(ThreatError::BadSetting {
                field: "window",
                why: format!(
                    "{:?} is outside 1 s ..= {} days",
                    self.window,
                    Self::MAX_WINDOW.as_secs() / 86_400
                ),
            });
        }
        SignedDuration::try_from(self.window).map_err(|e| ThreatError::BadSetting {
            field: "window",
            why: e.to_string(),
        })
    }
}

impl Default for ThreatSettings {
    fn default() -> Self {
        Self {
            window: Self::DEFAULT_WINDOW,
            min_feeds: 1,
        }
    }
}

/// Why a detector could not be built.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ThreatError {
    #[error("threat setting {field}: {why}")]
    BadSetting { field: &'static str, why: String },
}

/// What one event did to an alert: the alert as it now stands.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertChange {
    /// The first connection of a new alert (a new dedup key).
    New(Alert),
    /// A further connection of an open alert (same dedup key; counts and severity moved).
    Updated(Alert),
}

impl AlertChange {
    pub fn alert(&self) -> &Alert {
        match self {
            AlertChange::New(a) | AlertChange::Updated(a) => a,
        }
    }

    pub fn into_alert(self) -> Alert {
        match self {
            AlertChange::New(a) | AlertChange::Updated(a) => a,
        }
    }

    pub fn is_new(&self) -> bool {
        matches!(self, AlertChange::New(_))
    }
}

/// What the detector saw. Event counts funnel down (`events >= inbound >= to_vulnerable >=
/// listed`); each listed event then counts once per vulnerable application at its port, as
/// exactly one of `alerted`, `suppressed` or `stale`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreatStats {
    pub events: u64,
    /// From outside the home network to a home address, with a destination port.
    pub inbound: u64,
    /// Of those, to a host port with an application that has vulnerabilities.
    pub to_vulnerable: u64,
    /// Of those, from a client listed by at least `min_feeds` feeds.
    pub listed: u64,
    /// (event, application) pairs counted into an alert.
    pub alerted: u64,
    /// Pairs silenced by a suppression.
    pub suppressed: u64,
    /// Pairs at least two windows older than the newest event seen: their window was closed,
    /// and a new alert for them could repeat a closed alert's key.
    pub stale: u64,
    pub new_alerts: u64,
    pub updated_alerts: u64,
}

/// The client, host, port and transport of open alerts; one alert per application inside.
type PortKey = (IpAddr, IpAddr, u16, Transport);

/// A connection that its source writes as several records ([`picket_model::FlowRef`]): the
/// source file and the flow's key there.
type FlowId = (String, String);

/// An alert still gathering connections, with what it counted of connections whose records
/// may go on arriving.
#[derive(Debug)]
struct OpenAlert {
    alert: Alert,
    /// Dropped at a flow's last record; the rest go with the alert when its window ages out.
    flows: HashMap<FlowId, Counted>,
    /// Changed by [`ThreatDetector::record_judged`] since [`ThreatDetector::take_changed`].
    changed: bool,
}

impl OpenAlert {
    fn new(alert: Alert) -> Self {
        Self {
            alert,
            flows: HashMap::new(),
            changed: false,
        }
    }
}

/// What one connection added to an alert's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counted {
    outcome: Option<ConnOutcome>,
    bytes_out: u64,
    bytes_in: u64,
    packets_out: u64,
    packets_in: u64,
}

impl Counted {
    fn of(ev: &ConnEvent) -> Self {
        Self {
            outcome: Some(ev.outcome),
            bytes_out: ev.bytes_out.unwrap_or(0),
            bytes_in: ev.bytes_in.unwrap_or(0),
            packets_out: ev.packets_out.unwrap_or(0),
            packets_in: ev.packets_in.unwrap_or(0),
        }
    }

    /// A later record of the same connection: counters only grow, so the larger is the newer;
    /// the furthest outcome any record saw is how far the connection got.
    fn merge(self, later: Self) -> Self {
        let rank = |o: Option<ConnOutcome>| match o {
            Some(ConnOutcome::Established) => 4,
            Some(ConnOutcome::Rejected) => 3,
            Some(ConnOutcome::Attempted) => 2,
            Some(ConnOutcome::Unknown) => 1,
            None => 0,
        };
        Self {
            outcome: if rank(later.outcome) > rank(self.outcome) {
                later.outcome
            } else {
                self.outcome
            },
            bytes_out: self.bytes_out.max(later.bytes_out),
            bytes_in: self.bytes_in.max(later.bytes_in),
            packets_out: self.packets_out.max(later.packets_out),
            packets_in: self.packets_in.max(later.packets_in),
        }
    }
}

/// How far an event gets through the rule's first three conditions, decided from its addresses,
/// destination port and transport alone (see [`Screen::verdict`]). Ordered: each stage passed the
/// ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// No destination port, or not inbound from outside the home network.
    Ignored,
    /// Inbound, to a host port without a vulnerable application.
    Inbound,
    /// Inbound to a vulnerable application, from a client on fewer than `min_feeds` feeds.
    ToVulnerable,
    /// Inbound to a vulnerable application from a listed client: only this needs the whole event.
    Listed,
}

/// The read-only part of the rule (home network, inventory, intel table, `min_feeds`): decides
/// an event's [`Verdict`] without touching any alert, so that parsers on other threads can
/// leave out the rest of the fields of the events that cannot raise anything. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Screen {
    intel: Arc<IntelTable>,
    inventory: Arc<Inventory>,
    home: HomeNet,
    min_feeds: usize,
}

impl Screen {
    /// The verdict on a connection from `src` to `dst`:`dst_port` over `proto`, exactly as
    /// [`ThreatDetector::observe`] counts it.
    pub fn verdict(
        &self,
        src: IpAddr,
        dst: IpAddr,
        dst_port: Option<u16>,
        proto: Transport,
    ) -> Verdict {
        let Some(port) = dst_port else {
            return Verdict::Ignored;
        };
        if self.home.contains(src) || !self.home.contains(dst) {
            return Verdict::Ignored;
        }
        let apps = self.inventory.get(dst.to_canonical(), port, proto);
        if !apps.iter().any(|a| !a.vulns.is_empty()) {
            return Verdict::Inbound;
        }
        if self.intel.feed_count(src.to_canonical()) < self.min_feeds {
            return Verdict::ToVulnerable;
        }
        Verdict::Listed
    }
}

/// Raises "bad external client IP connection to vulnerable application" alerts from a stream of
/// connection events.
///
/// Time comes only from the events: the newest event time seen is "now", which closes windows
/// and ages out open alerts, so replaying a log gives the same alerts as reading it live.
/// Events slightly out of order are counted in the open alert (its `first_seen` may then be
/// earlier than its `window_start`).
#[derive(Debug)]
pub struct ThreatDetector {
    screen: Screen,
    settings: ThreatSettings,
    window: SignedDuration,
    suppressions: Vec<Suppression>,
    suppressed_by: Vec<u64>,
    /// Looked up for every event from a listed client: a fast keyed hash (seeded per map)
    /// rather than SipHash.
    open: HashMap<PortKey, Vec<OpenAlert>, foldhash::fast::RandomState>,
    /// Changed alerts that left `open` (aged out, or followed by the next window's) before
    /// [`ThreatDetector::take_changed`] took them.
    retired: Vec<Alert>,
    /// The ports of `open` where an alert was marked changed since the last take: what
    /// [`ThreatDetector::take_changed`] visits, so that a flush costs what changed, not every
    /// open alert (a key may come twice; its alert may have left since).
    changed_ports: Vec<PortKey>,
    now: Option<Timestamp>,
    next_sweep: Option<Timestamp>,
    stats: ThreatStats,
}

impl ThreatDetector {
    pub fn new(
        intel: Arc<IntelTable>,
        inventory: Inventory,
        home: HomeNet,
        settings: ThreatSettings,
        suppressions: Vec<Suppression>,
    ) -> Result<Self, ThreatError> {
        let window = settings.validate()?;
        Ok(Self {
            screen: Screen {
                intel,
                inventory: Arc::new(inventory),
                home,
                min_feeds: settings.min_feeds,
            },
            settings,
            window,
            suppressed_by: vec![0; suppressions.len()],
            suppressions,
            open: HashMap::default(),
            retired: Vec::new(),
            changed_ports: Vec::new(),
            now: None,
            next_sweep: None,
            stats: ThreatStats::default(),
        })
    }

    /// Swaps in a new intel table (feeds reloaded); open alerts take the new view on their next
    /// connection.
    pub fn set_intel(&mut self, intel: Arc<IntelTable>) {
        self.screen.intel = intel;
    }

    /// Swaps in a new inventory (a new scan or vulnerability database).
    pub fn set_inventory(&mut self, inventory: Inventory) {
        self.screen.inventory = Arc::new(inventory);
    }

    /// Replaces the suppressions; their counters start at zero.
    pub fn set_suppressions(&mut self, suppressions: Vec<Suppression>) {
        self.suppressed_by = vec![0; suppressions.len()];
        self.suppressions = suppressions;
    }

    pub fn settings(&self) -> ThreatSettings {
        self.settings
    }

    /// The rule's read-only part as it stands now (a swap later does not change the copy).
    pub fn screen(&self) -> Screen {
        self.screen.clone()
    }

    pub fn stats(&self) -> ThreatStats {
        self.stats
    }

    /// Each suppression with the number of (event, application) pairs it silenced.
    pub fn suppressed(&self) -> impl Iterator<Item = (&Suppression, u64)> {
        self.suppressions
            .iter()
            .zip(self.suppressed_by.iter().copied())
    }

    /// Open alerts (windows not yet aged out).
    pub fn open_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.open.values().flatten().map(|o| &o.alert)
    }

    /// Resumes the windows of alerts stored before a restart, so that the connections that
    /// follow update them instead of opening duplicates. Alerts of other kinds are skipped;
    /// of two alerts for the same client, port and application the later window wins. Returns
    /// how many were taken.
    pub fn load_open(&mut self, alerts: impl IntoIterator<Item = Alert>) -> usize {
        let mut taken = 0;
        for alert in alerts {
            if alert.kind != AlertKind::BadClientToVulnerableApp {
                continue;
            }
            self.advance(alert.last_seen);
            let key = (
                alert.client.to_canonical(),
                alert.host.to_canonical(),
                alert.port,
                alert.transport,
            );
            let slot = self.open.entry(key).or_default();
            match slot
                .iter_mut()
                .find(|o| o.alert.application == alert.application)
            {
                Some(open) if open.alert.window_start >= alert.window_start => continue,
                Some(open) => {
                    let before = std::mem::replace(open, OpenAlert::new(alert));
                    if before.changed {
                        self.retired.push(before.alert);
                    }
                }
                None => slot.push(OpenAlert::new(alert)),
            }
            taken += 1;
        }
        self.sweep();
        taken
    }

    /// Takes one connection event; returns the alerts it created or updated (one per
    /// vulnerable application at the port, so usually none or one).
    pub fn observe(&mut self, ev: &ConnEvent) -> Vec<AlertChange> {
        let mut changes = Vec::new();
        self.observe_each(ev, |change| changes.push(change));
        changes
    }

    /// [`ThreatDetector::observe`], handing each change to `take` as it is made: a stream
    /// of events pays for no list per event.
    pub fn observe_each(&mut self, ev: &ConnEvent, take: impl FnMut(AlertChange)) {
        let verdict = self.screen.verdict(ev.src, ev.dst, ev.dst_port, ev.proto);
        self.observe_judged(ev, verdict, take);
    }

    /// [`ThreatDetector::observe_each`] for an event this detector's [`Screen`] already judged
    /// (`verdict` is what [`Screen::verdict`] said of it): the screen is not asked again.
    pub fn observe_judged(
        &mut self,
        ev: &ConnEvent,
        verdict: Verdict,
        mut take: impl FnMut(AlertChange),
    ) {
        self.count_in(ev, verdict, |open, new| {
            let alert = open.alert.clone();
            take(if new {
                AlertChange::New(alert)
            } else {
                AlertChange::Updated(alert)
            })
        });
    }

    /// Counts an event this detector's [`Screen`] judged (as [`ThreatDetector::observe_judged`]
    /// does) and marks the alerts it created or updated, for [`ThreatDetector::take_changed`],
    /// rather than handing out a copy of each at every change.
    pub fn record_judged(&mut self, ev: &ConnEvent, verdict: Verdict) {
        self.count_in(ev, verdict, |open, _| open.changed = true);
    }

    /// [`ThreatDetector::record_judged`], the screen asked here.
    pub fn record(&mut self, ev: &ConnEvent) {
        let verdict = self.screen.verdict(ev.src, ev.dst, ev.dst_port, ev.proto);
        self.record_judged(ev, verdict);
    }

    /// Whether an alert changed since [`ThreatDetector::take_changed`] (by
    /// [`ThreatDetector::record_judged`]).
    pub fn has_changed(&self) -> bool {
        !self.retired.is_empty() || !self.changed_ports.is_empty()
    }

    /// Each alert [`ThreatDetector::record_judged`] changed since the last call, in its latest
    /// state, ordered by window start and dedup key; the marks are cleared.
    pub fn take_changed(&mut self) -> Vec<Alert> {
        let mut alerts = std::mem::take(&mut self.retired);
        for key in self.changed_ports.drain(..) {
            let Some(slot) = self.open.get_mut(&key) else {
                continue;
            };
            for open in slot.iter_mut().filter(|o| o.changed) {
                open.changed = false;
                alerts.push(open.alert.clone());
            }
        }
        by_window_and_key(alerts)
    }

    /// [`ThreatDetector::take_changed`] for a detector that sees no more events: the changed
    /// alerts are moved out, not copied, and are no longer open here.
    pub fn drain_changed(&mut self) -> Vec<Alert> {
        let mut alerts = std::mem::take(&mut self.retired);
        self.changed_ports.clear();
        self.open.retain(|_, slot| {
            take_where(slot, |o| o.changed, |o| alerts.push(o.alert));
            !slot.is_empty()
        });
        by_window_and_key(alerts)
    }

    /// Counts `ev` into the alerts of its port, handing each one it created (`true`) or
    /// updated to `changed`.
    fn count_in(
        &mut self,
        ev: &ConnEvent,
        verdict: Verdict,
        mut changed: impl FnMut(&mut OpenAlert, bool),
    ) {
        self.observe_screened(ev.ts, verdict);
        let Some(port) = ev.dst_port.filter(|_| verdict == Verdict::Listed) else {
            return;
        };
        let client = ev.src.to_canonical();
        let host = ev.dst.to_canonical();
        let screen = &self.screen;
        let apps = screen.inventory.get(host, port, ev.proto);
        let hits: Vec<IntelHit> = screen.intel.lookup(client).map(|i| i.hit()).collect();

        let stale = self
            .now
            .and_then(|now| now.checked_sub(self.window * 2).ok())
            .is_some_and(|horizon| ev.ts <= horizon);
        for app in apps.iter().filter(|a| !a.vulns.is_empty()) {
            if stale {
                self.stats.stale += 1;
                continue;
            }
            let product = app.application.product.as_str();
            if let Some(i) = self
                .suppressions
                .iter()
                .position(|s| s.matches_connection(client, port, product, ev.ts))
            {
                self.suppressed_by[i] += 1;
                self.stats.suppressed += 1;
                continue;
            }
            self.stats.alerted += 1;
            let key = (client, host, port, ev.proto);
            let slot = self.open.entry(key).or_default();
            let open = slot
                .iter_mut()
                .position(|o| o.alert.application == app.application);
            match open {
                Some(i) if ev.ts < window_end(slot[i].alert.window_start, self.window) => {
                    let open = &mut slot[i];
                    add(open, ev, &hits, app);
                    self.stats.updated_alerts += 1;
                    let was = open.changed;
                    changed(open, false);
                    if open.changed && !was {
                        self.changed_ports.push(key);
                    }
                }
                found => {
                    let mut open = new_alert(client, host, port, ev, &hits, app);
                    self.stats.new_alerts += 1;
                    changed(&mut open, true);
                    if open.changed {
                        self.changed_ports.push(key);
                    }
                    match found {
                        Some(i) => {
                            let before = std::mem::replace(&mut slot[i], open);
                            if before.changed {
                                self.retired.push(before.alert);
                            }
                        }
                        None => {
                            // Nearly every port has one application: room for one, not the
                            // four a first push would make.
                            slot.reserve_exact(1);
                            slot.push(open);
                        }
                    }
                }
            }
        }
    }

    /// Alerts whose window started at or before this can change no more, whatever comes: a
    /// connection counts into an alert only before its window ends, and a connection more
    /// than two windows older than the newest event seen is stale. `None` before any event.
    pub fn settled_before(&self) -> Option<Timestamp> {
        self.now
            .and_then(|now| now.checked_sub(self.window * 3).ok())
    }

    /// Counts an event that [`Screen::verdict`] judged (on this detector's screen) from its time
    /// and verdict alone: what [`ThreatDetector::observe`] does with it, when the verdict is
    /// short of [`Verdict::Listed`] (which needs the whole event: pass it to `observe`).
    pub fn observe_screened(&mut self, ts: Timestamp, verdict: Verdict) {
        self.stats.events += 1;
        self.advance(ts);
        self.sweep();
        if verdict >= Verdict::Inbound {
            self.stats.inbound += 1;
        }
        if verdict >= Verdict::ToVulnerable {
            self.stats.to_vulnerable += 1;
        }
        if verdict >= Verdict::Listed {
            self.stats.listed += 1;
        }
    }

    fn advance(&mut self, ts: Timestamp) {
        if self.now.is_none_or(|now| ts > now) {
            self.now = Some(ts);
        }
    }

    /// Drops alerts whose window ended a window ago or more; runs at most once per window of
    /// event time, so that a busy stream pays for it rarely.
    fn sweep(&mut self) {
        let Some(now) = self.now else { return };
        if self.next_sweep.is_some_and(|next| now < next) {
            return;
        }
        if let Ok(horizon) = now.checked_sub(self.window * 2) {
            let retired = &mut self.retired;
            self.open.retain(|_, alerts| {
                take_where(
                    alerts,
                    |o| o.alert.window_start <= horizon,
                    |gone| {
                        if gone.changed {
                            retired.push(gone.alert);
                        }
                    },
                );
                !alerts.is_empty()
            });
        }
        self.next_sweep = Some(window_end(now, self.window));
    }
}

/// Removes the open alerts of `slot` that `which` picks, in order, handing each to `gone`.
fn take_where(
    slot: &mut Vec<OpenAlert>,
    which: impl Fn(&OpenAlert) -> bool,
    mut gone: impl FnMut(OpenAlert),
) {
    let mut i = 0;
    while i < slot.len() {
        if which(&slot[i]) {
            gone(slot.remove(i));
        } else {
            i += 1;
        }
    }
}

/// Alerts in the order they are stored and handed out: by window start, then dedup key.
fn by_window_and_key(mut alerts: Vec<Alert>) -> Vec<Alert> {
    alerts.sort_unstable_by(|a, b| {
        (a.window_start, &a.dedup_key).cmp(&(b.window_start, &b.dedup_key))
    });
    alerts
}

fn window_end(start: Timestamp, window: SignedDuration) -> Timestamp {
    start.checked_add(window).unwrap_or(Timestamp::MAX)
}

fn new_alert(
    client: IpAddr,
    host: IpAddr,
    port: u16,
    ev: &ConnEvent,
    hits: &[IntelHit],
    app: &InventoryApp,
) -> OpenAlert {
    let kind = AlertKind::BadClientToVulnerableApp;
    let alert = Alert {
        id: None,
        kind,
        dedup_key: Alert::dedup_key_for(
            kind,
            client,
            host,
            port,
            ev.proto,
            &app.application,
            ev.ts,
        ),
        window_start: ev.ts,
        client,
        host,
        port,
        transport: ev.proto,
        application: app.application.clone(),
        intel: Vec::new(),
        vulns: Vec::new(),
        first_seen: ev.ts,
        last_seen: ev.ts,
        connections: 0,
        established: 0,
        attempted: 0,
        bytes_to_server: 0,
        bytes_to_client: 0,
        packets_to_server: 0,
        packets_to_client: 0,
        max_bytes_per_connection: 0,
        severity: picket_model::Severity::Info,
        reasons: Vec::new(),
        sources: Vec::new(),
    };
    let mut open = OpenAlert::new(alert);
    add(&mut open, ev, hits, app);
    open
}

/// The alert's count of connections that ended as `outcome` (none for an unknown outcome).
fn outcome_count(alert: &mut Alert, outcome: Option<ConnOutcome>) -> Option<&mut u64> {
    match outcome? {
        ConnOutcome::Established => Some(&mut alert.established),
        ConnOutcome::Attempted | ConnOutcome::Rejected => Some(&mut alert.attempted),
        ConnOutcome::Unknown => None,
    }
}

/// Counts one connection into an alert and re-scores it. A further record of a connection
/// already counted replaces what that connection added. Intel and vulnerabilities are taken
/// afresh, so a swapped table or inventory shows on the next update.
fn add(open: &mut OpenAlert, ev: &ConnEvent, hits: &[IntelHit], app: &InventoryApp) {
    let record = Counted::of(ev);
    let (before, now) = match &ev.flow {
        None => (Counted::default(), record),
        Some(flow) => {
            let id = (ev.source.file.clone(), flow.key.clone());
            let before = open.flows.get(&id).copied().unwrap_or_default();
            let now = before.merge(record);
            if flow.last {
                open.flows.remove(&id);
            } else {
                open.flows.insert(id, now);
            }
            (before, now)
        }
    };
    let alert = &mut open.alert;
    alert.first_seen = alert.first_seen.min(ev.ts);
    alert.last_seen = alert.last_seen.max(ev.ts);
    if before.outcome.is_none() {
        alert.connections = alert.connections.saturating_add(1);
    }
    if let Some(n) = outcome_count(alert, before.outcome) {
        *n = n.saturating_sub(1);
    }
    if let Some(n) = outcome_count(alert, now.outcome) {
        *n = n.saturating_add(1);
    }
    let grow = |total: &mut u64, before: u64, now: u64| {
        *total = total.saturating_sub(before).saturating_add(now);
    };
    grow(&mut alert.bytes_to_server, before.bytes_out, now.bytes_out);
    grow(&mut alert.bytes_to_client, before.bytes_in, now.bytes_in);
    grow(
        &mut alert.packets_to_server,
        before.packets_out,
        now.packets_out,
    );
    grow(
        &mut alert.packets_to_client,
        before.packets_in,
        now.packets_in,
    );
    alert.max_bytes_per_connection = alert
        .max_bytes_per_connection
        .max(now.bytes_out.saturating_add(now.bytes_in));
    if alert.sources.len() < ALERT_MAX_SOURCES {
        alert.sources.push(ev.source.clone());
    }
    if alert.intel != hits {
        alert.intel = hits.to_vec();
    }
    if alert.vulns != app.vulns {
        alert.vulns = app.vulns.clone();
    }
    let (severity, reasons) = assess(alert);
    alert.severity = severity;
    alert.reasons = reasons;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threat::assess;
    use crate::threat::testing::{event, ts};
    use picket_model::{
        Application, Confidence, Cvss, CvssSeverity, CvssVersion, Indicator, Severity,
        SeverityReason, VulnMatch,
    };
    use proptest::prelude::*;

    const BAD: &str = "203.0.113.7";
    /// Listed by two feeds.
    const WORSE: &str = "198.51.100.9";
    const CLEAN: &str = "192.0.2.1";
    const HOST: &str = "10.0.0.5";
    const WEB: &str = "10.0.0.6";

    fn openssh() -> Application {
        Application::new("openssh")
            .with_vendor("openbsd")
            .with_version("9.2p1")
    }

    fn matched(app: &Application, id: &str, score: f64) -> VulnMatch {
        VulnMatch {
            vuln_id: id.into(),
            application: app.clone(),
            confidence: Confidence::VersionRange,
            why: String::new(),
            cvss: Some(Cvss {
                version: CvssVersion::V3_1,
                base_score: score,
                severity: CvssSeverity::from_score(score),
                vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H".into(),
            }),
            kev: None,
            epss: None,
        }
    }

    fn table(entries: &[(&str, &str)]) -> Arc<IntelTable> {
        let indicators = entries
            .iter()
            .map(|(net, feed)| Indicator::new(net.parse().unwrap(), *feed))
            .collect();
        Arc::new(IntelTable::build(indicators).unwrap())
    }

    fn intel() -> Arc<IntelTable> {
        table(&[
            ("203.0.113.7/32", "ipsum"),
            ("198.51.100.0/24", "firehol_level1"),
            ("198.51.100.9/32", "ipsum"),
        ])
    }

    /// OpenSSH with CVE-2024-6387 on 10.0.0.5:22; nginx without known flaws on :80; two
    /// vulnerable applications behind 10.0.0.6:443.
    fn inventory() -> Inventory {
        let mut inv = Inventory::new();
        let host: IpAddr = HOST.parse().unwrap();
        let ssh = openssh();
        inv.insert(
            host,
            22,
            Transport::Tcp,
            ssh.clone(),
            &[matched(&ssh, "CVE-2024-6387", 8.1)],
        );
        inv.insert(host, 80, Transport::Tcp, Application::new("nginx"), &[]);
        let web: IpAddr = WEB.parse().unwrap();
        let nginx = Application::new("nginx").with_version("1.20.0");
        let openssl = Application::new("openssl").with_version("1.1.1k");
        inv.insert(
            web,
            443,
            Transport::Tcp,
            nginx.clone(),
            &[matched(&nginx, "CVE-2021-23017", 7.7)],
        );
        inv.insert(
            web,
            443,
            Transport::Tcp,
            openssl.clone(),
            &[matched(&openssl, "CVE-2021-3711", 9.8)],
        );
        inv
    }

    fn detector(settings: ThreatSettings, suppressions: Vec<Suppression>) -> ThreatDetector {
        ThreatDetector::new(
            intel(),
            inventory(),
            HomeNet::default(),
            settings,
            suppressions,
        )
        .unwrap()
    }

    fn default_detector() -> ThreatDetector {
        detector(ThreatSettings::default(), Vec::new())
    }

    fn one(changes: Vec<AlertChange>) -> AlertChange {
        assert_eq!(changes.len(), 1, "{changes:?}");
        changes.into_iter().next().unwrap()
    }

    /// A record of flow `key`, with counters that grew to `bytes_out`.
    fn record(secs: i64, key: &str, last: bool, outcome: ConnOutcome, bytes_out: u64) -> ConnEvent {
        let mut ev = event(BAD, HOST, 22, secs, outcome);
        ev.bytes_out = Some(bytes_out);
        ev.flow = Some(picket_model::FlowRef {
            key: key.into(),
            last,
        });
        ev
    }

    #[test]
    fn records_of_one_flow_count_once_with_their_newest_counters() {
        let mut d = default_detector();
        // NEW (attempted), UPDATE (established), DESTROY (no state): one established connection
        // with the DESTROY's counters, not their sum.
        d.observe(&record(0, "a", false, ConnOutcome::Attempted, 60));
        d.observe(&record(1, "a", false, ConnOutcome::Established, 600));
        let a = one(d.observe(&record(9, "a", true, ConnOutcome::Unknown, 6_000)));
        let a = a.alert();
        assert_eq!((a.connections, a.established, a.attempted), (1, 1, 0));
        assert_eq!((a.bytes_to_server, a.bytes_to_client), (6_000, 50));
        assert_eq!((a.packets_to_server, a.packets_to_client), (2, 1));
        assert_eq!(a.max_bytes_per_connection, 6_050);
        assert_eq!(a.sources.len(), 3, "every record is pointed at");

        // The key again after the last record is another connection, and so is a record
        // without a flow.
        d.observe(&record(20, "a", false, ConnOutcome::Attempted, 60));
        let a = one(d.observe(&event(BAD, HOST, 22, 21, ConnOutcome::Attempted)));
        let a = a.alert();
        assert_eq!((a.connections, a.established, a.attempted), (3, 1, 2));
        assert_eq!(a.bytes_to_server, 6_000 + 60 + 100);

        // The same key in another file is another sensor's flow.
        let mut other = record(22, "a", false, ConnOutcome::Attempted, 60);
        other.source.file = "eve-2.json".into();
        assert_eq!(one(d.observe(&other)).alert().connections, 4);
    }

    #[test]
    fn listed_client_to_vulnerable_port_raises_then_updates() {
        let mut d = default_detector();
        let first = one(d.observe(&event(BAD, HOST, 22, 0, ConnOutcome::Attempted)));
        assert!(first.is_new());
        let a = first.alert();
        assert_eq!(a.kind, AlertKind::BadClientToVulnerableApp);
        assert_eq!(a.client.to_string(), BAD);
        assert_eq!((a.host.to_string().as_str(), a.port), (HOST, 22));
        assert_eq!(a.application, openssh());
        assert_eq!(a.vulns[0].id, "CVE-2024-6387");
        assert_eq!(a.intel.len(), 1);
        assert_eq!(a.intel[0].feed, "ipsum");
        assert_eq!((a.connections, a.established, a.attempted), (1, 0, 1));
        assert_eq!(a.window_start, ts(0));
        assert_eq!(a.severity, Severity::Medium, "1 feed + CVSS 8.1, attempted");

        let second = one(d.observe(&event(BAD, HOST, 22, 60, ConnOutcome::Established)));
        assert!(!second.is_new());
        let b = second.alert();
        assert_eq!(b.dedup_key, a.dedup_key);
        assert_eq!((b.connections, b.established, b.attempted), (2, 1, 1));
        assert_eq!((b.first_seen, b.last_seen), (ts(0), ts(60)));
        assert_eq!(
            b.severity,
            Severity::High,
            "an established connection raises it"
        );
        assert_eq!(b.reasons, assess(b).1);
        let s = d.stats();
        assert_eq!((s.new_alerts, s.updated_alerts, s.alerted), (1, 1, 2));
        assert_eq!(d.open_alerts().count(), 1);
    }

    /// What `take_changed` (and `drain_changed`) hands out is the latest state of every alert
    /// `observe_each` reported a change of since the last take: also of an alert followed by
    /// its next window's, and of one aged out before it was taken.
    #[test]
    fn changed_alerts_are_taken_once_in_their_latest_state() {
        // Two applications behind WEB:443; the next window at 4,000 s; the first aged out when
        // time reaches 8,000 s (two windows of an hour).
        let events = [
            event(BAD, HOST, 22, 0, ConnOutcome::Attempted),
            event(WORSE, WEB, 443, 5, ConnOutcome::Established),
            event(BAD, HOST, 22, 10, ConnOutcome::Established),
            event(BAD, HOST, 22, 4_000, ConnOutcome::Rejected),
            event(WORSE, HOST, 22, 8_000, ConnOutcome::Established),
        ];
        let latest = |changes: Vec<AlertChange>| {
            let mut by_key: Vec<Alert> = Vec::new();
            for alert in changes.into_iter().map(AlertChange::into_alert) {
                match by_key.iter_mut().find(|a| {
                    (a.window_start, &a.dedup_key) == (alert.window_start, &alert.dedup_key)
                }) {
                    Some(a) => *a = alert,
                    None => by_key.push(alert),
                }
            }
            by_window_and_key(by_key)
        };
        for drain in [false, true] {
            let (mut each, mut recorded) = (default_detector(), default_detector());
            let mut changes = Vec::new();
            for ev in &events[..4] {
                each.observe_each(ev, |c| changes.push(c));
                recorded.record(ev);
            }
            assert!(recorded.has_changed());
            let first = latest(std::mem::take(&mut changes));
            assert_eq!(first.len(), 4, "{first:#?}");
            assert_eq!(recorded.take_changed(), first);
            assert!(!recorded.has_changed());
            assert!(recorded.take_changed().is_empty());
            // The window of 4,000 s changes again; the one of 0 s was followed by it, and both
            // of the early windows age out as time reaches 8,000 s.
            for ev in &events[3..] {
                each.observe_each(ev, |c| changes.push(c));
                recorded.record(ev);
            }
            let second = latest(changes);
            assert_eq!(second.len(), 2, "{second:#?}");
            let taken = if drain {
                recorded.drain_changed()
            } else {
                recorded.take_changed()
            };
            assert_eq!(taken, second);
            assert_eq!(each.stats(), recorded.stats());
        }
        // An alert changed and then aged out before anything was taken is still handed out.
        let mut d = default_detector();
        d.record(&events[0]);
        d.record(&event(WORSE, WEB, 443, 9_000, ConnOutcome::Established));
        let taken = d.take_changed();
        assert_eq!(taken.len(), 3, "the aged-out one and WEB's two: {taken:#?}");
        assert_eq!(taken[0].port, 22);
        assert_eq!(d.open_alerts().count(), 2);
    }

    /// Told the screen's verdict, the detector does what it does when it asks the screen.
    #[test]
    fn an_event_judged_already_counts_as_one_judged_here() {
        let events = [
            event(BAD, HOST, 22, 0, ConnOutcome::Attempted),
            event(BAD, HOST, 22, 5, ConnOutcome::Established),
            event(HOST, BAD, 22, 6, ConnOutcome::Established),
            event("198.51.100.9", HOST, 22, 7, ConnOutcome::Established),
            event(BAD, HOST, 80, 8, ConnOutcome::Established),
            event(BAD, HOST, 22, 7200, ConnOutcome::Rejected),
        ];
        let (mut asked, mut told) = (default_detector(), default_detector());
        for ev in &events {
            let (mut a, mut t) = (Vec::new(), Vec::new());
            asked.observe_each(ev, |c| a.push(c));
            let verdict = told.screen().verdict(ev.src, ev.dst, ev.dst_port, ev.proto);
            told.observe_judged(ev, verdict, |c| t.push(c));
            assert_eq!(a, t);
        }
        assert_eq!(asked.stats(), told.stats());
        assert!(asked.stats().new_alerts >= 2, "{:?}", asked.stats());
    }

    #[test]
    fn only_inbound_events_count() {
        let mut d = default_detector();
        // Outbound (home to outside), internal, external, and a portless event.
        assert!(
            d.observe(&event(HOST, BAD, 22, 0, ConnOutcome::Established))
                .is_empty()
        );
        assert!(
            d.observe(&event("10.0.0.9", HOST, 22, 0, ConnOutcome::Established))
                .is_empty()
        );
        assert!(
            d.observe(&event(BAD, "192.0.2.200", 22, 0, ConnOutcome::Established))
                .is_empty()
        );
        let mut icmp = event(BAD, HOST, 22, 0, ConnOutcome::Established);
        icmp.dst_port = None;
        assert!(d.observe(&icmp).is_empty());
        let s = d.stats();
        assert_eq!((s.events, s.inbound, s.alerted), (4, 0, 0));
    }

    #[test]
    fn the_port_must_serve_a_vulnerable_application() {
        let mut d = default_detector();
        assert!(
            d.observe(&event(BAD, HOST, 80, 0, ConnOutcome::Established))
                .is_empty(),
            "nginx has no vulnerabilities"
        );
        assert!(
            d.observe(&event(BAD, HOST, 2222, 0, ConnOutcome::Established))
                .is_empty(),
            "nothing known there"
        );
        let mut udp = event(BAD, HOST, 22, 0, ConnOutcome::Established);
        udp.proto = Transport::Udp;
        assert!(d.observe(&udp).is_empty(), "OpenSSH is on TCP");
        let s = d.stats();
        assert_eq!((s.inbound, s.to_vulnerable), (3, 0));
    }

    #[test]
    fn the_client_must_be_listed_by_enough_distinct_feeds() {
        let mut d = default_detector();
        assert!(
            d.observe(&event(CLEAN, HOST, 22, 0, ConnOutcome::Established))
                .is_empty()
        );
        assert_eq!(d.stats().to_vulnerable, 1);
        assert_eq!(d.stats().listed, 0);

        let two = ThreatSettings {
            min_feeds: 2,
            ..ThreatSettings::default()
        };
        let mut d = detector(two, Vec::new());
        assert!(
            d.observe(&event(BAD, HOST, 22, 0, ConnOutcome::Established))
                .is_empty(),
            "one feed"
        );
        let a = one(d.observe(&event(WORSE, HOST, 22, 0, ConnOutcome::Established)));
        assert_eq!(a.alert().intel.len(), 2, "the /24 and the /32");
        assert!(matches!(
            &a.alert().reasons[0],
            SeverityReason::Feeds { feeds, .. } if feeds == &["firehol_level1", "ipsum"]
        ));

        // The same feed listing the client twice is still one feed.
        let twice = table(&[("203.0.113.0/24", "ipsum"), ("203.0.113.7/32", "ipsum")]);
        let mut d =
            ThreatDetector::new(twice, inventory(), HomeNet::default(), two, Vec::new()).unwrap();
        assert!(
            d.observe(&event(BAD, HOST, 22, 0, ConnOutcome::Established))
                .is_empty()
        );
    }

    #[test]
    fn counts_outcomes_bytes_packets_and_sources() {
        let mut d = default_detector();
        let outcomes = [
            ConnOutcome::Established,
            ConnOutcome::Attempted,
            ConnOutcome::Rejected,
            ConnOutcome::Unknown,
            ConnOutcome::Attempted,
            ConnOutcome::Attempted,
        ];
        let mut last = None;
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let mut ev = event(BAD, HOST, 22, i as i64, outcome);
            if i == 1 {
                ev.bytes_out = Some(20_000);
                ev.bytes_in = None;
                ev.packets_in = None;
            }
            last = Some(one(d.observe(&ev)).into_alert());
        }
        let a = last.unwrap();
        assert_eq!(
            (a.connections, a.established, a.attempted),
            (6, 1, 4),
            "rejected counts as attempted"
        );
        assert_eq!(a.unknown_outcome(), 1);
        assert_eq!(a.bytes_to_server, 5 * 100 + 20_000);
        assert_eq!(a.bytes_to_client, 5 * 50);
        assert_eq!((a.packets_to_server, a.packets_to_client), (12, 5));
        assert_eq!(a.max_bytes_per_connection, 20_000);
        assert_eq!(a.sources.len(), ALERT_MAX_SOURCES);
        assert_eq!(a.sources[0].line, 1);
        assert_eq!(a.severity, Severity::High, "1 + 2 + 2 + 2 = 7");
    }

    #[test]
    fn byte_counts_saturate_instead_of_overflowing() {
        let mut d = default_detector();
        let mut ev = event(BAD, HOST, 22, 0, ConnOutcome::Established);
        ev.bytes_out = Some(u64::MAX);
        ev.bytes_in = Some(u64::MAX);
        d.observe(&ev);
        let a = one(d.observe(&ev)).into_alert();
        assert_eq!(a.bytes_to_server, u64::MAX);
        assert_eq!(a.max_bytes_per_connection, u64::MAX);
    }

    #[test]
    fn a_new_window_starts_a_new_alert() {
        let mut d = default_detector();
        let hour = 3600;
        let a = one(d.observe(&event(BAD, HOST, 22, 100, ConnOutcome::Attempted))).into_alert();
        let b = one(d.observe(&event(
            BAD,
            HOST,
            22,
            100 + hour - 1,
            ConnOutcome::Attempted,
        )));
        assert!(!b.is_new(), "still inside the window");
        let late = one(d.observe(&event(BAD, HOST, 22, 50, ConnOutcome::Attempted)));
        assert!(!late.is_new(), "a late event folds into the open alert");
        assert_eq!(late.alert().first_seen, ts(50));
        assert_eq!(late.alert().window_start, ts(100));
        let c = one(d.observe(&event(BAD, HOST, 22, 100 + hour, ConnOutcome::Attempted)));
        assert!(c.is_new(), "the window ends at start + window");
        let c = c.into_alert();
        assert_ne!(c.dedup_key, a.dedup_key);
        assert_eq!(c.window_start, ts(100 + hour));
        assert_eq!(c.connections, 1);
        assert_eq!(
            d.open_alerts().count(),
            1,
            "the new alert replaced the closed one"
        );
    }

    #[test]
    fn alerts_are_per_client_port_and_application() {
        let mut d = default_detector();
        let both = d.observe(&event(BAD, WEB, 443, 0, ConnOutcome::Established));
        assert_eq!(both.len(), 2, "nginx and openssl serve the port");
        let products: Vec<&str> = both
            .iter()
            .map(|c| c.alert().application.product.as_str())
            .collect();
        assert_eq!(products, ["nginx", "openssl"]);
        assert_ne!(both[0].alert().dedup_key, both[1].alert().dedup_key);
        assert!(
            one(d.observe(&event(WORSE, HOST, 22, 0, ConnOutcome::Attempted))).is_new(),
            "another client"
        );
        assert!(one(d.observe(&event(BAD, HOST, 22, 0, ConnOutcome::Attempted))).is_new());
        assert_eq!(d.open_alerts().count(), 4);
        assert_eq!(d.stats().alerted, 4);
    }

    #[test]
    fn suppressions_silence_matching_connections_and_count() {
        let mut by_port = Suppression::new("our own scanner", ts(-1000));
        by_port.port = Some(443);
        by_port.application = Some("OpenSSL".into());
        let mut until = Suppression::new("maintenance", ts(-1000));
        until.client = Some("203.0.113.0/24".parse().unwrap());
        until.expires_at = Some(ts(100));
        let mut d = detector(ThreatSettings::default(), vec![by_port, until]);

        let web = d.observe(&event(BAD, WEB, 443, 0, ConnOutcome::Established));
        assert_eq!(
            web.len(),
            0,
            "the /24 suppression covers the client until 100 s"
        );
        let web = d.observe(&event(WORSE, WEB, 443, 1, ConnOutcome::Established));
        let products: Vec<&str> = web
            .iter()
            .map(|c| c.alert().application.product.as_str())
            .collect();
        assert_eq!(
            products,
            ["nginx"],
            "openssl on 443 is suppressed for everyone"
        );

        assert!(
            d.observe(&event(BAD, HOST, 22, 99, ConnOutcome::Attempted))
                .is_empty()
        );
        let after = one(d.observe(&event(BAD, HOST, 22, 100, ConnOutcome::Attempted)));
        assert!(after.is_new(), "the suppression expired at 100 s");
        assert_eq!(
            after.alert().connections,
            1,
            "suppressed connections are not counted"
        );

        let counts: Vec<u64> = d.suppressed().map(|(_, n)| n).collect();
        assert_eq!(
            counts,
            [2, 2],
            "first match wins: openssl from BAD counts for by_port"
        );
        assert_eq!(d.stats().suppressed, 4);
        d.set_suppressions(Vec::new());
        assert_eq!(d.suppressed().count(), 0);
    }

    #[test]
    fn load_open_resumes_windows_after_a_restart() {
        let mut before = default_detector();
        before.observe(&event(BAD, HOST, 22, 0, ConnOutcome::Attempted));
        let mut stored =
            one(before.observe(&event(BAD, HOST, 22, 10, ConnOutcome::Attempted))).into_alert();
        stored.id = Some(42);
        let mut older = stored.clone();
        older.window_start = ts(-7200);
        older.id = Some(7);

        let mut after = default_detector();
        assert_eq!(after.load_open([older, stored.clone()]), 2);
        assert_eq!(
            after.open_alerts().count(),
            1,
            "the later window replaced the older"
        );
        let next = one(after.observe(&event(BAD, HOST, 22, 20, ConnOutcome::Established)));
        assert!(!next.is_new());
        let a = next.alert();
        assert_eq!(a.id, Some(42));
        assert_eq!(a.dedup_key, stored.dedup_key);
        assert_eq!((a.connections, a.established, a.attempted), (3, 1, 2));

        let mut again = default_detector();
        let mut stale = stored.clone();
        stale.window_start = ts(-10);
        assert_eq!(
            again.load_open([stored.clone(), stale]),
            1,
            "an earlier window is not taken"
        );
        assert_eq!(again.open_alerts().next().unwrap().window_start, ts(0));
    }

    #[test]
    fn old_events_are_stale_and_old_alerts_age_out() {
        let mut d = default_detector();
        d.observe(&event(BAD, HOST, 22, 0, ConnOutcome::Attempted));
        d.observe(&event(WORSE, HOST, 22, 0, ConnOutcome::Attempted));
        assert_eq!(d.open_alerts().count(), 2);
        // Two hours later (two windows) the alerts of second 0 are closed for good.
        let now = 2 * 3600;
        assert!(one(d.observe(&event(BAD, HOST, 22, now, ConnOutcome::Attempted))).is_new());
        assert_eq!(d.open_alerts().count(), 1, "WORSE's alert aged out");
        assert!(
            d.observe(&event(WORSE, HOST, 22, 0, ConnOutcome::Attempted))
                .is_empty()
        );
        assert_eq!(d.stats().stale, 1);
        // One second later than two windows back is still accepted, in a new alert.
        let late = one(d.observe(&event(WORSE, HOST, 22, 1, ConnOutcome::Attempted)));
        assert!(late.is_new());
        assert_eq!(late.alert().window_start, ts(1));
    }

    #[test]
    fn mapped_addresses_are_the_ipv4_they_carry() {
        let mut d = default_detector();
        let a = one(d.observe(&event(
            "::ffff:203.0.113.7",
            "::ffff:10.0.0.5",
            22,
            0,
            ConnOutcome::Attempted,
        )));
        assert_eq!(a.alert().client.to_string(), BAD);
        assert_eq!(a.alert().host.to_string(), HOST);
        let b = one(d.observe(&event(BAD, HOST, 22, 1, ConnOutcome::Attempted)));
        assert!(!b.is_new());
    }

    #[test]
    fn swapped_intel_shows_on_the_next_update() {
        let mut d = default_detector();
        d.observe(&event(BAD, HOST, 22, 0, ConnOutcome::Attempted));
        d.set_intel(table(&[
            ("203.0.113.7/32", "ipsum"),
            ("203.0.113.0/24", "et_compromised"),
        ]));
        let a = one(d.observe(&event(BAD, HOST, 22, 1, ConnOutcome::Attempted))).into_alert();
        assert_eq!(a.intel.len(), 2);
        assert!(matches!(
            &a.reasons[0],
            SeverityReason::Feeds { feeds, .. } if feeds.len() == 2
        ));
        d.set_inventory(Inventory::new());
        assert!(
            d.observe(&event(BAD, HOST, 22, 2, ConnOutcome::Attempted))
                .is_empty()
        );
    }

    #[test]
    fn settings_are_validated() {
        let bad = |settings| {
            ThreatDetector::new(
                intel(),
                inventory(),
                HomeNet::default(),
                settings,
                Vec::new(),
            )
            .unwrap_err()
        };
        let zero_feeds = bad(ThreatSettings {
            min_feeds: 0,
            ..ThreatSettings::default()
        });
        assert!(zero_feeds.to_string().contains("min_feeds"), "{zero_feeds}");
        let zero_window = bad(ThreatSettings {
            window: Duration::ZERO,
            ..ThreatSettings::default()
        });
        assert!(zero_window.to_string().contains("window"), "{zero_window}");
        let huge = bad(ThreatSettings {
            window: Duration::MAX,
            ..ThreatSettings::default()
        });
        assert!(huge.to_string().contains("366 days"), "{huge}");
        assert_eq!(ThreatSettings::default().window, Duration::from_secs(3600));
        assert_eq!(ThreatSettings::default().min_feeds, 1);
    }

    fn arb_event() -> impl Strategy<Value = ConnEvent> {
        let src = prop::sample::select(vec![BAD, WORSE, CLEAN, "10.0.0.9", "::ffff:203.0.113.7"]);
        let dst = prop::sample::select(vec![HOST, WEB, "192.0.2.200"]);
        let port = prop::option::weighted(0.95, prop::sample::select(vec![22u16, 80, 443, 2222]));
        let outcome = prop::sample::select(vec![
            ConnOutcome::Established,
            ConnOutcome::Attempted,
            ConnOutcome::Rejected,
            ConnOutcome::Unknown,
        ]);
        let bytes = prop::option::of(0u64..1_000_000_000);
        (
            src,
            dst,
            port,
            -20_000i64..20_000,
            outcome,
            bytes.clone(),
            bytes,
        )
            .prop_map(|(src, dst, port, secs, outcome, out, back)| {
                let mut ev = event(src, dst, port.unwrap_or(0), secs, outcome);
                ev.dst_port = port;
                ev.bytes_out = out;
                ev.bytes_in = back;
                ev
            })
    }

    /// How many vulnerable applications an event should be checked against, worked out without
    /// the detector: inbound, a known vulnerable port, a listed client.
    fn expected_pairs(ev: &ConnEvent, home: &HomeNet, inv: &Inventory, intel: &IntelTable) -> u64 {
        let Some(port) = ev.dst_port else { return 0 };
        if home.contains(ev.src) || !home.contains(ev.dst) || !intel.contains(ev.src) {
            return 0;
        }
        inv.get(ev.dst, port, ev.proto)
            .iter()
            .filter(|a| !a.vulns.is_empty())
            .count() as u64
    }

    proptest! {
        #[test]
        fn counts_add_up_for_any_stream(events in prop::collection::vec(arb_event(), 0..200)) {
            let mut gate = Suppression::new("gate", ts(0));
            gate.port = Some(443);
            gate.expires_at = Some(ts(0));
            let mut d = detector(ThreatSettings::default(), vec![gate]);
            let (home, inv, table) = (HomeNet::default(), inventory(), intel());
            let mut latest: HashMap<String, Alert> = HashMap::new();
            let mut pairs = 0;
            let mut bytes_out = 0u64;
            for ev in &events {
                pairs += expected_pairs(ev, &home, &inv, &table);
                for change in d.observe(ev) {
                    let a = change.alert();
                    prop_assert_eq!(change.is_new(), !latest.contains_key(&a.dedup_key), "keys never repeat");
                    prop_assert!(a.established + a.attempted <= a.connections);
                    prop_assert!(a.first_seen <= a.last_seen);
                    prop_assert!(a.sources.len() <= ALERT_MAX_SOURCES);
                    prop_assert_eq!(a.severity, assess(a).0);
                    bytes_out += ev.bytes_out.unwrap_or(0);
                    latest.insert(a.dedup_key.clone(), change.into_alert());
                }
            }
            let s = d.stats();
            prop_assert!(s.events >= s.inbound && s.inbound >= s.to_vulnerable && s.to_vulnerable >= s.listed);
            prop_assert_eq!(s.alerted + s.suppressed + s.stale, pairs);
            prop_assert_eq!(s.alerted, s.new_alerts + s.updated_alerts);
            prop_assert_eq!(s.new_alerts as usize, latest.len());
            prop_assert_eq!(latest.values().map(|a| a.connections).sum::<u64>(), s.alerted);
            prop_assert_eq!(latest.values().map(|a| a.bytes_to_server).sum::<u64>(), bytes_out);
            prop_assert_eq!(d.suppressed().map(|(_, n)| n).sum::<u64>(), s.suppressed);
        }
    }
}
