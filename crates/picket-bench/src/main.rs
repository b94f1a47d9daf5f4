//! `picket-bench`: runs the scan benchmark and prints (and optionally writes) its table.
//! Usually started by `bench/scan.sh`, which builds the release binaries first.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use picket_bench::machine::{self, Machine};
use picket_bench::report::{self, Context};
use picket_bench::run::{self, Exit};
use picket_bench::scenario::Layout;
use picket_bench::tool::{self, Invocation};
use picket_bench::{Outcome, Row, Scenario, Tool};
use picket_lab::Lab;

/// Scan lab hosts with Picket and its peers, under each scenario (one target's 65,535 ports,
/// or several hosts), and print wall time and found/expected per run. Needs root (network
/// namespaces).
#[derive(Debug, Parser)]
#[command(name = "picket-bench")]
struct Args {
    /// Scenarios to run, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Scenario::ALL)]
    scenarios: Vec<Scenario>,

    /// Tools to run, comma-separated; a tool that is not installed is listed as skipped.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Tool::ALL)]
    tools: Vec<Tool>,

    /// Seconds a run may take before the tool is killed and reported as a timeout (`ban120`
    /// gets at least 400).
    #[arg(long, default_value_t = 240)]
    timeout: u64,

    /// How many ports a single target listens on (the group's hosts: as many per 65,535).
    #[arg(long, default_value_t = 463)]
    open_ports: usize,

    /// Seed of the listening ports.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// The picket binary (default: `picket` beside this program, i.e. target/release/picket).
    #[arg(long, value_name = "PATH")]
    picket: Option<PathBuf>,

    /// Also write the results as markdown to this file (such as bench/RESULTS.md).
    #[arg(long, value_name = "PATH")]
    results: Option<PathBuf>,
}

