//! Nmap's XML output format (`-oX`, `xmloutputversion` 1.05), valid against Nmap's `nmap.dtd`,
//! so that `ndiff`, Nmap's XSLT stylesheet and the many Nmap importers read Picket's scans.
//!
//! Deliberate choices:
//! - `scanner` is `nmap` because the DTD allows no other value, but no Nmap version is claimed:
//!   `version` (required) is empty. Picket identifies itself through `profile_name="picket"`,
//!   `args` (the equivalent Picket command line) and the leading comment with its version.
//! - Every port carries a `<service>`, as in Nmap's output: what service detection found
//!   (`method="probed"`), else the name registered for the port (`method="table"`, `conf="3"`,
//!   IANA's names, see [`picket_model::tcp_service_name`]) or `unknown`. Importers (Metasploit,
//!   DefectDojo) take the service from it.
//! - What Nmap's format has no element for (interruptions, ports left undecided, findings) goes
//!   into `hostscript`/`postscript` script results, the place Nmap's own tools show free text.

use std::borrow::Cow;
use std::io;
use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use picket_model::{
    Finding, HostResult, Observation, PortSet, RunStatus, ScanRun, Timestamp, tcp_service_name,
};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::table::interruption_words;
use crate::words::{self, counted};
use crate::{Format, ReportError};

/// The Nmap XML output version whose DTD this writer follows.
const XML_OUTPUT_VERSION: &str = "1.05";

type XmlWriter<'a> = Writer<&'a mut dyn Write>;

pub(crate) fn scan(
    out: &mut dyn Write,
    run: &ScanRun,
    findings: &[Finding],
) -> Result<(), ReportError> {
    let mut w = Writer::new_with_indent(out, b' ', 2);
    document(&mut w, run, findings).map_err(ReportError::io("scan", Format::Xml))?;
    w.into_inner()
        .write_all(b"\n")
        .map_err(ReportError::io("scan", Format::Xml))
}

/// Replaces what XML 1.0 cannot carry at all (most control characters, even escaped) and folds
/// line breaks, which attribute-value normalisation would turn into spaces anyway.
fn clean(text: &str) -> Cow<'_, str> {
    let bad = |c: char| matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}' | '\u{fffe}' | '\u{ffff}');
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\t' | '\n' | '\r' => ' ',
                c if bad(c) => '\u{fffd}',
                c => c,
            })
            .collect(),
    )
}

/// Nmap's `startstr`/`timestr` layout (`Mon Nov 23 17:28:54 2026`), in UTC.
fn nmap_time(ts: Timestamp) -> String {
    ts.strftime("%a %b %d %H:%M:%S %Y").to_string()
}

fn start_tag<'a>(name: &'a str, attrs: &[(&str, &str)]) -> BytesStart<'a> {
    let mut start = BytesStart::new(name);
    for (k, v) in attrs {
        start.push_attribute((*k, clean(v).as_ref()));
    }
    start
}

fn empty(w: &mut XmlWriter<'_>, name: &str, attrs: &[(&str, &str)]) -> io::Result<()> {
    w.write_event(Event::Empty(start_tag(name, attrs)))
}

fn open(w: &mut XmlWriter<'_>, name: &str, attrs: &[(&str, &str)]) -> io::Result<()> {
    w.write_event(Event::Start(start_tag(name, attrs)))
}

