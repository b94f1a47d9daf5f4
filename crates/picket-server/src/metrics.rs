//! The service's metrics in the Prometheus text format (prometheus-client): what the scans,
//! watchers, refreshers and sinks count as they go, and what the store holds now (feed sizes and
//! ages, blocks in force), read when the metrics are asked for.
//!
//! Counting must never slow the work it counts (atomic counters only) and a metric must never
//! be invented: a value the service did not observe is left out rather than guessed.

use std::sync::atomic::AtomicU64;

use picket_model::{Finding, ScanRun, Severity, Timestamp};
use picket_store::Store;
use picket_store::prelude::*;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric of the service.
pub struct Metrics {
    registry: Registry,
    pub probes_sent: Counter,
    pub probes_answered: Counter,
    pub probe_rate: FloatGauge,
    pub scans_running: Gauge,
    pub scans_finished: Family<Labels, Counter>,
    pub scans_failed: Family<Labels, Counter>,
    pub scans_skipped: Family<Labels, Counter>,
    pub findings: Family<Labels, Counter>,
    pub events_read: Counter,
    pub matches: Counter,
    pub alerts: Family<Labels, Counter>,
    pub blocks: Counter,
    pub watcher_errors: Family<Labels, Counter>,
    blocks_active: Gauge,
    feed_indicators: Family<Labels, Gauge>,
    feed_age: Family<Labels, FloatGauge>,
    pub source_last_success: Family<Labels, FloatGauge>,
    pub source_last_error: Family<Labels, FloatGauge>,
    pub source_refreshes: Family<Labels, Counter>,
    pub sink_deliveries: Family<Labels, Counter>,
    pub sink_failures: Family<Labels, Counter>,
    pub sink_dead_letters: Family<Labels, Counter>,
    pub sink_dropped: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("picket"),
            probes_sent: Counter::default(),
            probes_answered: Counter::default(),
            probe_rate: FloatGauge::default(),
            scans_running: Gauge::default(),
            scans_finished: Family::default(),
            scans_failed: Family::default(),
            scans_skipped: Family::default(),
            findings: Family::default(),
            events_read: Counter::default(),
            matches: Counter::default(),
            alerts: Family::default(),
            blocks: Counter::default(),
            watcher_errors: Family::default(),
            blocks_active: Gauge::default(),
            feed_indicators: Family::default(),
            feed_age: Family::default(),
            source_last_success: Family::default(),
            source_last_error: Family::default(),
            source_refreshes: Family::default(),
            sink_deliveries: Family::default(),
            sink_failures: Family::default(),
            sink_dead_letters: Family::default(),
            sink_dropped: Family::default(),
        };
        let r = &mut m.registry;
        r.register(
            "probes_sent",
            "Port probes sent by scans, counted as they go",
            m.probes_sent.clone(),
        );
        r.register(
            "probes_answered",
            "Port probes of scans that were answered, counted as they go",
            m.probes_answered.clone(),
        );
        r.register(
            "probe_rate",
            "Current probe rate of the running scans, per second",
            m.probe_rate.clone(),
        );
        r.register("scans_running", "Scans under way", m.scans_running.clone());
        r.register(
            "scans_finished",
            "Scans stored, by job and status (completed, aborted)",
            m.scans_finished.clone(),
        );
        r.register(
            "scans_failed",
            "Scans that could not be run or stored, by job",
            m.scans_failed.clone(),
        );
        r.register(
            "scans_skipped",
            "Scheduled times skipped because the job was still running, by job",
            m.scans_skipped.clone(),
        );
        r.register(
            "findings",
            "Findings raised by the service's scans, by kind and verdict",
            m.findings.clone(),
        );
        r.register(
            "events_read",
            "Connection events read by watchers (counted at each flush of their pipelines)",
            m.events_read.clone(),
        );
        r.register(
            "matches",
            "Events from listed clients to vulnerable applications (counted with events_read)",
            m.matches.clone(),
        );
        r.register(
            "alerts",
            "Alerts stored by watchers, by severity and change (new, update)",
            m.alerts.clone(),
        );
        r.register("blocks", "Clients blocked by watchers", m.blocks.clone());
        r.register(
            "watcher_errors",
            "Watcher pipelines that failed and were restarted, by path",
            m.watcher_errors.clone(),
        );
        r.register(
            "blocks_active",
            "Blocks in force in the store",
            m.blocks_active.clone(),
        );
        r.register(
            "feed_indicators",
            "Indicators of each stored feed",
            m.feed_indicators.clone(),
        );
        r.register(
            "feed_age_seconds",
            "Seconds since each stored feed was loaded",
            m.feed_age.clone(),
        );
        r.register(
            "source_last_success_timestamp_seconds",
            "When each configured feed or vulnerability source was last refreshed or found unchanged",
            m.source_last_success.clone(),
        );
        r.register(
            "source_last_error_timestamp_seconds",
            "When each configured source last failed or was refused",
            m.source_last_error.clone(),
        );
        r.register(
            "source_refreshes",
            "Refreshes of each configured source, by outcome (updated, unchanged, refused, failed)",
            m.source_refreshes.clone(),
        );
        r.register(
            "sink_deliveries",
            "Records delivered, by sink",
            m.sink_deliveries.clone(),
        );
        r.register(
            "sink_failures",
            "Failed delivery attempts, by sink",
            m.sink_failures.clone(),
        );
        r.register(
            "sink_dead_letters",
            "Records given up after the last retry, by sink",
            m.sink_dead_letters.clone(),
        );
        r.register(
            "sink_dropped",
            "Records dropped because the sink's queue was full, by sink",
            m.sink_dropped.clone(),
        );
        m
    }

    /// Adds the probes a scan sent and got answered since `counted` (what its progress already
    /// added) to the counters, and remembers the new totals in `counted`.
    pub fn count_probes(&self, counted: &mut (u64, u64), now: (u64, u64)) {
        self.probes_sent.inc_by(now.0.saturating_sub(counted.0));
        self.probes_answered.inc_by(now.1.saturating_sub(counted.1));
        *counted = (counted.0.max(now.0), counted.1.max(now.1));
    }

    /// Counts a stored run: its status, findings, and the probes of its hosts that its progress
    /// (`counted`) did not add yet.
    pub fn run_stored(
        &self,
        job: &str,
        run: &ScanRun,
        findings: &[Finding],
        counted: &mut (u64, u64),
    ) {
        self.scans_finished
            .get_or_create(&vec![
                ("job", job.to_owned()),
                ("status", run.status.as_str().to_owned()),
            ])
            .inc();
        let totals = run.hosts.iter().fold((0, 0), |(s, a), h| {
            (s + h.stats.probes_sent, a + h.stats.answers)
        });
        self.count_probes(counted, totals);
        for f in findings {
            let verdict = f.verdict.map_or("none", |v| v.as_str());
            self.findings
                .get_or_create(&vec![
                    ("kind", f.kind.as_str().to_owned()),
                    ("verdict", verdict.to_owned()),
                ])
                .inc();
        }
    }

    pub fn alert_stored(&self, severity: Severity, change: &'static str) {
        self.alerts
            .get_or_create(&vec![
                ("severity", severity.as_str().to_owned()),
                ("change", change.to_owned()),
            ])
            .inc();
    }

    /// The text exposition, with the store's gauges read now (a store that fails leaves them
    /// as they were, and says so in the log).
    pub fn render(&self, store: &Store) -> String {
        let now = Timestamp::now();
        match store.feeds() {
            Ok(feeds) => {
                self.feed_indicators.clear();
                self.feed_age.clear();
                for feed in feeds {
                    let labels = vec![("feed", feed.name.clone())];
                    self.feed_indicators
                        .get_or_create(&labels)
                        .set(i64::try_from(feed.indicators).unwrap_or(i64::MAX));
                    let age = now.duration_since(feed.loaded_at).as_secs_f64();
                    self.feed_age.get_or_create(&labels).set(age.max(0.0));
                }
            }
            Err(e) => tracing::warn!(error = %e, "metrics: cannot read the feeds"),
        }
        match store.blocks(Some(now)) {
            Ok(blocks) => {
                self.blocks_active
                    .set(i64::try_from(blocks.len()).unwrap_or(i64::MAX));
            }
            Err(e) => tracing::warn!(error = %e, "metrics: cannot read the blocks"),
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// Seconds since the epoch, for the timestamp gauges.
pub fn unix_seconds(t: Timestamp) -> f64 {
    t.as_millisecond() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_count_as_a_scan_goes_and_its_stored_run_adds_only_the_rest() {
        let metrics = Metrics::new();
        let mut counted = (0, 0);
        metrics.count_probes(&mut counted, (100, 40));
        metrics.count_probes(&mut counted, (250, 90));
        assert_eq!(
            (metrics.probes_sent.get(), metrics.probes_answered.get()),
            (250, 90)
        );
        // The run's hosts say 300 and 95 in all: only what progress had not added is added.
        metrics.count_probes(&mut counted, (300, 95));
        assert_eq!(
            (metrics.probes_sent.get(), metrics.probes_answered.get()),
            (300, 95)
        );
        // Totals never go back.
        metrics.count_probes(&mut counted, (10, 1));
        assert_eq!(metrics.probes_sent.get(), 300);
    }

    #[test]
    fn the_exposition_names_every_family_and_the_stored_feeds() {
        let store = picket_store::open("sqlite::memory:").unwrap();
        let metrics = Metrics::new();
        metrics.alert_stored(Severity::High, "new");
        metrics
            .sink_deliveries
            .get_or_create(&vec![("sink", "webhook#0".into())])
            .inc_by(3);
        let text = metrics.render(&store);
        for line in [
            "picket_alerts_total{severity=\"high\",change=\"new\"} 1",
            "picket_sink_deliveries_total{sink=\"webhook#0\"} 3",
            "picket_blocks_active 0",
            "picket_probes_sent_total 0",
            "# TYPE picket_probe_rate gauge",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
