//! Validation: raw command-line arguments in, the options structs the engines take out.
//! Every refusal names what was wrong, so the CLI can print it as one line.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use picket_model::{PortSet, ScanProfile, Targets, top_ports};
use picket_report::Format;

use crate::cli::ScanArgs;

/// A refusal of the command line itself (a missing target, a bad flag value): the binary exits
/// with status 2 for it, as clap does for the errors it finds.
#[derive(Debug)]
pub struct Usage(pub anyhow::Error);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Usage {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Marks `e` as a [`Usage`] error.
pub fn usage(e: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(Usage(e))
}

/// A validated `picket scan`.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub targets: Targets,
    pub profile: ScanProfile,
    pub format: Format,
    pub schedule: Option<Schedule>,
    /// `--service-detect`: the signatures to identify services with (built-in plus the user's).
    pub services: Option<std::sync::Arc<picket_service::Signatures>>,
}

/// `--every` / `--count`: scan again at a fixed interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub every: Duration,
    /// Stop after this many runs (`None`: until stopped).
    pub count: Option<u32>,
}

const DEFAULT_TOP_PORTS: usize = 1000;

impl ScanOptions {
    pub fn from_args(args: &ScanArgs) -> Result<Self> {
        let mut include = args.targets.clone();
        for file in &args.input_list {
            include.extend(read_target_file(file)?);
        }
        let mut exclude = args.exclude.clone();
        for file in &args.exclude_file {
            exclude.extend(read_target_file(file)?);
        }
        let targets = Targets::parse(&include, &exclude)?;

        let ports = match (&args.ports, args.top_ports) {
            (Some(spec), _) => spec.parse::<PortSet>()?,
            (None, Some(n)) => PortSet::from_ports(top_ports(n)?),
            (None, None) => PortSet::from_ports(top_ports(DEFAULT_TOP_PORTS)?),
        };
        let mut profile = ScanProfile::new(ports);
        if let Some(t) = &args.read_timeout {
            profile.read_timeout = Some(parse_duration("--read-timeout", t)?);
        }
        if let Some(n) = args.max_checks {
            if n == 0 {
                bail!("--max-checks 0: at least one probe must be allowed in flight");
            }
            profile.max_checks = n;
        }
        if let Some(rate) = args.max_rate {
            if !(rate.is_finite() && rate > 0.0) {
                bail!("--max-rate {rate}: must be a positive number of probes per second");
            }
            profile.max_rate = Some(rate);
        }
        if let Some(r) = args.retries {
            if r > 50 {
                bail!("--retries {r}: at most 50");
            }
            profile.retries = Some(r);
        }
        profile.assume_up = args.no_ping;
        if let Some(p) = &args.ban_patience {
            profile.ban_patience = parse_duration("--ban-patience", p)?;
        }
        profile.recheck = !args.no_recheck;
        if let Some(seed) = args.seed {
            profile.seed = seed;
        }
        let schedule = match &args.every {
            Some(every) => {
                let every = humantime::parse_duration(every.trim())
                    .with_context(|| format!("--every {every:?}: not a duration (e.g. 15m, 1h)"))?;
                if every < Duration::from_secs(1) {
                    bail!("--every {every:?}: at least one second between runs");
                }
                if args.count == Some(0) {
                    bail!("--count 0: at least one run");
                }
                Some(Schedule {
                    every,
                    count: args.count,
                })
            }
            None => None,
        };
        let services = if args.service_detect {
            let mut signatures = picket_service::Signatures::builtin()?;
            for path in &args.signatures {
                let user = if path.is_dir() {
                    picket_service::Signatures::load_dir(path)?
                } else {
                    picket_service::Signatures::load_file(path)?
                };
                signatures = signatures.merge(user);
            }
            Some(std::sync::Arc::new(signatures))
        } else {
            None
        };
        Ok(Self {
            targets,
            profile,
            format: parse_format(&args.format)?,
            schedule,
            services,
        })
    }
}

pub fn parse_format(s: &str) -> Result<Format> {
    s.parse::<Format>().map_err(|_| {
        usage(anyhow::anyhow!(
            "--format {s:?}: expected table, json, ndjson or xml"
        ))
    })
}

/// `500ms`, `2s`, `1m`; a bare number is seconds, as Nessus writes `checks_read_timeout = 5`.
fn parse_duration(flag: &str, s: &str) -> Result<Duration> {
    let d = match s.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => Duration::from_secs_f64(secs),
        Ok(_) => bail!("{flag} {s:?}: must be positive"),
        Err(_) => humantime::parse_duration(s.trim())
            .with_context(|| format!("{flag} {s:?}: not a duration (e.g. 500ms, 2s)"))?,
    };
    if d.is_zero() || d > Duration::from_secs(600) {
        bail!("{flag} {s:?}: must be between 1ms and 10m");
    }
    Ok(d)
}

/// Targets from a file: whitespace-separated, `#` to the end of a line is a comment. Each target
/// is checked here so that an error names the file and line.
fn read_target_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read target file {}", path.display()))?;
    let mut targets = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        for word in line.split_whitespace() {
            word.parse::<picket_model::TargetSpec>()
                .with_context(|| format!("{}:{}", path.display(), i + 1))?;
            targets.push(word.to_owned());
        }
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn scan_args(args: &[&str]) -> ScanArgs {
        let mut argv = vec!["picket", "scan"];
        argv.extend_from_slice(args);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Scan(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn defaults_to_the_top_thousand_ports() {
        let o = ScanOptions::from_args(&scan_args(&["127.0.0.1"])).unwrap();
        assert_eq!(o.profile.ports.len(), 1000);
        assert_eq!(o.profile.read_timeout, None);
        assert!(o.profile.recheck);
    }

    #[test]
    fn knobs_are_validated() {
        let o = ScanOptions::from_args(&scan_args(&[
            "127.0.0.1",
            "-p",
            "22,80",
            "--read-timeout",
            "5",
            "--max-checks",
            "10",
            "--max-rate",
            "100",
            "--retries",
            "3",
            "--no-recheck",
        ]))
        .unwrap();
        assert_eq!(o.profile.read_timeout, Some(Duration::from_secs(5)));
        assert_eq!(o.profile.max_checks, 10);
        assert_eq!(o.profile.retries, Some(3));
        assert!(!o.profile.recheck);
        for bad in [
            vec!["127.0.0.1", "-p", "0"],
            vec!["300.0.0.1"],
            vec!["127.0.0.1", "--read-timeout", "soon"],
            vec!["127.0.0.1", "--max-checks", "0"],
            vec!["127.0.0.1", "--max-rate", "0"],
            vec!["127.0.0.1", "--format", "pdf"],
            vec![],
        ] {
            assert!(
                ScanOptions::from_args(&scan_args(&bad)).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn target_files_name_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("targets.txt");
        std::fs::write(&file, "# lab\n127.0.0.1 127.0.0.2\n\n10.0.0.0/33 # typo\n").unwrap();
        let err = ScanOptions::from_args(&scan_args(&["--input-list", file.to_str().unwrap()]))
            .unwrap_err();
        assert!(format!("{err:#}").contains("targets.txt:4"), "{err:#}");
        std::fs::write(&file, "# lab\n127.0.0.1 127.0.0.2 # two\n").unwrap();
        let o =
            ScanOptions::from_args(&scan_args(&["--input-list", file.to_str().unwrap()])).unwrap();
        assert_eq!(o.targets.include.len(), 2);
    }
}
