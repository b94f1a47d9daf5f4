//! `picket detect`: run picket-app's threat pipeline over the event sources, print alerts as the
//! store takes them, and the pipeline's notices on stderr.

use std::io::Write;

use anyhow::Result;
use picket_app::options::{AlertFormat, PipelineOptions};
use picket_app::threat::{self, Notice, Rendered, StoredAlert, ThreatSink};
use picket_app::{AppError, Shutdown};
use picket_report::counted;

use crate::render;

/// Alerts to the report writer, notices to stderr (also `picket worker --detect`'s sink).
pub struct Printer<'a> {
    out: &'a mut dyn Write,
    format: AlertFormat,
    /// Whether an alert was raised or updated.
    pub alerted: bool,
    /// The alerts of the commit under way, rendered while the store commits them.
    staged: Option<Rendered>,
}

impl<'a> Printer<'a> {
    pub fn new(out: &'a mut dyn Write, format: AlertFormat) -> Self {
        Self {
            out,
            format,
            alerted: false,
            staged: None,
        }
    }
}

impl ThreatSink for Printer<'_> {
    fn alert(&mut self, stored: StoredAlert<'_>) -> Result<(), AppError> {
        self.alerted = true;
        threat::print_alert(self.out, self.format, stored)
    }

    fn stage(&mut self, stored: &[StoredAlert<'_>]) -> Result<(), AppError> {
        self.staged = Some(threat::render_ahead(self.format, stored)?);
        Ok(())
    }

    fn alerts(&mut self, stored: &[StoredAlert<'_>]) -> Result<(), AppError> {
        self.alerted |= !stored.is_empty();
        let staged = self.staged.take().unwrap_or_default();
        threat::print_rendered(self.out, self.format, stored, staged)
    }

    fn notice(&mut self, notice: Notice<'_>) {
        match notice {
            Notice::NoFeeds => eprintln!(
                "picket: no threat-intel feeds loaded (picket intel add NAME FILE): no alert can be raised"
            ),
            Notice::SkippedLine(e) => {
                eprintln!("picket: skipped {}", render::shown(&e.to_string()))
            }
            Notice::SourceRead { source, stats } => {
                let by_type = if stats.skipped_types.is_empty() {
                    String::new()
                } else {
                    // The type names come from the input: shown, never obeyed.
                    format!(
                        "; records of other types skipped: {}",
                        render::shown(&stats.skipped_types_text())
                    )
                };
                eprintln!(
                    "picket: {source}: {} from {}, {} skipped{by_type}",
                    counted(stats.events, "event", "events"),
                    counted(stats.lines, "line", "lines"),
                    counted(stats.errors, "bad line", "bad lines"),
                );
            }
            Notice::Blocked { net, ttl, outcome } => eprintln!(
                "picket: blocked {net} for {}: {outcome}",
                humantime::format_duration(ttl)
            ),
            Notice::NotBlocked(e) => eprintln!("picket: not blocking: {e}"),
            Notice::KnowledgeSwapped(swapped) => tracing::info!(
                intel = swapped.intel,
                inventory = swapped.inventory,
                suppressions = swapped.suppressions,
                "reloaded knowledge from the store"
            ),
            Notice::KnowledgeFailed(e) => eprintln!(
                "picket: knowledge not reloaded (keeping what was loaded): {}",
                render::shown(&e.to_string())
            ),
            // The running counts are for a service's metrics; a person gets the summary.
            Notice::Counted(_) => {}
            Notice::Summary {
                stats: s,
                new_alerts,
                updated_alerts,
            } => eprintln!(
                "picket: {}, {} inbound from outside, {} to vulnerable applications, {} from listed clients, {} suppressed; {}, {} updated",
                counted(s.events, "event", "events"),
                s.inbound,
                s.to_vulnerable,
                s.listed,
                s.suppressed,
                counted(new_alerts, "new alert", "new alerts"),
                updated_alerts
            ),
        }
    }
}

/// Runs the pipeline; `true` when an alert was raised or updated.
pub fn run(
    db: &str,
    options: &PipelineOptions,
    format: AlertFormat,
    shutdown: &Shutdown,
    out: &mut dyn Write,
) -> Result<bool> {
    let store = picket_store::open(db)?;
    let mut printer = Printer::new(out, format);
    threat::run(&store, options, &mut printer, shutdown)?;
    Ok(printer.alerted)
}
