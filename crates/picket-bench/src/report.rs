//! The results table (terminal and markdown) and the RESULTS.md document.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use comfy_table::{Table, TableStyle, presets};

use crate::machine::Machine;
use crate::{Report, Scenario, Tool};

/// What became of one (scenario, tool) run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The tool finished; its report was counted against the listening ports.
    Counted {
        found: usize,
        missed: usize,
        false_positives: usize,
    },
    /// Killed at the deadline.
    TimedOut { after: Duration },
    /// The tool failed or its output could not be read.
    Failed,
    /// Not run.
    Skipped,
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub scenario: Scenario,
    pub tool: Tool,
    /// Wall time of the run, when it ran.
    pub wall: Option<Duration>,
    /// Listening (address, port) pairs that the scan should report open.
    pub expected: usize,
    pub outcome: Outcome,
    pub notes: Vec<String>,
}

impl Row {
    /// Counts `report` against the `expected` open (address, port) pairs. A listening port
    /// the tool called closed is noted: it is worse than a miss. With more than one host
    /// expected, found/expected per host is noted too.
    pub fn counted(
        scenario: Scenario,
        tool: Tool,
        wall: Duration,
        expected: &BTreeSet<SocketAddr>,
        report: Report,
    ) -> Row {
        let found = expected.intersection(&report.open).count();
        let false_positives = report.open.len() - found;
        let said_closed = expected.intersection(&report.closed).count();
        let mut notes = report.notes;
        if said_closed > 0 {
            notes.push(format!("{said_closed} listening port(s) reported closed"));
        }
        let hosts: BTreeSet<IpAddr> = expected.iter().map(SocketAddr::ip).collect();
        if hosts.len() > 1 {
            let per_host: Vec<String> = hosts
                .iter()
                .map(|&host| {
                    let wanted = expected.iter().filter(|e| e.ip() == host);
                    let (found, of) = wanted.fold((0, 0), |(found, of), e| {
                        (found + usize::from(report.open.contains(e)), of + 1)
                    });
                    format!("{host} {found}/{of}")
                })
                .collect();
            notes.push(format!("per host: {}", per_host.join(", ")));
        }
        Row {
            scenario,
            tool,
            wall: Some(wall),
            expected: expected.len(),
            outcome: Outcome::Counted {
                found,
                missed: expected.len() - found,
                false_positives,
            },
            notes,
        }
    }

    /// One line for progress output: `scenario / tool: wall, found/expected, missed, false
    /// positives[, notes]`.
    pub fn summary(&self) -> String {
        let [scenario, tool, wall, found, missed, false_positives, notes] = self.cells();
        let mut line = format!(
            "{scenario} / {tool}: {wall}, found {found}, missed {missed}, \
             false positives {false_positives}"
        );
        if !notes.is_empty() {
            line.push_str(&format!(" ({notes})"));
        }
        line
    }

    /// The row's cells: scenario, tool, wall time, found/expected, missed, false positives,
    /// notes.
    fn cells(&self) -> [String; 7] {
        let dash = || "—".to_owned();
        let wall = match (&self.outcome, self.wall) {
            (Outcome::TimedOut { after }, _) => format!("> {} s (timeout)", after.as_secs()),
            (_, Some(wall)) => format!("{:.1} s", wall.as_secs_f64()),
            (_, None) => dash(),
        };
        let (found, missed, false_positives) = match self.outcome {
            Outcome::Counted {
                found,
                missed,
                false_positives,
            } => {
                let share = if self.expected == 0 {
                    0.0
                } else {
                    100.0 * missed as f64 / self.expected as f64
                };
                (
                    format!("{found}/{}", self.expected),
                    if missed == 0 {
                        "0".to_owned()
                    } else {
                        format!("{missed} ({share:.1} %)")
                    },
                    false_positives.to_string(),
                )
            }
            _ => (dash(), dash(), dash()),
        };
        [
            self.scenario.to_string(),
            self.tool.to_string(),
            wall,
            found,
            missed,
            false_positives,
            self.notes.join("; "),
        ]
    }
}

