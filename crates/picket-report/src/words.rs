//! Every word Picket says: the one module that turns typed data into text a person reads.
//!
//! Findings' summaries, remediation steps and verify commands, the details of interference,
//! alerts' titles and severity reasons are typed values in `picket-model`, built by the rules in
//! `picket-detect`; their sentences are written here and only here, at output time. So the
//! machine outputs (JSON, NDJSON, OCSF) carry the same sentences as the table, and a rule never
//! formats a number. Below them sit the small helpers: counts, plurals, durations, rates, lists,
//! quoting, columns.
//!
//! This module must never decide anything a rule decides (a verdict, a severity, a setting to
//! suggest): it words what it is given. Text stored by older builds (the `Written` variants) is
//! passed through as it was written.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use picket_model::{
    AlertKind, Before, DownCause, Finding, Imported, InterferenceDetail, InterruptCause, PortSet,
    Remediation, SeverityReason, Summary, Timestamp, Verify, VulnMatch,
};

use crate::safe::terminal_safe;

/// `65531` -> `65,531`.
pub(crate) fn count(n: u64) -> String {
    Count(n).to_string()
}

/// [`count`] as it is written: `65,531`.
struct Count(u64);

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 1000 {
            return write!(f, "{}", self.0);
        }
        write!(f, "{},{:03}", Count(self.0 / 1000), self.0 % 1000)
    }
}

/// A count with its noun, singular or plural: `1 port`, `65,531 ports`.
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// A duration at the precision a person cares about: `850 ms`, `12.3 s`, `4m 05s`, `2h 03m`,
/// `3d 04h`.
pub(crate) fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    let secs = d.as_secs();
    if ms < 1000 {
        format!("{ms} ms")
    } else if secs < 60 {
        format!("{:.1} s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else if secs < 86_400 {
        format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60)
    } else {
        format!("{}d {:02}h", secs / 86_400, (secs % 86_400) / 3600)
    }
}

/// A round-trip time in milliseconds with three significant digits or so: `0.041 ms`,
/// `4.12 ms`, `41.2 ms`, `412 ms`, `4,120 ms`.
pub(crate) fn rtt(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{} ms", count(ms.round() as u64))
    }
}

/// A rate in probes per second: whole numbers with separators, fractions below 10.
pub(crate) fn rate(per_second: f64) -> String {
    if !per_second.is_finite() || per_second < 0.0 {
        "an unknown rate".to_owned()
    } else if per_second < 10.0 && per_second.fract() != 0.0 {
        format!("{per_second:.1} probes/s")
    } else {
        format!("{} probes/s", count(per_second.round() as u64))
    }
}

/// A share as a percentage: `0.0312` -> `3.1%`.
pub(crate) fn percent(share: f64) -> String {
    if share.is_finite() {
        format!("{:.1}%", share * 100.0)
    } else {
        "unknown".to_owned()
    }
}

/// A timestamp as a person reads it, always in UTC (this crate reads no time zone database).
pub(crate) fn time(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The time of day only, for events within a run whose date the header already gave.
pub(crate) fn clock(ts: Timestamp) -> String {
    ts.strftime("%H:%M:%S UTC").to_string()
}

/// `host:port`, with IPv6 addresses in brackets.
pub(crate) fn endpoint(host: IpAddr, port: u16) -> String {
    match host {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// Cuts `text` to at most `max` characters, marking the cut with `...`.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(3)).collect();
    format!("{kept}...")
}

/// A port set as the compressed spec when it is short, otherwise as a count.
pub(crate) fn ports_brief(ports: &PortSet) -> String {
    let spec = ports.to_string();
    if spec.len() <= 24 {
        spec
    } else {
        counted(ports.len() as u64, "port", "ports")
    }
}

/// Left-aligned columns separated by two spaces, without trailing blanks.
pub fn columns(rows: &[Vec<String>]) -> Vec<String> {
    // Cells may hold third-party text: a newline or an escape sequence must not reach the terminal.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| terminal_safe(c).into_owned()).collect())
        .collect();
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..width)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (cell, w) in row.iter().zip(&widths) {
                line.push_str(cell);
                let pad = w - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
            line.trim_end().to_owned()
        })
        .collect()
}

/// `1` -> `1 probe`, `1204` -> `1,204 probes`; `3 vulnerabilities`.
fn noun_count(n: u64, noun: &str) -> String {
    NounCount(n, noun).to_string()
}

/// [`noun_count`] as it is written.
struct NounCount<'a>(u64, &'a str);

impl fmt::Display for NounCount<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let NounCount(n, noun) = *self;
        if n == 1 {
            write!(f, "1 {noun}")
        } else if let Some(stem) = noun.strip_suffix('y') {
            write!(f, "{} {stem}ies", Count(n))
        } else {
            write!(f, "{} {noun}s", Count(n))
        }
    }
}

