//! The pipeline's sinks: where alerts go once the store took them. The caller's [`ThreatSink`]
//! receives each stored alert (new, or an update of a stored one) and the pipeline's notices;
//! [`print_alert`] is the print sink (table blocks, JSON/NDJSON records, OCSF); [`Blocker`] is the
//! block sink (nftables through picket-respond, always behind the allow-list guard, each block
//! recorded with its alert). The store itself is written by the pipeline (see `super`), because
//! what is printed depends on what the store says.
//!
//! A sink must never decide what an alert is: it shows or acts on what the store took.

use std::collections::HashSet;
use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use picket_detect::threat::ThreatStats;
use picket_ingest::{IngestError, Stats};
use picket_model::{Alert, Severity, Timestamp};
use picket_report::{AlertChangeKind, Format, OcsfActivity};
use picket_respond::{Nft, Outcome, RespondError};
use picket_store::prelude::*;
use picket_store::{BlockRecord, Store};

use crate::error::AppError;
use crate::knowledge::Swapped;
use crate::options::{AlertFormat, BlockPolicy};

/// An alert as the store took it, numbered in the order the pipeline first stored it (an
/// update keeps its alert's number).
#[derive(Debug, Clone, Copy)]
pub struct StoredAlert<'a> {
    pub number: u64,
    pub kind: AlertChangeKind,
    pub alert: &'a Alert,
}