fn main() -> ExitCode {
    match bench(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("picket-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A tool that can run: the program to start and its version line.
struct Ready {
    program: PathBuf,
    version: String,
}

fn bench(args: Args) -> anyhow::Result<ExitCode> {
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // First signal: stop after killing the running tool and removing the lab. Second: exit
        // at once (the next run's Lab::try_new removes the namespaces left behind).
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&interrupted))
            .context("installing the signal handlers")?;
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .context("installing the signal handlers")?;
    }

    let picket = match args.picket {
        Some(path) => path,
        None => sibling("picket")?,
    };
    let mut tools: Vec<(Tool, Result<Ready, String>)> = Vec::new();
    for &tool in &dedup(&args.tools) {
        let program = match tool {
            Tool::Picket => picket.clone(),
            _ => PathBuf::from(tool.program()),
        };
        let ready = match tool::version(&program) {
            Some(version) => Ok(Ready { program, version }),
            None => Err(format!(
                "skipped: `{}` not found ({})",
                program.display(),
                tool.install_hint()
            )),
        };
        tools.push((tool, ready));
    }

    let timeout = Duration::from_secs(args.timeout);
    let date = jiff::Timestamp::now()
        .round(jiff::Unit::Second)?
        .to_string();
    let load_before = machine::load_average();
    let mut rows = Vec::new();
    for &scenario in &dedup(&args.scenarios) {
        let expected = count_expected(scenario, args.open_ports, args.seed);
        for (tool, ready) in &tools {
            let skipped = |why: &str| {
                Some(Row {
                    scenario,
                    tool: *tool,
                    wall: None,
                    expected,
                    outcome: Outcome::Skipped,
                    notes: vec![why.to_owned()],
                })
            };
            let row = match (ready, tool.unsupported(scenario)) {
                (Err(why), _) => skipped(why),
                (Ok(_), Some(why)) => skipped(why),
                (Ok(ready), None) => {
                    eprintln!("picket-bench: {scenario} / {tool} ...");
                    let run = Run {
                        scenario,
                        tool: *tool,
                        program: &ready.program,
                        open_ports: args.open_ports,
                        seed: args.seed,
                        timeout: scenario.timeout(timeout),
                    };
                    measure(&run, &interrupted)?
                }
            };
            // Stopped during a run or between two: a partial table is printed, never written.
            match row {
                Some(row) if !interrupted.load(Ordering::SeqCst) => {
                    eprintln!("picket-bench: {}", row.summary());
                    rows.push(row);
                }
                _ => {
                    eprintln!("picket-bench: interrupted; the runs so far:");
                    println!("{}", report::terminal_table(&rows));
                    return Ok(ExitCode::from(130));
                }
            }
        }
    }
    let load_after = machine::load_average();
    println!("{}", report::terminal_table(&rows));
    println!("load average before: {load_before}; after: {load_after}");

    if let Some(path) = &args.results {
        let context = Context {
            date,
            command: command_line(),
            machine: Machine::describe(),
            load_before,
            load_after,
            open_ports: args.open_ports,
            seed: args.seed,
            timeout,
            scenarios: dedup(&args.scenarios)
                .into_iter()
                .map(|s| (s, s.description()))
                .collect(),
            tools: tools
                .iter()
                .map(|(tool, ready)| {
                    let version = match ready {
                        Ok(ready) if *tool == Tool::Picket => {
                            format!("{}{}", ready.version, checkout())
                        }
                        Ok(ready) => ready.version.clone(),
                        Err(_) => format!("not installed: {}", tool.install_hint()),
                    };
                    (*tool, version)
                })
                .collect(),
        };
        std::fs::write(path, report::results_markdown(&context, &rows))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("picket-bench: wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// How many (address, port) pairs `scenario` expects open.
fn count_expected(scenario: Scenario, open_ports: usize, seed: u64) -> usize {
    let hosts = match scenario.layout(open_ports, seed) {
        Layout::Single(host) => vec![host],
        Layout::Segment(hosts) => hosts.into_iter().map(|(_, host)| host).collect(),
        Layout::Targets(hosts) => hosts,
    };
    hosts.iter().map(|host| host.expected.len()).sum()
}

/// One (scenario, tool) run to measure.
struct Run<'a> {
    scenario: Scenario,
    tool: Tool,
    program: &'a Path,
    open_ports: usize,
    seed: u64,
    timeout: Duration,
}

/// One run in a fresh lab; `None` when Ctrl-C stopped it.
fn measure(job: &Run<'_>, interrupted: &AtomicBool) -> anyhow::Result<Option<Row>> {
    let &Run {
        scenario,
        tool,
        program,
        timeout,
        ..
    } = job;
    let Some(mut lab) = Lab::try_new("picket_bench")? else {
        bail!("the lab cannot run here (see `skipped:` above)");
    };
    // Declared after the lab, so dropped before it: the listeners stop, then the namespaces go.
    let setup = scenario.build(&mut lab, job.open_ports, job.seed)?;
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let db = dir.path().join("picket.db");
    let (interface, target_mac) = match (tool, &setup.single) {
        (Tool::Masscan, Some(target)) => tool::link_of(&lab, target)?,
        _ => Default::default(),
    };
    let top_list = scenario.ports().top_list();
    let at = Invocation {
        targets: &setup.targets,
        ports: scenario.ports(),
        discovery: scenario.multi_host(),
        top_list: &top_list,
        interface: &interface,
        target_mac: &target_mac,
        db: db
            .to_str()
            .context("the temporary directory's path is not UTF-8")?,
    };
    let mut command = lab.scanner_command(program);
    command.args(tool.args(&at)).env_remove("PICKET_DB");

    let stop = Arc::new(AtomicBool::new(false));
    let (finished, keepalive) = std::thread::scope(|scope| {
        let keepalive = setup
            .single
            .as_ref()
            .filter(|_| tool.needs_keepalive())
            .map(|target| {
                let (stop, lab, address) = (Arc::clone(&stop), &lab, target.address_v4());
                scope.spawn(move || lab.in_scanner(move || run::keepalive(address, &stop)))
            });
        let finished = run::run(command, timeout, interrupted, dir.path());
        stop.store(true, Ordering::SeqCst);
        (finished, keepalive.map(|handle| handle.join()))
    });
    let finished = finished?;

    let mut notes = Vec::new();
    match keepalive {
        None | Some(Ok(Ok(Ok(0)))) => {}
        Some(Ok(Ok(Ok(failed)))) => notes.push(format!("{failed} keepalive datagram(s) failed")),
        Some(Ok(Ok(Err(e)))) => notes.push(format!("keepalive failed: {e}")),
        Some(Ok(Err(e))) => notes.push(format!("keepalive failed: {e}")),
        Some(Err(_)) => notes.push("keepalive thread panicked".to_owned()),
    }
    let row = |outcome, first: String| Row {
        scenario,
        tool,
        wall: Some(finished.wall),
        expected: setup.expected.len(),
        outcome,
        notes: [vec![first], notes.clone()].concat(),
    };
    Ok(Some(match finished.exit {
        Exit::Interrupted => return Ok(None),
        Exit::TimedOut => row(Outcome::TimedOut { after: timeout }, "killed".to_owned()),
        Exit::Finished(status) if !status.success() => row(
            Outcome::Failed,
            format!("{status}: {}", last_line(&finished.stderr)),
        ),
        Exit::Finished(_) => match tool.parse(&finished.stdout) {
            Ok(report) => {
                let mut counted =
                    Row::counted(scenario, tool, finished.wall, &setup.expected, report);
                counted.notes.extend(notes.iter().cloned());
                counted
            }
            Err(e) => row(Outcome::Failed, e.to_string()),
        },
    }))
}

/// A program in the same directory as this one.
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this program's path")?;
    let dir = exe
        .parent()
        .context("this program's path has no directory")?;
    Ok(dir.join(name))
}

/// `items` without repeats, in first-seen order.
fn dedup<T: PartialEq + Copy>(items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for &item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The last non-empty line of a tool's error output, cut to a table-friendly length.
fn last_line(stderr: &str) -> String {
    let line = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("no error output");
    line.chars().take(160).collect()
}

/// `, commit abc1234` (`+ uncommitted changes` when the crates differ from it), or nothing
/// when git cannot tell.
fn checkout() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        return String::new();
    };
    let dirty = git(&["status", "--porcelain", "--", "../../crates"])
        .is_some_and(|status| !status.is_empty());
    let dirty = if dirty { " + uncommitted changes" } else { "" };
    format!(", commit {commit}{dirty}")
}

/// How this program was started, for RESULTS.md.
fn command_line() -> String {
    let mut words: Vec<String> = std::env::args().collect();
    if let Some(first) = words.first_mut() {
        if let Some(name) = Path::new(first).file_name() {
            *first = name.to_string_lossy().into_owned();
        }
    }
    words.join(" ")
}