/// `[80, 443, 8080]` -> `80, 443 and 8080`.
fn port_list(ports: &[u16]) -> String {
    match ports {
        [] => String::new(),
        [only] => only.to_string(),
        [init @ .., last] => format!(
            "{} and {last}",
            init.iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `a`, `a and b`, `a, b and c` for two or three names; longer lists are joined with commas.
struct List<'a, S>(&'a [S]);

impl<S: AsRef<str>> fmt::Display for List<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => Ok(()),
            [one] => f.write_str(one.as_ref()),
            [a, b] => write!(f, "{} and {}", a.as_ref(), b.as_ref()),
            [a, b, c] => write!(f, "{}, {} and {}", a.as_ref(), b.as_ref(), c.as_ref()),
            [first, rest @ ..] => {
                f.write_str(first.as_ref())?;
                rest.iter()
                    .try_for_each(|item| write!(f, ", {}", item.as_ref()))
            }
        }
    }
}

/// A duration as the CLI's flags read it (humantime style): `3s`, `1500ms`.
fn flag_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 && ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A probe rate as a flag value, without false precision: `850`, `12.5`.
fn flag_rate(r: f64) -> String {
    if r >= 100.0 || r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// A loss share (0.27) as a whole percentage (`27%`).
fn whole_percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// Points as a score step shows them: `+2`, `+0`, `-1`.
/// Points of a severity score, signed: `+2`, `+0`, `-1`.
struct Points(i32);

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            write!(f, "{}", self.0)
        } else {
            write!(f, "+{}", self.0)
        }
    }
}

/// Quotes `s` for a POSIX shell when it needs it, so that a printed command can be pasted.
fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `192.0.2.10 (web1.example.net)`, or the address alone.
fn who(address: IpAddr, hostname: Option<&str>) -> String {
    match hostname {
        Some(name) => format!("{address} ({name})"),
        None => address.to_string(),
    }
}

/// The headline of an alert of this kind.
pub fn alert_title(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::BadClientToVulnerableApp => {
            "Bad external client IP connection to vulnerable application"
        }
    }
}