const HEADER: [&str; 7] = [
    "scenario",
    "tool",
    "wall time",
    "found/expected",
    "missed",
    "false positives",
    "notes",
];

fn table(rows: &[Row], style: TableStyle) -> String {
    let mut table = Table::new();
    table.load_style(style).set_header(HEADER);
    for row in rows {
        table.add_row(row.cells());
    }
    table.to_string()
}

/// The table for a terminal.
pub fn terminal_table(rows: &[Row]) -> String {
    table(rows, presets::UTF8_FULL_CONDENSED)
}

/// The table as GitHub markdown.
pub fn markdown_table(rows: &[Row]) -> String {
    // A `|` inside a cell would split it in markdown.
    let rows: Vec<Row> = rows
        .iter()
        .map(|row| Row {
            notes: row.notes.iter().map(|n| n.replace('|', "\\|")).collect(),
            ..row.clone()
        })
        .collect();
    table(&rows, presets::ASCII_MARKDOWN)
}

/// Everything around the table that RESULTS.md states.
#[derive(Debug, Clone)]
pub struct Context {
    /// When the benchmark started (RFC 3339).
    pub date: String,
    /// The command that produced the results.
    pub command: String,
    pub machine: Machine,
    pub load_before: String,
    pub load_after: String,
    /// Ports a single-target scenario's target listens on (`--open-ports`).
    pub open_ports: usize,
    pub seed: u64,
    pub timeout: Duration,
    /// (scenario, what its firewall does), for the scenarios run.
    pub scenarios: Vec<(Scenario, String)>,
    /// (tool, version or why it was skipped), for the tools asked for.
    pub tools: Vec<(Tool, String)>,
}

