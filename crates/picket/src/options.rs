//! Validation: the raw clap arguments converted into picket-app's validated options, with
//! picket-app's parsers for every flag value. Nothing here runs a workflow; every refusal names
//! what was wrong, so the CLI can print it as one line and exit with status 2.

use anyhow::Result;
use picket_app::options::{
    self as parse, AlertFormat, BlockPolicy, PipelineOptions, ProfileValues, ScanOptions, Schedule,
    SourceSpec,
};
use picket_app::targets::TargetValues;
use picket_detect::threat::ThreatSettings;
use picket_report::Format;

use crate::cli::{DetectArgs, ScanArgs};

/// A refusal of the command line itself (a missing target, a bad flag value): the binary exits
/// with status 2 for it, as clap does for the errors it finds. Refusals of picket-app's parsers
/// (`OptionError`) count as usage errors too.
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

/// Whether `e` is the user's usage error (exit status 2).
pub fn is_usage(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.is::<Usage>()
            || cause.is::<parse::OptionError>()
            || cause
                .downcast_ref::<picket_app::AppError>()
                .is_some_and(|a| a.as_option().is_some())
    })
}

/// A validated `picket scan`: the run, its schedule, its report format.
pub struct Scan {
    pub options: ScanOptions,
    /// `--queue`: the workers that scan instead of this process.
    pub queue: Option<picket_app::distributed::QueueScan>,
    pub schedule: Option<Schedule>,
    pub format: Format,
}

impl Scan {
    /// `db` is named in the findings' verify commands when the user gave it.
    pub fn from_args(args: &ScanArgs, db: Option<&str>) -> Result<Self> {
        let targets = if args.resume.is_some() {
            let given = !(args.targets.is_empty()
                && args.input_list.is_empty()
                && args.exclude.is_empty()
                && args.exclude_file.is_empty());
            if given {
                return Err(picket_app::error::OptionError::new(
                    "--resume",
                    "scans the run's own targets and profile: give no targets",
                )
                .into());
            }
            // The run's, read from the store when it is open (`commands::scan::run`).
            picket_model::Targets::default()
        } else {
            TargetValues {
                include: args.targets.clone(),
                include_files: args.input_list.clone(),
                exclude: args.exclude.clone(),
                exclude_files: args.exclude_file.clone(),
            }
            .targets()?
        };
        let profile = ProfileValues {
            ports: args.ports.clone(),
            top_ports: args.top_ports,
            read_timeout: args.read_timeout.clone(),
            max_checks: args.max_checks,
            max_rate: args.max_rate,
            retries: args.retries,
            no_ping: args.no_ping,
            ban_patience: args.ban_patience.clone(),
            no_recheck: args.no_recheck,
            seed: args.seed,
        }
        .profile()?;
        let schedule = match &args.every {
            Some(every) => Some(Schedule::new(parse::span("--every", every)?, args.count)?),
            None => None,
        };
        let services = if args.service_detect {
            Some(parse::signatures(&args.signatures)?)
        } else {
            None
        };
        Ok(Self {
            options: ScanOptions {
                targets,
                profile,
                services,
                db_hint: db.map(str::to_owned),
                reverse_dns: args.resolve,
                keep_every_host_up_to: ScanOptions::KEEP_EVERY_HOST_UP_TO,
            },
            queue: args
                .queue
                .as_deref()
                .map(|url| {
                    picket_app::distributed::QueueScan::parse(
                        url,
                        args.pool.as_deref(),
                        args.shard_probes,
                    )
                    .map(|mut queue| {
                        queue.resume = args.resume.map(picket_model::RunId);
                        queue
                    })
                })
                .transpose()?,
            schedule,
            format: parse::format(&args.format)?,
        })
    }
}

/// A validated `picket detect`: the pipeline and how its alerts are printed.
pub fn detect(args: &DetectArgs) -> Result<(PipelineOptions, AlertFormat)> {
    let format = parse::alert_format(&args.format)?;
    let input = parse::input(&args.input)?;
    let home = parse::home_net(&args.home_net)?;
    let settings = ThreatSettings {
        window: parse::span("--window", &args.window)?,
        min_feeds: args.min_feeds,
    };
    let min_severity = parse::severity("--min-severity", &args.min_severity)?;
    let ttl = parse::span("--ttl", &args.ttl)?;
    let allow = parse::allow_list(&home, &args.allow)?;
    let block = args.block.then_some(BlockPolicy {
        allow,
        min_severity,
        ttl,
    });
    let sources = args.events.iter().map(|e| SourceSpec::parse(e)).collect();
    let options = PipelineOptions::new(sources, input, args.follow, home, settings, block)?;
    Ok((options, format))
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

    fn scan(args: &[&str]) -> Result<Scan> {
        Scan::from_args(&scan_args(args), None)
    }

    #[test]
    fn flags_reach_the_profile_and_refusals_fail() {
        assert_eq!(
            scan(&["127.0.0.1"]).unwrap().options.profile.ports.len(),
            1000
        );
        let o = scan(&[
            "127.0.0.1",
            "-p",
            "22,80",
            "--max-checks",
            "10",
            "--no-recheck",
        ])
        .unwrap()
        .options;
        assert_eq!((o.profile.ports.len(), o.profile.max_checks), (2, 10));
        assert!(!o.profile.recheck);
        for bad in [
            vec!["127.0.0.1", "--max-rate", "0"],
            vec!["300.0.0.1"],
            vec!["127.0.0.1", "--format", "pdf"],
            vec!["127.0.0.1", "--every", "0s"],
            vec![],
        ] {
            assert!(scan(&bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn resume_takes_the_run_s_targets_and_needs_the_queue() {
        let resumed = scan(&["--queue", "nats://127.0.0.1:4222", "--resume", "7"]).unwrap();
        assert!(resumed.options.targets.include.is_empty());
        let queue = resumed.queue.unwrap();
        assert_eq!(queue.resume, Some(picket_model::RunId(7)));
        let err = scan(&[
            "10.0.0.1",
            "--queue",
            "nats://127.0.0.1:4222",
            "--resume",
            "7",
        ])
        .err()
        .unwrap();
        assert!(
            is_usage(&err) && err.to_string().contains("--resume"),
            "{err:#}"
        );
        let without_queue =
            crate::cli::Cli::try_parse_from(["picket", "scan", "--resume", "7"]).is_err();
        assert!(without_queue);
    }

    #[test]
    fn refusals_of_flag_values_are_usage_errors() {
        let args =
            crate::cli::Cli::try_parse_from(["picket", "detect", "x.log", "--window", "soon"])
                .unwrap();
        let crate::cli::Command::Detect(args) = args.command else {
            unreachable!()
        };
        let err = detect(&args).err().unwrap();
        assert!(is_usage(&err), "{err:#}");
        assert!(err.to_string().starts_with("--window"), "{err:#}");
    }
}