/// The sentence a person reads first about a finding.
pub fn summary(f: &Finding) -> String {
    let who = who(f.host, f.hostname.as_deref());
    let port = format!("{}/{}", f.port, f.protocol);
    let of = |n: usize, total: usize| format!("{n} of {total} re-check probes");
    match &f.summary {
        Summary::Closed {
            previous_run,
            refused,
            probes,
        } => format!(
            "Port {port} on {who} was open in run {previous_run} and now refuses connections: {} \
             were refused (reset).",
            of(*refused, *probes)
        ),
        Summary::Filtered {
            previous_run,
            admin_prohibited,
            silent,
            probes,
            alive_ports,
            reset_seen,
        } => {
            let mut why = Vec::new();
            if *admin_prohibited > 0 {
                why.push(format!(
                    "a filter answered {} with ICMP admin-prohibited",
                    of(*admin_prohibited, *probes)
                ));
            }
            if *silent > 0 {
                why.push(format!("{} went unanswered", of(*silent, *probes)));
            }
            let proof = if !alive_ports.is_empty() {
                format!(
                    " while the host answers on port{} {}",
                    if alive_ports.len() == 1 { "" } else { "s" },
                    port_list(alive_ports)
                )
            } else if *reset_seen {
                " while the host answered one probe with a reset".to_owned()
            } else {
                String::new()
            };
            let why = if why.is_empty() {
                "no re-check probe got through".to_owned()
            } else {
                why.join(" and ")
            };
            format!(
                "Port {port} on {who} was open in run {previous_run} and is now filtered: \
                 {why}{proof}."
            )
        }
        Summary::HostDown {
            previous_run,
            cause,
        } => {
            let why = match cause {
                DownCause::ScanUnreachable { reason } => {
                    format!("the scan found it unreachable ({reason})")
                }
                DownCause::RouterAnswered { reason } => {
                    format!("a router answered the re-check with {reason}")
                }
                DownCause::NoAnswer { probes } => format!(
                    "neither the scan nor {} got an answer from it",
                    noun_count(*probes as u64, "re-check probe")
                ),
            };
            format!("{who} is down: {why}; port {port} was open on it in run {previous_run}.")
        }
        Summary::ScanInterrupted {
            previous_run,
            open_now,
            scan_reason,
            cause,
        } => {
            let cause = match cause {
                InterruptCause::WentSilent { at, rate } => format!(
                    "the host stopped answering in the middle of the scan (at {at:.0}, {} \
                     probes/s)",
                    flag_rate(*rate)
                ),
                InterruptCause::LostProbes { loss } => format!(
                    "the scan lost {} of its probes to the host",
                    whole_percent(*loss)
                ),
                InterruptCause::StoppedAnswering => {
                    "the host answered earlier in the run and answers nothing now".to_owned()
                }
            };
            if *open_now {
                let scan_said = match scan_reason {
                    Some(reason) => format!("reported it {} ({reason})", reason.state()),
                    None => "left it undecided".to_owned(),
                };
                format!(
                    "Port {port} on {who} is open (the re-check got a syn-ack), but the scan \
                     {scan_said} because {cause}: the scan was disturbed, not the port."
                )
            } else {
                format!(
                    "Port {port} on {who}, open in run {previous_run}, could not be checked \
                     because {cause}: its state is unknown."
                )
            }
        }
        Summary::Flapping {
            answered,
            refused,
            ignored,
            probes,
        } => {
            let mut rest = Vec::new();
            if *refused > 0 {
                rest.push(format!("refused {refused}"));
            }
            if *ignored > 0 {
                rest.push(format!("ignored {ignored}"));
            }
            format!(
                "Port {port} on {who} answered {} and {}: the service is unstable.",
                of(*answered, *probes),
                rest.join(" and ")
            )
        }
        Summary::NewOpenPort {
            previous_run,
            before,
        } => {
            let then = match before {
                Before::Was { state, reason } => format!("it was {state} ({reason})"),
                Before::HostNotInRun => "the host was not in that run".to_owned(),
                Before::Undecided => "the port was not decided then".to_owned(),
            };
            format!("Port {port} on {who} is open and was not open in run {previous_run}: {then}.")
        }
        Summary::VulnerableService {
            service,
            vulns,
            worst,
            worst_cvss,
            kev,
            version_based,
        } => {
            let worst_score = worst_cvss
                .map(|score| format!(", CVSS {score:.1}"))
                .unwrap_or_default();
            let kev_words = match kev {
                0 => String::new(),
                1 => "; 1 is in CISA's Known Exploited Vulnerabilities catalog".to_owned(),
                n => format!("; {n} are in CISA's Known Exploited Vulnerabilities catalog"),
            };
            let certainty = if *version_based {
                " (version-based: the distribution may have backported fixes)"
            } else {
                ""
            };
            format!(
                "{service} on {} matches {vulns} known {} (worst: {worst}{worst_score}){kev_words}\
                 {certainty}.",
                SocketAddr::new(f.host, f.port),
                if *vulns == 1 {
                    "vulnerability"
                } else {
                    "vulnerabilities"
                },
            )
        }
        Summary::Written(text) => text.clone(),
    }
}

