//! A progress bar on stderr while a scan runs, only when stderr is a terminal: piped or
//! redirected runs print nothing but their output.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use picket_app::exposure::Progress as Step;
use picket_scan::ScanEvent;

pub struct Progress {
    terminal: bool,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            bar: None,
        }
    }

    /// Draws one step of an exposure run: a new bar when a scan starts, its end when the scan
    /// is done, messages above it.
    pub fn on_step(&mut self, step: Step<'_>) {
        match step {
            Step::Scan(ScanEvent::Started { .. }) if self.terminal => {
                let bar = ProgressBar::new(0);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ports ({eta}) {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                self.bar = Some(bar);
            }
            Step::Scan(event) => self.on_event(event),
            Step::ScanFinished => {
                if let Some(bar) = &self.bar {
                    bar.finish_and_clear();
                }
            }
            Step::Rechecking { ports, hosts, rate } => self.message(&format!(
                "re-checking {ports} port(s) on {hosts} host(s) at {rate:.0} probes/s"
            )),
            Step::IdentifyingServices => self.message("identifying services on open ports"),
            Step::Begun(_) => {}
        }
    }

    fn on_event(&mut self, event: &ScanEvent) {
        let Some(bar) = &self.bar else {
            return;
        };
        match event {
            ScanEvent::Progress {
                decided,
                total,
                rate,
                ..
            } => {
                bar.set_length(*total);
                bar.set_position(*decided);
                bar.set_message(format!("{rate:.0} probes/s"));
            }
            ScanEvent::PortOpen { host, port } => bar.println(format!("open {host}:{port}")),
            ScanEvent::HostDown { host, reason } => {
                bar.println(format!("{host} is down ({reason})"))
            }
            ScanEvent::HostSilenced { host, interruption } => bar.println(format!(
                "{host} went silent after {} answers (at {:.0} probes/s): pausing and slowing down",
                interruption.answered_before, interruption.rate
            )),
            ScanEvent::HostResumed { host, paused } => {
                bar.println(format!(
                    "{host} answers again after {:.1}s",
                    paused.as_secs_f64()
                ));
            }
            ScanEvent::HostAbandoned { host, unprobed } => {
                bar.println(format!(
                    "{host} stayed silent: {unprobed} ports left unprobed"
                ));
            }
            ScanEvent::Started { .. } | ScanEvent::Rate { .. } | ScanEvent::HostUp { .. } => {}
        }
    }

    fn message(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.println(text);
        }
    }
}