/// What the pipeline tells its caller besides alerts (diagnostics for a person or a log).
#[derive(Debug)]
pub enum Notice<'a> {
    /// No feed is loaded: no alert can be raised.
    NoFeeds,
    /// A line of a source was refused (file, line and field in the error).
    SkippedLine(&'a IngestError),
    /// A source read to its end.
    SourceRead { source: &'a str, stats: &'a Stats },
    /// A client went into the block set.
    Blocked {
        net: IpNet,
        ttl: Duration,
        outcome: &'a Outcome,
    },
    /// The allow-list refused a block: the guard working, not a failure.
    NotBlocked(&'a RespondError),
    /// A following pipeline swapped new knowledge from the store into its detector.
    KnowledgeSwapped(Swapped),
    /// Reloading knowledge failed; the detector keeps what it had.
    KnowledgeFailed(&'a AppError),
    /// The counts so far of a following pipeline, after a flush that followed new events (a
    /// service's metrics read them; the final counts come with [`Notice::Summary`]).
    Counted(ThreatStats),
    /// The pipeline ended (read to the end, or stopped).
    Summary {
        stats: ThreatStats,
        new_alerts: u64,
        updated_alerts: u64,
    },
}

/// The caller's end of a pipeline.
pub trait ThreatSink {
    /// An alert the store just took.
    fn alert(&mut self, stored: StoredAlert<'_>) -> Result<(), AppError>;
    /// The alerts of one store commit, in order: each as [`ThreatSink::alert`] would take it.
    /// A sink may take them at once (the print sink renders them on every core).
    fn alerts(&mut self, stored: &[StoredAlert<'_>]) -> Result<(), AppError> {
        stored.iter().try_for_each(|s| self.alert(*s))
    }
    /// The alerts of one commit while the store commits them: a sink may get ready to take
    /// them (the print sink renders them) but must neither act on them nor let them out.
    /// [`ThreatSink::alerts`] brings the same alerts once they are committed; after a failed
    /// commit nothing comes, and the next `stage` replaces what this one made.
    fn stage(&mut self, stored: &[StoredAlert<'_>]) -> Result<(), AppError> {
        let _ = stored;
        Ok(())
    }
    fn notice(&mut self, notice: Notice<'_>);
}

/// The print sink: an alert as it is stored, a numbered block for a person, one JSON line
/// otherwise (`json` streams too: a single document could only be written at the end), or an
/// OCSF Detection Finding (create or update). The alert is rendered whole first and written in
/// one piece: the renderers write many small fragments, each of which would otherwise go
/// through every layer of `out`.
pub fn print_alert(
    out: &mut dyn Write,
    format: AlertFormat,
    stored: StoredAlert<'_>,
) -> Result<(), AppError> {
    let mut text = Vec::with_capacity(RENDERED_ALERT);
    render_alert(&mut text, format, stored)?;
    out.write_all(&text)?;
    out.flush()?;
    Ok(())
}

/// [`print_alert`] for the alerts of one commit: the same bytes, in the same order. Each chunk
/// of [`PARALLEL_RENDER`] alerts is rendered in two halves on two threads, then written, so
/// memory holds one chunk's text, never the whole commit's.
pub fn print_alerts(
    out: &mut dyn Write,
    format: AlertFormat,
    stored: &[StoredAlert<'_>],
) -> Result<(), AppError> {
    print_rendered(out, format, stored, Rendered::default())
}

/// The text of the first alerts of one commit, rendered ahead by [`render_ahead`].
#[derive(Debug, Default)]
pub struct Rendered {
    alerts: usize,
    text: Vec<u8>,
}

/// Renders the first alerts of `stored`, chunk by chunk as [`print_alerts`] does, until the
/// text reaches [`RENDERED_AHEAD`] bytes: what a sink stages while the store commits.
pub fn render_ahead(format: AlertFormat, stored: &[StoredAlert<'_>]) -> Result<Rendered, AppError> {
    render_ahead_up_to(format, stored, RENDERED_AHEAD)
}

fn render_ahead_up_to(
    format: AlertFormat,
    stored: &[StoredAlert<'_>],
    bytes: usize,
) -> Result<Rendered, AppError> {
    let mut rendered = Rendered::default();
    for chunk in stored.chunks(PARALLEL_RENDER) {
        if rendered.text.len() >= bytes {
            break;
        }
        rendered.text.append(&mut render_chunk(format, chunk)?);
        rendered.alerts += chunk.len();
    }
    Ok(rendered)
}

/// Prints `stored` as [`print_alerts`] does, its first alerts from `rendered` (rendered ahead
/// from the same alerts).
pub fn print_rendered(
    out: &mut dyn Write,
    format: AlertFormat,
    stored: &[StoredAlert<'_>],
    rendered: Rendered,
) -> Result<(), AppError> {
    out.write_all(&rendered.text)?;
    for chunk in stored
        .get(rendered.alerts..)
        .unwrap_or_default()
        .chunks(PARALLEL_RENDER)
    {
        out.write_all(&render_chunk(format, chunk)?)?;
    }
    out.flush()?;
    Ok(())
}

/// One chunk's alerts rendered: from [`PARALLEL_RENDER`] alerts on in two halves on two
/// threads.
fn render_chunk(format: AlertFormat, chunk: &[StoredAlert<'_>]) -> Result<Vec<u8>, AppError> {
    let render_all = |alerts: &[StoredAlert<'_>]| -> Result<Vec<u8>, AppError> {
        let mut text = Vec::with_capacity(alerts.len() * RENDERED_ALERT);
        alerts
            .iter()
            .try_for_each(|s| render_alert(&mut text, format, *s))?;
        Ok(text)
    };
    if chunk.len() < PARALLEL_RENDER {
        return render_all(chunk);
    }
    let (first, second) = chunk.split_at(chunk.len() / 2);
    let (a, b) = std::thread::scope(|scope| {
        let other = scope.spawn(|| render_all(second));
        let a = render_all(first);
        // A panic while rendering is a bug: it goes on as the panic it is.
        let b = other
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (a, b)
    });
    let mut text = a?;
    text.extend_from_slice(&b?);
    Ok(text)
}

/// Alerts of one commit from which a chunk is rendered on two threads, and the chunk
/// [`print_alerts`] renders at once.
const PARALLEL_RENDER: usize = 512;
/// Text that [`render_ahead`] renders at most (then a chunk more): it is held until the
/// commit is done, so this bounds what a big commit adds to memory.
const RENDERED_AHEAD: usize = 16 << 20;

fn render_alert(
    text: &mut Vec<u8>,
    format: AlertFormat,
    stored: StoredAlert<'_>,
) -> Result<(), AppError> {
    match format {
        AlertFormat::Ocsf => {
            let activity = match stored.kind {
                AlertChangeKind::New => OcsfActivity::Create,
                AlertChangeKind::Update => OcsfActivity::Update,
            };
            picket_report::alert_change_ocsf(text, activity, stored.alert)?
        }
        AlertFormat::Report(Format::Table) => {
            let number = usize::try_from(stored.number).unwrap_or(usize::MAX);
            picket_report::alert_block(text, number, stored.kind, stored.alert)?;
        }
        AlertFormat::Report(_) => picket_report::alert_record(text, stored.kind, stored.alert)?,
    }
    Ok(())
}

/// Room for one rendered alert before the buffer grows (a typical NDJSON record is 1-2 KB).
const RENDERED_ALERT: usize = 2048;

/// The block sink: clients of alerts at or above the policy's severity, once each.
pub struct Blocker {
    nft: Nft,
    min_severity: Severity,
    ttl: Duration,
    done: HashSet<IpAddr>,
}

impl Blocker {
    pub fn new(policy: &BlockPolicy) -> Self {
        Self {
            nft: Nft::new(policy.allow.clone()),
            min_severity: policy.min_severity,
            ttl: policy.ttl,
            done: HashSet::new(),
        }
    }

    /// Blocks the clients of `alerts` that reached the blocking severity and records each block
    /// with its alert. The allow-list refusing is reported, never overridden.
    pub fn block(
        &mut self,
        alerts: &[Alert],
        store: &Store,
        sink: &mut dyn ThreatSink,
    ) -> Result<(), AppError> {
        for alert in alerts {
            if alert.severity < self.min_severity || self.done.contains(&alert.client) {
                continue;
            }
            self.done.insert(alert.client);
            let net = IpNet::from(alert.client);
            match self.nft.block(net, Some(self.ttl)) {
                Ok(outcome) => {
                    sink.notice(Notice::Blocked {
                        net,
                        ttl: self.ttl,
                        outcome: &outcome,
                    });
                    let now = Timestamp::now();
                    store.record_block(&BlockRecord {
                        id: None,
                        net,
                        reason: format!(
                            "{} alert {} ({})",
                            alert.severity,
                            alert.id.unwrap_or_default(),
                            alert.kind
                        ),
                        alert_id: alert.id,
                        created_at: now,
                        expires_at: expiry(now, self.ttl),
                        removed_at: None,
                    })?;
                }
                Err(e @ RespondError::Allowed { .. }) => sink.notice(Notice::NotBlocked(&e)),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// `now + ttl`, when representable.
pub(crate) fn expiry(now: Timestamp, ttl: Duration) -> Option<Timestamp> {
    jiff::SignedDuration::try_from(ttl)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    /// An alert as `picket detect` prints one, with its id and client varied.
    fn alert(i: u32) -> Alert {
        let mut alert: Alert = serde_json::from_str(SAMPLE).unwrap();
        alert.id = Some(i64::from(i) + 1);
        alert.client = IpAddr::V4(Ipv4Addr::from(0xCB00_7100 + i));
        alert.connections = u64::from(i % 7) + 1;
        // A control character in a source's file name: the sink escapes it.
        if i % 5 == 0 {
            alert.sources[0].file = "conn\u{1b}[2J.log".into();
        }
        alert
    }

    const SAMPLE: &str = r#"{"kind":"bad-client-to-vulnerable-app","dedup_key":"bad-client-to-vulnerable-app|120.50.20.34|10.0.1.20:80|tcp|f5:nginx 1.18.0|2024-05-01T12:00:00.749938Z","window_start":"2024-05-01T12:00:00.749938Z","client":"120.50.20.34","host":"10.0.1.20","port":80,"transport":"tcp","application":{"product":"nginx","vendor":"f5","version":"1.18.0"},"intel":[{"feed":"firehol_level2","network":"120.50.20.34/32","category":"attacks"}],"vulns":[{"id":"CVE-2021-23017","cvss":{"version":"3.1","base_score":7.7,"severity":"high","vector":"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:L"},"kev":false,"confidence":"version-range"}],"first_seen":"2024-05-01T12:00:00.749938Z","last_seen":"2024-05-01T12:00:00.749938Z","connections":1,"established":0,"attempted":1,"bytes_to_server":2464,"bytes_to_client":0,"packets_to_server":16,"packets_to_client":0,"max_bytes_per_connection":2464,"severity":"medium","reasons":["120.50.20.34 is listed by 1 feed (firehol_level2): +1.","The most severe vulnerability, CVE-2021-23017, has CVSS 3.1 base score 7.7 (high): +2.","No vulnerability is in CISA's Known Exploited Vulnerabilities catalog: +0.","The one connection was not established (attempted or refused only): +0.","No connection carried more than 10 KB (the largest: 2,464 bytes): +0.","Score 3: medium (info up to 1, low 2, medium 3-4, high 5-7, critical 8 and more)."],"sources":[{"file":"conn.log","line":99}]}"#;

    /// The alerts of one commit printed at once are byte for byte those printed one by one,
    /// below and above the size rendered on two threads and across its chunks, and so are
    /// they when some or all of them were rendered ahead.
    #[test]
    fn printing_a_commit_at_once_is_printing_each_alert() {
        let alerts: Vec<Alert> = (0..1_300).map(alert).collect();
        let formats = [
            AlertFormat::Report(Format::Table),
            AlertFormat::Report(Format::Json),
            AlertFormat::Report(Format::Ndjson),
            AlertFormat::Ocsf,
        ];
        for n in [
            0,
            1,
            PARALLEL_RENDER - 1,
            PARALLEL_RENDER,
            PARALLEL_RENDER + 1,
            1_300,
        ] {
            let stored: Vec<StoredAlert<'_>> = alerts[..n]
                .iter()
                .enumerate()
                .map(|(i, alert)| StoredAlert {
                    number: i as u64 + 1,
                    kind: if i % 4 == 0 {
                        AlertChangeKind::Update
                    } else {
                        AlertChangeKind::New
                    },
                    alert,
                })
                .collect();
            for format in formats {
                let mut each = Vec::new();
                for s in &stored {
                    print_alert(&mut each, format, *s).unwrap();
                }
                let mut at_once = Vec::new();
                print_alerts(&mut at_once, format, &stored).unwrap();
                assert!(each == at_once, "{n} alerts as {format:?} differ");
                assert_eq!(each.is_empty(), n == 0);
                // Rendered ahead (all, none, or the chunks up to a size), then printed.
                for ahead in [0, 1, 600_000, usize::MAX] {
                    let rendered = render_ahead_up_to(format, &stored, ahead).unwrap();
                    let mut staged = Vec::new();
                    print_rendered(&mut staged, format, &stored, rendered).unwrap();
                    assert!(
                        each == staged,
                        "{n} alerts as {format:?}, {ahead} ahead, differ"
                    );
                }
            }
        }
    }
}