/// One step of a remediation.
pub fn remediation(step: &Remediation) -> String {
    match step {
        Remediation::CheckStoppedService { host, port } => format!(
            "Check the service that listened on port {port} of {host}: `ss -ltnp 'sport = \
             :{port}'`, `systemctl status` and its logs (`journalctl -u UNIT`); restart it if it \
             should be running."
        ),
        Remediation::ConfirmRetirement => {
            "If the service was retired on purpose, confirm that the change was planned; the next \
             run compares against this one, so the finding will not repeat."
                .to_owned()
        }
        Remediation::ReviewFirewall {
            host,
            port,
            admin_prohibited,
        } => {
            let kind = if *admin_prohibited {
                "rejects (ICMP admin-prohibited)"
            } else {
                "drops"
            };
            format!(
                "A firewall or security group now {kind} port {port} while the host answers on \
                 others: review recent firewall changes on {host} and in front of it \
                 (nftables/iptables rules, cloud security groups, network ACLs)."
            )
        }
        Remediation::AllowScannerToPort { port } => format!(
            "If the scanner should see port {port}, allow the scanner's address to it; if the port \
             was closed to the outside on purpose, this finding confirms the change."
        ),
        Remediation::CheckHostPower { host } => format!(
            "Check that {host} is powered on and connected: its console, its switch port or cloud \
             instance state, and the neighbour table (`ip neigh`) from a machine on its network."
        ),
        Remediation::CheckRoute => {
            "A router or this machine's own stack reported the host unreachable: check the route \
             to its network and the gateway in between."
                .to_owned()
        }
        Remediation::RescanWhenBack => {
            "Re-scan once it is back: the port's state is unknown until the host answers."
                .to_owned()
        }
        Remediation::AllowListScanner { host, silence } => match silence {
            Some(s) => format!(
                "Allow-list the scanner's address in the IPS or firewall in front of {host}: it \
                 answered {}, then went silent at {:.0} while the scan sent {} probes/s.",
                noun_count(s.answered_before, "probe"),
                s.at,
                flag_rate(s.rate)
            ),
            None => format!(
                "Allow-list the scanner's address in the IPS or firewall in front of {host}."
            ),
        },
        Remediation::LowerMaxRate { stopped_at, to } => match stopped_at {
            Some(r) => format!(
                "Lower --max-rate below the rate at which answers stopped ({} probes/s): \
                 --max-rate {}.",
                flag_rate(*r),
                flag_rate(*to)
            ),
            None => format!("Lower --max-rate: --max-rate {}.", flag_rate(*to)),
        },
        Remediation::LowerMaxChecks { allowed, to } => format!(
            "Lower --max-checks (this run allowed {} probes in flight): --max-checks {to}.",
            count(*allowed as u64)
        ),
        Remediation::RaiseReadTimeout { waited, loss, to } => match waited {
            Some(d) => {
                let loss = loss
                    .map(|l| format!(", and lost {} of its probes", whole_percent(l)))
                    .unwrap_or_default();
                format!(
                    "Raise --read-timeout (the scan waited {} per probe{loss}): --read-timeout {}.",
                    flag_duration(*d),
                    flag_duration(*to)
                )
            }
            None => format!(
                "Raise --read-timeout: --read-timeout {}.",
                flag_duration(*to)
            ),
        },
        Remediation::CheckServiceHealth { port } => format!(
            "Check the health of the service on port {port}: restarts and crashes (`systemctl \
             status`, `journalctl`), resource and connection limits (listen backlog, maximum \
             connections)."
        ),
        Remediation::CheckBalancerMembers => {
            "If a load balancer or several backends serve this port, check their members: one \
             unhealthy member makes answers alternate."
                .to_owned()
        }
        Remediation::RecheckLater => {
            "Re-check later: flapping that persists across runs means some clients fail.".to_owned()
        }
        Remediation::ConfirmExposure => {
            "Confirm this service should be exposed; if not, stop it or filter the port.".to_owned()
        }
        Remediation::IdentifyListener { host, port } => {
            format!("Identify what listens on {host}: `ss -ltnp 'sport = :{port}'` on the host.")
        }
        Remediation::PatchExploitedFirst { ids, port } => format!(
            "Patch first: {} {} exploited in the wild (CISA KEV); until patched, restrict who can \
             reach port {port} (firewall, allow-list).",
            ids.join(", "),
            if ids.len() == 1 { "is" } else { "are" },
        ),
        Remediation::Upgrade { product, to } => match to {
            Some(version) => format!(
                "Upgrade {product} to {version} or later, which is outside every matched range."
            ),
            None => format!(
                "Upgrade {product} to a release that the advisories no longer list as affected."
            ),
        },
        Remediation::CheckDistributionPackage {
            package,
            version,
            cve,
        } => format!(
            "The service runs the distribution package {package} {version}: distributions \
             backport fixes without changing the upstream version, so check each CVE in the \
             distribution's security tracker (for Debian: \
             https://security-tracker.debian.org/tracker/{cve}) and update the package with the \
             distribution's tools (apt-get install --only-upgrade ...) rather than upgrading \
             upstream."
        ),
        Remediation::Written(text) => text.clone(),
    }
}

/// The command that verifies a fix, ready to paste into a shell.
pub fn verify(v: &Verify) -> String {
    match v {
        Verify::Scan {
            host,
            port,
            max_rate,
            read_timeout,
            db,
            service_detect,
        } => {
            let mut cmd = format!("picket scan {host} -p {port}");
            if let Some(rate) = max_rate {
                let _ = write!(cmd, " --max-rate {}", flag_rate(*rate));
            }
            if let Some(timeout) = read_timeout {
                let _ = write!(cmd, " --read-timeout {}", flag_duration(*timeout));
            }
            if let Some(db) = db {
                let _ = write!(cmd, " --db {}", shell_quote(db));
            }
            if *service_detect {
                cmd.push_str(" --service-detect");
            }
            cmd
        }
        Verify::Written(text) => text.clone(),
    }
}