fn close(w: &mut XmlWriter<'_>, name: &str) -> io::Result<()> {
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn micros(d: Duration) -> String {
    d.as_micros().to_string()
}

/// The Picket command line equivalent to the run, for Nmap's `args`.
fn args(run: &ScanRun) -> String {
    format!("picket scan -p {} {}", run.profile.ports, run.target_key)
}

fn document(w: &mut XmlWriter<'_>, run: &ScanRun, findings: &[Finding]) -> io::Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    let args = args(run);
    let start = run.started_at.as_second().to_string();
    let startstr = nmap_time(run.started_at);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.write_event(Event::DocType(BytesText::from_escaped("nmaprun")))?;
    // A comment may not contain `--`, which `--exclude` in the target key would bring in.
    let comment = format!(" Picket {version} scan initiated {startstr} UTC as: {args} ")
        .replace("--", "-&#45;");
    w.write_event(Event::Comment(BytesText::from_escaped(clean(&comment))))?;
    open(
        w,
        "nmaprun",
        &[
            ("scanner", "nmap"),
            ("args", &args),
            ("start", &start),
            ("startstr", &startstr),
            // Required by the DTD; Picket's version is not Nmap's, so none is claimed.
            ("version", ""),
            ("profile_name", "picket"),
            ("xmloutputversion", XML_OUTPUT_VERSION),
        ],
    )?;
    let ports = &run.profile.ports;
    empty(
        w,
        "scaninfo",
        &[
            ("type", "connect"),
            ("protocol", "tcp"),
            ("numservices", &ports.len().to_string()),
            ("services", &ports.to_string()),
        ],
    )?;
    empty(w, "verbose", &[("level", "0")])?;
    empty(w, "debugging", &[("level", "0")])?;
    let end = run.finished_at.unwrap_or(run.started_at);
    for host in &run.hosts {
        host_element(w, host, ports, &start, &end.as_second().to_string())?;
    }
    if !findings.is_empty() {
        open(w, "postscript", &[])?;
        for finding in findings {
            finding_script(w, finding)?;
        }
        close(w, "postscript")?;
    }
    runstats(w, run, end)?;
    close(w, "nmaprun")
}

fn host_element(
    w: &mut XmlWriter<'_>,
    host: &HostResult,
    scanned: &PortSet,
    start: &str,
    end: &str,
) -> io::Result<()> {
    open(w, "host", &[("starttime", start), ("endtime", end)])?;
    empty(
        w,
        "status",
        &[
            ("state", host.state.as_str()),
            ("reason", host.reason.as_str()),
            // A connect scan sees no IP headers, so no TTL; Nmap writes 0 for it too.
            ("reason_ttl", "0"),
        ],
    )?;
    let addrtype = match host.address {
        IpAddr::V4(_) => "ipv4",
        IpAddr::V6(_) => "ipv6",
    };
    empty(
        w,
        "address",
        &[("addr", &host.address.to_string()), ("addrtype", addrtype)],
    )?;
    // As Nmap: `user` for the name from the command line, then `PTR` for the reverse DNS name.
    let names: Vec<(&str, &str)> = [(&host.hostname, "user"), (&host.reverse_name, "PTR")]
        .into_iter()
        .filter_map(|(name, kind)| Some((name.as_deref()?, kind)))
        .collect();
    if names.is_empty() {
        empty(w, "hostnames", &[])?;
    } else {
        open(w, "hostnames", &[])?;
        for (name, kind) in names {
            empty(w, "hostname", &[("name", name), ("type", kind)])?;
        }
        close(w, "hostnames")?;
    }
    if !host.ports.is_empty() || !host.extra_ports.is_empty() {
        ports_element(w, host, scanned)?;
    }
    host_scripts(w, host)?;
    if let Some(srtt) = host.stats.srtt {
        empty(
            w,
            "times",
            &[
                ("srtt", &micros(srtt)),
                ("rttvar", &micros(rtt_variation(srtt, &host.ports))),
                ("to", &micros(host.stats.read_timeout)),
            ],
        )?;
    }
    close(w, "host")
}

/// Nmap's `rttvar`. The engine keeps no variance, so it is estimated as the mean deviation of
/// the listed ports' round-trip times from the smoothed one, or RFC 6298's first estimate (half
/// the smoothed RTT) when no port has one. ICMP answers from routers are left out: they time a
/// different, shorter path.
fn rtt_variation(srtt: Duration, ports: &[Observation]) -> Duration {
    let samples: Vec<Duration> = ports
        .iter()
        .filter(|o| o.icmp_from.is_none())
        .filter_map(|o| o.rtt)
        .collect();
    let Ok(n) = u32::try_from(samples.len()) else {
        return srtt / 2;
    };
    if n == 0 {
        return srtt / 2;
    }
    let total: Duration = samples.iter().map(|s| s.abs_diff(srtt)).sum();
    total / n
}

/// The ports a host's only `extraports` group stands for: the scanned ones neither listed nor
/// left unprobed. With several groups the model does not say which port is in which.
fn extra_port_list(host: &HostResult, scanned: &PortSet) -> Option<String> {
    let [extra] = host.extra_ports.as_slice() else {
        return None;
    };
    let listed: std::collections::HashSet<u16> = host
        .ports
        .iter()
        .map(|o| o.port)
        .chain(host.unprobed.iter().copied())
        .collect();
    let rest = PortSet::from_ports(scanned.iter().filter(|p| !listed.contains(p)));
    (rest.len() == extra.count as usize).then(|| rest.to_string())
}

fn ports_element(w: &mut XmlWriter<'_>, host: &HostResult, scanned: &PortSet) -> io::Result<()> {
    open(w, "ports", &[])?;
    let extra_ports = extra_port_list(host, scanned);
    for extra in &host.extra_ports {
        let count = extra.count.to_string();
        open(
            w,
            "extraports",
            &[("state", extra.state.as_str()), ("count", &count)],
        )?;
        let mut reasons = vec![
            ("reason", extra.reason.as_str()),
            ("count", count.as_str()),
            ("proto", "tcp"),
        ];
        if let Some(ports) = &extra_ports {
            reasons.push(("ports", ports));
        }
        empty(w, "extrareasons", &reasons)?;
        close(w, "extraports")?;
    }
    for o in &host.ports {
        open(
            w,
            "port",
            &[
                ("protocol", o.protocol.as_str()),
                ("portid", &o.port.to_string()),
            ],
        )?;
        let icmp_from = o.icmp_from.map(|ip| ip.to_string());
        let mut state = vec![
            ("state", o.state.as_str()),
            ("reason", o.reason.as_str()),
            ("reason_ttl", "0"),
        ];
        if let Some(from) = &icmp_from {
            state.push(("reason_ip", from));
        }
        empty(w, "state", &state)?;
        match &o.service {
            Some(service) => service_element(w, service)?,
            None => empty(
                w,
                "service",
                &[
                    ("name", tcp_service_name(o.port).unwrap_or("unknown")),
                    ("method", "table"),
                    ("conf", "3"),
                ],
            )?,
        }
        close(w, "port")?;
    }
    close(w, "ports")
}

/// Nmap's `<service>`: what service detection found, with the CPE in the 2.2 URI form that
/// Nmap writes (`cpe:/a:openbsd:openssh:9.2p1`).
fn service_element(w: &mut XmlWriter<'_>, s: &picket_model::ServiceInfo) -> io::Result<()> {
    let conf = s
        .confidence
        .min(picket_model::SERVICE_CONFIDENCE_MAX)
        .to_string();
    let mut attrs = vec![
        ("name", s.name.as_str()),
        ("conf", conf.as_str()),
        ("method", "probed"),
    ];
    if let Some(p) = &s.product {
        attrs.push(("product", p));
    }
    if let Some(v) = &s.version {
        attrs.push(("version", v));
    }
    if let Some(e) = &s.extrainfo {
        attrs.push(("extrainfo", e));
    }
    let Some(cpe) = &s.cpe else {
        return empty(w, "service", &attrs);
    };
    open(w, "service", &attrs)?;
    open(w, "cpe", &[])?;
    w.write_event(Event::Text(BytesText::new(&clean(&cpe_uri(cpe)))))?;
    close(w, "cpe")?;
    close(w, "service")
}

/// CPE 2.3 formatted string to the CPE 2.2 URI binding, as far as Nmap writes it: part,
/// vendor, product, version and update, trailing unset parts left off.
fn cpe_uri(cpe: &picket_model::Cpe) -> String {
    let part = match cpe.to_string().split(':').nth(2) {
        Some(p) => p.to_owned(),
        None => "a".to_owned(),
    };
    let mut fields: Vec<String> = [&cpe.vendor, &cpe.product, &cpe.version, &cpe.update]
        .iter()
        .map(|v| v.as_value().unwrap_or("").to_owned())
        .collect();
    while fields.last().is_some_and(String::is_empty) {
        fields.pop();
    }
    format!("cpe:/{part}:{}", fields.join(":"))
}

/// What Nmap's format has no element for, as one `picket-host` script: ndiff (Debian's, on
/// Python 3) sorts a host's script results and fails on two of them.
fn host_scripts(w: &mut XmlWriter<'_>, host: &HostResult) -> io::Result<()> {
    let mut parts: Vec<(&str, String)> = Vec::new();
    if !host.interruptions.is_empty() {
        let words: Vec<String> = host.interruptions.iter().map(interruption_words).collect();
        parts.push(("interruptions", words.join(" ")));
    }
    if !host.unprobed.is_empty() {
        parts.push((
            "unprobed",
            format!(
                "{} not decided because the host stopped answering: {}",
                counted(host.unprobed.len() as u64, "port", "ports"),
                PortSet::from_ports(host.unprobed.iter().copied())
            ),
        ));
    }
    if parts.is_empty() {
        return Ok(());
    }
    let output: Vec<&str> = parts.iter().map(|(_, text)| text.as_str()).collect();
    open(w, "hostscript", &[])?;
    open(
        w,
        "script",
        &[("id", "picket-host"), ("output", &output.join(" "))],
    )?;
    for (key, text) in &parts {
        elem(w, key, text)?;
    }
    close(w, "script")?;
    close(w, "hostscript")
}

fn elem(w: &mut XmlWriter<'_>, key: &str, value: &str) -> io::Result<()> {
    w.create_element("elem")
        .with_attribute(("key", key))
        .write_text_content(BytesText::new(&clean(value)))?;
    Ok(())
}

fn finding_script(w: &mut XmlWriter<'_>, f: &Finding) -> io::Result<()> {
    let verdict = f.verdict.map(|v| format!(" ({v})")).unwrap_or_default();
    let output = format!(
        "{} {}/{}{verdict}: {}",
        f.kind,
        words::endpoint(f.host, f.port),
        f.protocol,
        words::summary(f)
    );
    open(
        w,
        "script",
        &[("id", "picket-finding"), ("output", &output)],
    )?;
    elem(w, "kind", f.kind.as_str())?;
    elem(w, "host", &f.host.to_string())?;
    elem(w, "port", &f.port.to_string())?;
    elem(w, "protocol", f.protocol.as_str())?;
    if let Some(v) = f.verdict {
        elem(w, "verdict", v.as_str())?;
    }
    elem(w, "summary", &words::summary(f))?;
    if !f.remediation.is_empty() {
        open(w, "table", &[("key", "remediation")])?;
        for step in &f.remediation {
            w.create_element("elem")
                .write_text_content(BytesText::new(&clean(&words::remediation(step))))?;
        }
        close(w, "table")?;
    }
    elem(w, "verify", &words::verify(&f.verify))?;
    close(w, "script")
}

fn runstats(w: &mut XmlWriter<'_>, run: &ScanRun, end: Timestamp) -> io::Result<()> {
    let (up, total) = (run.hosts_up(), run.hosts_total());
    let elapsed = Duration::try_from(end.duration_since(run.started_at)).unwrap_or_default();
    let elapsed = format!("{:.2}", elapsed.as_secs_f64());
    let timestr = nmap_time(end);
    let summary = format!(
        "Picket done at {timestr}; {} ({}) scanned in {elapsed} seconds",
        counted(total, "IP address", "IP addresses"),
        counted(up, "host up", "hosts up"),
    );
    let time = end.as_second().to_string();
    let mut finished = vec![
        ("time", time.as_str()),
        ("timestr", timestr.as_str()),
        ("summary", summary.as_str()),
        ("elapsed", elapsed.as_str()),
    ];
    match run.status {
        RunStatus::Completed => finished.push(("exit", "success")),
        RunStatus::Aborted => finished.extend([
            ("exit", "error"),
            ("errormsg", "run aborted before every port was probed"),
        ]),
        RunStatus::Running => finished.extend([
            ("exit", "error"),
            ("errormsg", "run still in progress; results are partial"),
        ]),
    }
    open(w, "runstats", &[])?;
    empty(w, "finished", &finished)?;
    empty(
        w,
        "hosts",
        &[
            ("up", &up.to_string()),
            ("down", &(total - up).to_string()),
            ("total", &total.to_string()),
        ],
    )?;
    close(w, "runstats")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_replaces_what_xml_cannot_carry() {
        assert_eq!(clean("plain"), "plain");
        assert_eq!(clean("a\nb\u{1}c"), "a b\u{fffd}c");
    }

    #[test]
    fn rttvar_is_mean_deviation_or_half_srtt() {
        let srtt = Duration::from_micros(400);
        assert_eq!(rtt_variation(srtt, &[]), Duration::from_micros(200));
        let obs = |us| {
            Observation::new(
                1,
                picket_model::Reason::SynAck,
                Some(Duration::from_micros(us)),
                1,
            )
        };
        assert_eq!(
            rtt_variation(srtt, &[obs(300), obs(600)]),
            Duration::from_micros(150)
        );
    }
}