/// RESULTS.md: where and how the numbers were measured, then the table.
pub fn results_markdown(context: &Context, rows: &[Row]) -> String {
    let m = &context.machine;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "# Scan benchmark results\n\n\
         Measured {date} with `{command}` (see README.md).\n\n\
         - Machine: {cores} cores ({cpu}), Linux {kernel}.\n\
         - Load average (1, 5, 15 min) before: {before}; after: {after}. Other builds share \
         this machine, so wall times are noisy; the counts are not.\n\
         - Lab: each run gets a fresh lab (no ban or connection state carried over): the \
         scanner's network namespace and one per host, as each scenario below describes. A \
         single-target scenario's target is joined to the scanner's namespace by a veth pair \
         and listens on {open_ports} TCP ports spread over 1-65535 (seed {seed}); every tool \
         scans all 65,535 of its ports from inside the scanner namespace. A run is killed after \
         {timeout} s, or the scenario's own longer limit.\n\n",
        date = context.date,
        command = context.command,
        cores = m.cores,
        cpu = m.cpu,
        kernel = m.kernel,
        before = context.load_before,
        after = context.load_after,
        open_ports = context.open_ports,
        seed = context.seed,
        timeout = context.timeout.as_secs(),
    );
    out.push_str(&markdown_table(rows));
    out.push_str("\n\n## Scenarios\n\n");
    for (scenario, description) in &context.scenarios {
        let _ = writeln!(out, "- `{scenario}`: {description}.");
        if scenario.multi_host() {
            for (tool, _) in &context.tools {
                if tool.unsupported(*scenario).is_none() {
                    let _ = writeln!(out, "  - `{}`", tool.command_line(*scenario));
                }
            }
        }
    }
    out.push_str("\n## Tools\n\n");
    for (tool, version) in &context.tools {
        let _ = writeln!(
            out,
            "- `{tool}` ({version}): `{}` (single-target scenarios); {}.",
            tool.command_line(Scenario::Clean),
            tool.note()
        );
    }
    out.push_str(
        "\nFound = expected (address, port) pairs the tool reported open; missed = expected \
         pairs it did not; false positives = pairs it reported open that are not expected \
         (nothing listens there, or a firewall filters it).\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        let at = |port| SocketAddr::from(([198, 18, 0, 2], port));
        let expected = BTreeSet::from([at(22), at(80), at(443), at(8080)]);
        let report = Report {
            open: BTreeSet::from([at(22), at(80), at(9999)]),
            closed: BTreeSet::from([at(443)]),
            notes: vec!["1 interruption(s) detected, 1 resumed".to_owned()],
        };
        vec![
            Row::counted(
                Scenario::Clean,
                Tool::Picket,
                Duration::from_millis(2_345),
                &expected,
                report,
            ),
            Row {
                scenario: Scenario::Loss3,
                tool: Tool::Nmap,
                wall: Some(Duration::from_secs(240)),
                expected: 4,
                outcome: Outcome::TimedOut {
                    after: Duration::from_secs(240),
                },
                notes: vec!["killed | no output".to_owned()],
            },
            Row {
                scenario: Scenario::Ban,
                tool: Tool::Rustscan,
                wall: None,
                expected: 4,
                outcome: Outcome::Skipped,
                notes: vec!["not installed".to_owned()],
            },
        ]
    }

    #[test]
    fn counting_splits_found_missed_and_false_positives() {
        let row = &rows()[0];
        assert_eq!(
            row.outcome,
            Outcome::Counted {
                found: 2,
                missed: 2,
                false_positives: 1
            }
        );
        assert!(
            row.notes
                .contains(&"1 listening port(s) reported closed".to_owned())
        );
    }

    #[test]
    fn several_hosts_are_counted_per_host() {
        let a = |port| SocketAddr::from(([198, 19, 224, 10], port));
        let b = |port| SocketAddr::from(([198, 19, 224, 37], port));
        let expected = BTreeSet::from([a(22), a(80), b(22)]);
        let report = Report {
            // b's port 22 missed; port 22 on the scanner's own .1 is a false positive.
            open: BTreeSet::from([a(22), a(80), SocketAddr::from(([198, 19, 224, 1], 22))]),
            ..Report::default()
        };
        let row = Row::counted(
            Scenario::Sparse26,
            Tool::Nmap,
            Duration::from_secs(3),
            &expected,
            report,
        );
        assert_eq!(
            row.outcome,
            Outcome::Counted {
                found: 2,
                missed: 1,
                false_positives: 1
            }
        );
        assert_eq!(
            row.notes,
            ["per host: 198.19.224.10 2/2, 198.19.224.37 0/1"]
        );
    }

    #[test]
    fn summaries_are_one_line() {
        assert_eq!(
            rows()[0].summary(),
            "clean / picket: 2.3 s, found 2/4, missed 2 (50.0 %), false positives 1 \
             (1 interruption(s) detected, 1 resumed; 1 listening port(s) reported closed)"
        );
        assert_eq!(
            rows()[2].summary(),
            "ban / rustscan: —, found —, missed —, false positives — (not installed)"
        );
    }

    #[test]
    fn markdown_table_renders() {
        insta::assert_snapshot!(markdown_table(&rows()));
    }

    #[test]
    fn results_document_renders() {
        let context = Context {
            date: "2026-11-23T17:00:00Z".to_owned(),
            command: "bench/scan.sh".to_owned(),
            machine: Machine {
                cores: 2,
                kernel: "6.1.0".to_owned(),
                cpu: "Example CPU".to_owned(),
            },
            load_before: "1.00 0.50 0.25".to_owned(),
            load_after: "2.00 1.00 0.50".to_owned(),
            open_ports: 463,
            seed: 1,
            timeout: Duration::from_secs(240),
            scenarios: [Scenario::Clean, Scenario::Sparse26]
                .map(|s| (s, s.description()))
                .to_vec(),
            tools: vec![(Tool::Nmap, "Nmap version 7.93".to_owned())],
        };
        insta::assert_snapshot!(results_markdown(&context, &rows()));
    }
}