/// What an interference with the scan looked like.
pub fn interference(detail: &InterferenceDetail) -> String {
    match detail {
        InterferenceDetail::WentSilent(i) => {
            let canary = i
                .canary_port
                .map(|p| format!("; port {p}, which had answered, stayed silent"))
                .unwrap_or_default();
            let after = if i.resumed {
                format!(
                    "it answered again after the engine paused {} and slowed down",
                    flag_duration(i.paused)
                )
            } else {
                format!(
                    "it did not answer again after a pause of {}",
                    flag_duration(i.paused)
                )
            };
            format!(
                "host answered {}, then {} consecutive probes went unanswered at {:.0} while the \
                 scan sent {} probes/s{canary}; {after}",
                noun_count(i.answered_before, "probe"),
                count(i.silent_probes),
                i.at,
                flag_rate(i.rate),
            )
        }
        InterferenceDetail::LostProbes {
            loss,
            port,
            attempts,
        } => {
            let attempts = attempts
                .map(|a| format!(" after {}", noun_count(u64::from(a), "attempt")))
                .unwrap_or_default();
            format!(
                "the scan lost {} of its probes to this host (probes whose port answered a later \
                 retry) and gave port {port} up as no-response{attempts}",
                whole_percent(*loss),
            )
        }
        InterferenceDetail::LivenessLost {
            answers,
            port,
            probes,
            liveness_probes,
            liveness_ports,
        } => {
            let before = if *answers > 0 {
                format!(
                    "the host answered {} during the scan",
                    noun_count(*answers, "probe")
                )
            } else {
                "the host answered during the scan".to_owned()
            };
            let own = format!("{} of port {port}", noun_count(*probes as u64, "probe"));
            if *liveness_probes == 0 {
                format!(
                    "{before}, but none of the re-check's {own} got an answer, and no other port \
                     was known to answer"
                )
            } else {
                format!(
                    "{before}, but none of the re-check's {own} and {} of port{} {} got an answer",
                    noun_count(*liveness_probes as u64, "probe"),
                    if liveness_ports.len() == 1 { "" } else { "s" },
                    port_list(liveness_ports),
                )
            }
        }
        InterferenceDetail::Written(text) => text.clone(),
    }
}

/// One step of an alert's severity scoring.
pub fn severity_reason(reason: &SeverityReason) -> String {
    ReasonText(reason).to_string()
}

/// [`severity_reason`]'s sentence, written where it goes (a JSON string, say) instead of into
/// a `String` of its own: every printed alert has half a dozen.
pub struct ReasonText<'a>(pub &'a SeverityReason);

impl fmt::Display for ReasonText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            SeverityReason::Feeds {
                client,
                feeds,
                points: p,
                cap,
            } => {
                write!(
                    f,
                    "{client} is listed by {} ({}): {}",
                    NounCount(feeds.len() as u64, "feed"),
                    List(feeds),
                    Points(*p)
                )?;
                if feeds.len() > usize::try_from(*cap).unwrap_or(0) {
                    write!(f, " (at most {cap})")?;
                }
                f.write_str(".")
            }
            SeverityReason::WorstCvss {
                id,
                version,
                score,
                band,
                points: p,
            } => write!(
                f,
                "The most severe vulnerability, {id}, has CVSS {version} base score {score:.1} \
                 ({band}): {}.",
                Points(*p)
            ),
            SeverityReason::NoCvss { vulns, points: p } => write!(
                f,
                "None of the {} has a CVSS score: {}.",
                NounCount(*vulns as u64, "vulnerability"),
                Points(*p)
            ),
            SeverityReason::Kev { ids, points: p } if ids.is_empty() => write!(
                f,
                "No vulnerability is in CISA's Known Exploited Vulnerabilities catalog: {}.",
                Points(*p)
            ),
            SeverityReason::Kev { ids, points: p } => write!(
                f,
                "{} {} in CISA's Known Exploited Vulnerabilities catalog (exploited in the wild): \
                 {}.",
                List(ids),
                if ids.len() == 1 { "is" } else { "are" },
                Points(*p)
            ),
            SeverityReason::ProductOnly { product, points: p } => write!(
                f,
                "Every match is by product name only ({product} version unknown), so the flaws \
                 may be fixed: {}.",
                Points(*p)
            ),
            SeverityReason::Connections {
                connections,
                established,
                points: p,
            } => {
                match (connections, established) {
                    (1, 1) => f.write_str("The one connection was established")?,
                    (1, _) => f.write_str("The one connection was not established")?,
                    (n, 0) => write!(f, "None of the {} connections was established", Count(*n))?,
                    (n, e) => write!(
                        f,
                        "{} of {} connections were established",
                        Count(*e),
                        Count(*n)
                    )?,
                }
                let how = if *established > 0 {
                    "the server answered"
                } else {
                    "attempted or refused only"
                };
                write!(f, " ({how}): {}.", Points(*p))
            }
            SeverityReason::Transfer {
                largest,
                threshold,
                points: p,
            } => {
                let kb = threshold / 1000;
                if largest > threshold {
                    write!(
                        f,
                        "One connection carried {} bytes, more than the {kb} KB that counts as a \
                         meaningful transfer: {}.",
                        Count(*largest),
                        Points(*p)
                    )
                } else {
                    write!(
                        f,
                        "No connection carried more than {kb} KB (the largest: {} bytes): {}.",
                        Count(*largest),
                        Points(*p)
                    )
                }
            }
            SeverityReason::Score {
                points,
                severity,
                bands,
            } => write!(
                f,
                "Score {points}: {severity} (info up to {}, low {}, medium {}-{}, high {}-{}, \
                 critical {} and more).",
                bands.low - 1,
                bands.low,
                bands.medium,
                bands.high - 1,
                bands.high,
                bands.critical - 1,
                bands.critical,
            ),
            SeverityReason::Written(text) => f.write_str(text),
        }
    }
}

