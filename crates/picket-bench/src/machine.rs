//! What the results were measured on.

use std::fs;

/// The machine and its load, as RESULTS.md reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// Cores this process may use.
    pub cores: usize,
    /// `uname -r`.
    pub kernel: String,
    /// The first `model name` of /proc/cpuinfo.
    pub cpu: String,
}

impl Machine {
    /// Reads the machine's description; what cannot be read is `unknown`.
    pub fn describe() -> Machine {
        let read = |path: &str| fs::read_to_string(path).unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            kernel: or_unknown(read("/proc/sys/kernel/osrelease").trim()),
            cpu: or_unknown(&cpu_model(&read("/proc/cpuinfo"))),
        }
    }
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg gives them (`uptime`'s numbers).
pub fn load_average() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    or_unknown(&loadavg_fields(&text))
}

fn cpu_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(key, _)| key.trim() == "model name")
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default()
}

fn loadavg_fields(text: &str) -> String {
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn or_unknown(text: &str) -> String {
    if text.is_empty() {
        "unknown".to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_load_are_read_from_proc_formats() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: X\nmodel name\t: Example CPU @ 2.0GHz\n";
        assert_eq!(cpu_model(cpuinfo), "Example CPU @ 2.0GHz");
        assert_eq!(cpu_model("processor : 0\n"), "");
        assert_eq!(
            loadavg_fields("3.31 3.98 2.47 4/512 1234\n"),
            "3.31 3.98 2.47"
        );
        assert_eq!(or_unknown(""), "unknown");
    }

    #[test]
    fn this_machine_has_cores() {
        assert!(Machine::describe().cores >= 1);
    }
}