/// An instant to the minute, for listings: `2026-12-06 12:00 UTC`.
pub(crate) fn minute(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// What is left of a block: `23h 59m 58s`; `never` for a block without timeout.
pub(crate) fn expires_in(seconds: Option<u64>) -> String {
    seconds.map_or_else(
        || "never".to_owned(),
        |s| humantime::format_duration(Duration::from_secs(s)).to_string(),
    )
}

/// The vulnerabilities of an application, each once: `CVE-2024-6387 8.1 KEV, ...` (CVSS base
/// score and KEV when known); `-` for none.
pub fn vuln_summary(matches: &[VulnMatch]) -> String {
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<String> = matches
        .iter()
        .filter(|m| seen.insert(m.vuln_id.as_str()))
        .map(|m| {
            let score = m
                .cvss
                .as_ref()
                .map(|c| format!(" {:.1}", c.base_score))
                .unwrap_or_default();
            let kev = if m.kev.is_some() { " KEV" } else { "" };
            format!("{}{score}{kev}", m.vuln_id)
        })
        .collect();
    if ids.is_empty() {
        "-".to_owned()
    } else {
        ids.join(", ")
    }
}

/// What one imported file held: `nvd.json: NVD, 3 CVE records (1 skipped)`.
pub fn imported(name: &str, imported: &Imported) -> String {
    let skipped = |n: usize| {
        if n == 0 {
            String::new()
        } else {
            format!(" ({n} skipped)")
        }
    };
    match imported {
        Imported::Nvd {
            records,
            skipped: s,
        } => format!(
            "{name}: NVD, {}{}",
            counted(*records as u64, "CVE record", "CVE records"),
            skipped(*s)
        ),
        Imported::Osv {
            records,
            skipped: s,
        } => format!(
            "{name}: OSV, {}{}",
            counted(*records as u64, "record", "records"),
            skipped(*s)
        ),
        Imported::Kev {
            version,
            entries,
            skipped: s,
        } => format!(
            "{name}: CISA KEV catalog {}, {}{}",
            version.as_deref().unwrap_or("?"),
            counted(*entries as u64, "entry", "entries"),
            skipped(*s)
        ),
        Imported::Epss { scores, skipped: s } => format!(
            "{name}: EPSS, {}{}",
            counted(*scores as u64, "score", "scores"),
            skipped(*s)
        ),
        Imported::Report {
            format,
            vulnerabilities,
            matches,
        } => format!(
            "{name}: {} report, {}, {}",
            format.as_str(),
            counted(*vulnerabilities as u64, "vulnerability", "vulnerabilities"),
            counted(*matches as u64, "package match", "package matches")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(65531), "65,531");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(2_000_005), "2,000,005");
        assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(counted(1, "port", "ports"), "1 port");
        assert_eq!(counted(2, "port", "ports"), "2 ports");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(850)), "850 ms");
        assert_eq!(duration(Duration::from_millis(12_340)), "12.3 s");
        assert_eq!(duration(Duration::from_secs(245)), "4m 05s");
        assert_eq!(duration(Duration::from_secs(7380)), "2h 03m");
        assert_eq!(duration(Duration::from_secs(273_600)), "3d 04h");
    }

    #[test]
    fn rtts_keep_three_digits() {
        assert_eq!(rtt(Duration::from_micros(41)), "0.041 ms");
        assert_eq!(rtt(Duration::from_micros(4123)), "4.12 ms");
        assert_eq!(rtt(Duration::from_micros(41_230)), "41.2 ms");
        assert_eq!(rtt(Duration::from_micros(412_300)), "412 ms");
        assert_eq!(rtt(Duration::from_micros(4_123_000)), "4,123 ms");
    }

    #[test]
    fn rates_and_shares() {
        assert_eq!(rate(1500.0), "1,500 probes/s");
        assert_eq!(rate(2.5), "2.5 probes/s");
        assert_eq!(rate(f64::NAN), "an unknown rate");
        assert_eq!(percent(0.0312), "3.1%");
    }

    #[test]
    fn endpoints_bracket_ipv6() {
        assert_eq!(endpoint("10.0.0.1".parse().unwrap(), 22), "10.0.0.1:22");
        assert_eq!(endpoint("fd00::1".parse().unwrap(), 22), "[fd00::1]:22");
    }

    #[test]
    fn columns_align_and_trim() {
        let rows = vec![
            vec!["PORT".to_owned(), "STATE".to_owned(), "RTT".to_owned()],
            vec!["22/tcp".to_owned(), "open".to_owned(), String::new()],
        ];
        assert_eq!(columns(&rows), vec!["PORT    STATE  RTT", "22/tcp  open"]);
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("abcdef", 10), "abcdef");
        assert_eq!(truncate("abcdefghijkl", 8), "abcde...");
    }

    #[test]
    fn counts_with_plurals_and_lists_read_as_prose() {
        assert_eq!(noun_count(1, "probe"), "1 probe");
        assert_eq!(noun_count(0, "probe"), "0 probes");
        assert_eq!(noun_count(1204, "probe"), "1,204 probes");
        assert_eq!(noun_count(3, "vulnerability"), "3 vulnerabilities");
        assert_eq!(port_list(&[]), "");
        assert_eq!(port_list(&[22]), "22");
        assert_eq!(port_list(&[22, 80]), "22 and 80");
        assert_eq!(port_list(&[22, 80, 443]), "22, 80 and 443");
        assert_eq!(List::<&str>(&[]).to_string(), "");
        assert_eq!(List(&["a", "b"]).to_string(), "a and b");
        assert_eq!(List(&["a", "b", "c"]).to_string(), "a, b and c");
        assert_eq!(List(&["a", "b", "c", "d"]).to_string(), "a, b, c, d");
    }

    #[test]
    fn flag_values_read_as_the_cli_takes_them() {
        assert_eq!(flag_duration(Duration::from_secs(3)), "3s");
        assert_eq!(flag_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(flag_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(flag_rate(850.4), "850");
        assert_eq!(flag_rate(12.5), "12.5");
        assert_eq!(flag_rate(50.0), "50");
        assert_eq!(whole_percent(0.274), "27%");
        assert_eq!(Points(2).to_string(), "+2");
        assert_eq!(Points(0).to_string(), "+0");
        assert_eq!(Points(-1).to_string(), "-1");
    }

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(shell_quote("/var/lib/picket.db"), "/var/lib/picket.db");
        assert_eq!(shell_quote("my scans.db"), "'my scans.db'");
        assert_eq!(shell_quote("it's.db"), r"'it'\''s.db'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(
            shell_quote("postgres://u@db/picket"),
            "postgres://u@db/picket"
        );
    }

    #[test]
    fn verify_commands_can_be_pasted() {
        let scan = |db: Option<&str>| Verify::Scan {
            host: "192.0.2.10".parse().unwrap(),
            port: 631,
            max_rate: Some(150.0),
            read_timeout: Some(Duration::from_secs(3)),
            db: db.map(str::to_owned),
            service_detect: false,
        };
        assert_eq!(
            verify(&scan(Some("/home/ops/my scans.db"))),
            "picket scan 192.0.2.10 -p 631 --max-rate 150 --read-timeout 3s --db \
             '/home/ops/my scans.db'"
        );
        assert_eq!(
            verify(&scan(None)),
            "picket scan 192.0.2.10 -p 631 --max-rate 150 --read-timeout 3s"
        );
        let old = "picket scan -p 443 192.0.2.10";
        assert_eq!(verify(&Verify::Written(old.to_owned())), old);
    }

    #[test]
    fn interference_details_name_what_was_measured() {
        let went_silent = picket_model::Interruption {
            at: "2026-05-01T14:02:11Z".parse().unwrap(),
            answered_before: 1204,
            silent_probes: 96,
            canary_port: Some(80),
            rate: 850.0,
            resumed: false,
            paused: Duration::from_secs(30),
        };
        assert_eq!(
            interference(&InterferenceDetail::WentSilent(went_silent.clone())),
            "host answered 1,204 probes, then 96 consecutive probes went unanswered at \
             2026-05-01T14:02:11Z while the scan sent 850 probes/s; port 80, which had answered, \
             stayed silent; it did not answer again after a pause of 30s"
        );
        let resumed = picket_model::Interruption {
            resumed: true,
            ..went_silent
        };
        assert!(
            interference(&InterferenceDetail::WentSilent(resumed))
                .ends_with("it answered again after the engine paused 30s and slowed down")
        );
        assert_eq!(
            interference(&InterferenceDetail::LostProbes {
                loss: 0.27,
                port: 22,
                attempts: Some(3)
            }),
            "the scan lost 27% of its probes to this host (probes whose port answered a later \
             retry) and gave port 22 up as no-response after 3 attempts"
        );
        assert_eq!(
            interference(&InterferenceDetail::LivenessLost {
                answers: 1204,
                port: 22,
                probes: 4,
                liveness_probes: 2,
                liveness_ports: vec![80],
            }),
            "the host answered 1,204 probes during the scan, but none of the re-check's 4 probes \
             of port 22 and 2 probes of port 80 got an answer"
        );
        assert_eq!(
            interference(&InterferenceDetail::LivenessLost {
                answers: 0,
                port: 22,
                probes: 1,
                liveness_probes: 0,
                liveness_ports: vec![],
            }),
            "the host answered during the scan, but none of the re-check's 1 probe of port 22 got \
             an answer, and no other port was known to answer"
        );
    }

    #[test]
    fn severity_reasons_show_each_step_with_its_points() {
        use picket_model::{CvssSeverity, CvssVersion, Severity, SeverityBands};
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let feeds = |names: &[&str], points| SeverityReason::Feeds {
            client,
            feeds: names.iter().map(|n| (*n).to_owned()).collect(),
            points,
            cap: 3,
        };
        assert_eq!(
            severity_reason(&feeds(&["ipsum"], 1)),
            "203.0.113.7 is listed by 1 feed (ipsum): +1."
        );
        assert_eq!(
            severity_reason(&feeds(&["a", "b", "c", "d", "e"], 3)),
            "203.0.113.7 is listed by 5 feeds (a, b, c, d, e): +3 (at most 3)."
        );
        assert_eq!(
            severity_reason(&SeverityReason::WorstCvss {
                id: "CVE-1".into(),
                version: CvssVersion::V3_1,
                score: 8.1,
                band: CvssSeverity::High,
                points: 2,
            }),
            "The most severe vulnerability, CVE-1, has CVSS 3.1 base score 8.1 (high): +2."
        );
        assert_eq!(
            severity_reason(&SeverityReason::NoCvss {
                vulns: 1,
                points: 0
            }),
            "None of the 1 vulnerability has a CVSS score: +0."
        );
        assert_eq!(
            severity_reason(&SeverityReason::Kev {
                ids: vec!["CVE-1".into(), "CVE-2".into()],
                points: 2
            }),
            "CVE-1 and CVE-2 are in CISA's Known Exploited Vulnerabilities catalog (exploited in \
             the wild): +2."
        );
        assert_eq!(
            severity_reason(&SeverityReason::Kev {
                ids: vec!["CVE-1".into()],
                points: 2
            }),
            "CVE-1 is in CISA's Known Exploited Vulnerabilities catalog (exploited in the wild): +2."
        );
        assert_eq!(
            severity_reason(&SeverityReason::Kev {
                ids: vec![],
                points: 0
            }),
            "No vulnerability is in CISA's Known Exploited Vulnerabilities catalog: +0."
        );
        assert_eq!(
            severity_reason(&SeverityReason::ProductOnly {
                product: "openssh".into(),
                points: -1
            }),
            "Every match is by product name only (openssh version unknown), so the flaws may be \
             fixed: -1."
        );
        let connections = |connections, established, points| {
            severity_reason(&SeverityReason::Connections {
                connections,
                established,
                points,
            })
        };
        assert_eq!(
            connections(1, 0, 0),
            "The one connection was not established (attempted or refused only): +0."
        );
        assert_eq!(
            connections(1, 1, 2),
            "The one connection was established (the server answered): +2."
        );
        assert_eq!(
            connections(3, 0, 0),
            "None of the 3 connections was established (attempted or refused only): +0."
        );
        assert_eq!(
            connections(5, 1, 2),
            "1 of 5 connections were established (the server answered): +2."
        );
        assert_eq!(
            severity_reason(&SeverityReason::Transfer {
                largest: 48_213,
                threshold: 10_000,
                points: 2
            }),
            "One connection carried 48,213 bytes, more than the 10 KB that counts as a meaningful \
             transfer: +2."
        );
        assert_eq!(
            severity_reason(&SeverityReason::Transfer {
                largest: 2_464,
                threshold: 10_000,
                points: 0
            }),
            "No connection carried more than 10 KB (the largest: 2,464 bytes): +0."
        );
        assert_eq!(
            severity_reason(&SeverityReason::Score {
                points: 1,
                severity: Severity::Info,
                bands: SeverityBands {
                    low: 2,
                    medium: 3,
                    high: 5,
                    critical: 8
                },
            }),
            "Score 1: info (info up to 1, low 2, medium 3-4, high 5-7, critical 8 and more)."
        );
        let old = "Listed by 1 feed (ipsum).";
        assert_eq!(
            severity_reason(&SeverityReason::Written(old.to_owned())),
            old
        );
    }
}
