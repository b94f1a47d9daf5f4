//! The plumbing under the lab: running `ip`/`nft`, naming, entering and removing namespaces.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::{self, JoinHandle};

use crate::LabError;

/// Where `ip netns add` mounts the namespaces it names.
pub(crate) const NETNS_DIR: &str = "/run/netns";

/// Every namespace the lab creates starts with this, so that strays are easy to spot and remove.
const NAME_ROOT: &str = "pl-";

/// Test names longer than this are cut, to keep namespace names readable in `ip netns list`.
const MAX_NAME: usize = 40;

/// The prefix of every namespace a lab called `name` creates: `pl-<name>-`, where `name` is reduced
/// to ASCII letters, digits and `_` (anything else becomes `_`).
pub(crate) fn prefix(name: &str) -> String {
    let clean: String = name
        .chars()
        .take(MAX_NAME)
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{NAME_ROOT}{clean}-")
}

/// The part of a lab namespace name after its prefix: `<pid>-<counter>-<role>`, where role is `s`
/// (scanner), `t<index>` (target) or `g<segment>h<offset>` (a host on a segment). Returns the pid if `rest` has exactly that shape, so that a
/// prefix such as `pl-a-` never matches the namespaces of a lab named `a-1`.
pub(crate) fn owner_pid(rest: &str) -> Option<u32> {
    let mut parts = rest.split('-');
    let pid = parts.next()?.parse::<u32>().ok()?;
    parts.next()?.parse::<u64>().ok()?;
    let role = parts.next()?;
    let number = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let role_ok = role == "s"
        || role.strip_prefix('t').is_some_and(number)
        || role
            .strip_prefix('g')
            .and_then(|rest| rest.split_once('h'))
            .is_some_and(|(segment, offset)| number(segment) && number(offset));
    (role_ok && parts.next().is_none()).then_some(pid)
}

/// Names of the namespaces that currently exist (what `ip netns list` shows).
pub(crate) fn list() -> Result<Vec<String>, LabError> {
    let entries = match std::fs::read_dir(NETNS_DIR) {
        Ok(entries) => entries,
        // No namespace was ever named on this machine.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(LabError::ListNamespaces {
                dir: NETNS_DIR.to_owned(),
                source,
            });
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| LabError::ListNamespaces {
            dir: NETNS_DIR.to_owned(),
            source,
        })?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Removes the namespaces under `prefix` whose creating process no longer runs. Namespaces of
/// live processes (parallel test binaries, this process) are kept. A recycled pid keeps its stale
/// namespaces until a later run; that costs a little memory, never a wrong deletion.
pub(crate) fn cleanup_stale(prefix: &str) -> Result<usize, LabError> {
    let mut removed = 0;
    for name in list()? {
        let Some(pid) = name.strip_prefix(prefix).and_then(owner_pid) else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        match delete(&name) {
            Ok(()) => removed += 1,
            // Another process cleaning the same prefix got there first.
            Err(_) if !namespace_path(&name).exists() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

pub(crate) fn namespace_path(ns: &str) -> std::path::PathBuf {
    Path::new(NETNS_DIR).join(ns)
}

pub(crate) fn create(ns: &str) -> Result<(), LabError> {
    ip(&["netns", "add", ns])
}

/// `ip netns del`: unmounts the name; the kernel frees the namespace, its veths and nft tables
/// once no process or socket uses it any more.
pub(crate) fn delete(ns: &str) -> Result<(), LabError> {
    ip(&["netns", "del", ns])
}

/// Runs `ip ARGS`.
pub(crate) fn ip(args: &[&str]) -> Result<(), LabError> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    run(cmd, None).map(drop)
}

/// `ip netns exec NS PROGRAM`: the program runs with NS as its network namespace.
pub(crate) fn exec_command(ns: &str, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).arg(program);
    cmd
}

/// Runs `cmd` to completion, feeding it `stdin`, and returns its stdout. A non-zero exit is an
/// error that carries the command line and its stderr.
pub(crate) fn run(mut cmd: Command, stdin: Option<&str>) -> Result<String, LabError> {
    let command = describe(&cmd);
    let stdin_mode = if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    cmd.stdin(stdin_mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let spawn_err = |source| LabError::Spawn {
        command: command.clone(),
        source,
    };
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // The pipe is closed when `pipe` drops, which ends the child's input.
        pipe.write_all(input.as_bytes()).map_err(spawn_err)?;
    }
    let output = child.wait_with_output().map_err(spawn_err)?;
    if !output.status.success() {
        return Err(LabError::Command {
            command,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn describe(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Starts a thread that first moves itself into network namespace `ns`, then runs `f`. Sockets
/// it creates belong to `ns`, and so do threads it spawns (a new thread copies the namespaces of
/// the thread that spawned it). The rest of the process stays where it was: `setns` with
/// `CLONE_NEWNET` moves only the calling thread.
pub(crate) fn spawn_in<T, F>(ns: &str, f: F) -> Result<JoinHandle<Result<T, LabError>>, LabError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, LabError> + Send + 'static,
{
    // Opened here so that a missing namespace is reported to the caller, not inside the thread.
    let file = File::open(namespace_path(ns)).map_err(|source| LabError::EnterNamespace {
        ns: ns.to_owned(),
        source,
    })?;
    let owned = ns.to_owned();
    thread::Builder::new()
        .name(format!("picket-lab {ns}"))
        .spawn(move || {
            // SAFETY: setns only reads the descriptor, which `file` keeps open for the call.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                let source = io::Error::last_os_error();
                return Err(LabError::EnterNamespace { ns: owned, source });
            }
            drop(file);
            f()
        })
        .map_err(|source| LabError::Thread {
            ns: ns.to_owned(),
            source,
        })
}

/// Runs `f` on a thread inside `ns` and waits for it. A panic in `f` is re-raised here, so a
/// failed assertion inside reads like one outside.
pub(crate) fn run_in<T, F>(ns: &str, f: F) -> Result<T, LabError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, LabError> + Send + 'static,
{
    match spawn_in(ns, f)?.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Sysctls written inside each target namespace (never on the host: `/proc/sys/net` shows the
/// namespace of the thread that opens it). Each keeps the target answering exactly what its
/// rules say, also under a full-speed scan.
const TARGET_SYSCTLS: &[(&str, &str)] = &[
    // The accept queue holds min(backlog, somaxconn) connections; when it is full the kernel drops
    // new SYNs, which a scanner would rightly report as filtered. 65535 lets a burst of tens of
    // thousands of connects queue while the accept loop catches up.
    ("net/core/somaxconn", "65535"),
    // The same for half-open connections.
    ("net/ipv4/tcp_max_syn_backlog", "65535"),
    // Should the SYN queue overflow anyway, answer with SYN cookies instead of dropping. This is
    // the kernel default, written so that the lab does not depend on it.
    ("net/ipv4/tcp_syncookies", "1"),
    // Linux deletes a link's IPv6 addresses when it goes down; keep them, so that a target whose
    // link comes back (`Target::set_link`) is the host it was. `default` covers eth0, which is
    // created after this runs.
    ("net/ipv6/conf/all/keep_addr_on_down", "1"),
    ("net/ipv6/conf/default/keep_addr_on_down", "1"),
];

/// The kernel rate-limits ICMP errors (about one destination-unreachable per second per peer
/// after a burst of six, 1000/s in all). An empty mask exempts every ICMP type, so that `reject
/// with icmpx admin-prohibited` answers every probe instead of turning most of them into
/// silence. What every target starts with.
const ICMP_UNLIMITED: &[(&str, &str)] = &[
    ("net/ipv4/icmp_ratemask", "0"),
    ("net/ipv6/icmp/ratemask", "\n"),
];

/// What a fresh namespace has (read with `sysctl` in one made by `ip netns add`, Linux 6.18):
/// destination-unreachable, source-quench, time-exceeded and parameter-problem (mask 6168) are
/// limited to one per `icmp_ratelimit` ms per peer, at most `icmp_msgs_per_sec` in all with a
/// burst of `icmp_msgs_burst`; over IPv6 every error type (0-127 except 2, packet-too-big) to
/// one per 100 ms per peer. Real hosts answer with these.
const ICMP_KERNEL_DEFAULTS: &[(&str, &str)] = &[
    ("net/ipv4/icmp_ratelimit", "1000"),
    ("net/ipv4/icmp_ratemask", "6168"),
    ("net/ipv4/icmp_msgs_per_sec", "1000"),
    ("net/ipv4/icmp_msgs_burst", "50"),
    ("net/ipv6/icmp/ratelimit", "100"),
    ("net/ipv6/icmp/ratemask", "0-1,3-127"),
];

/// Applies [`TARGET_SYSCTLS`] and [`ICMP_UNLIMITED`] inside `ns`.
pub(crate) fn tune_target(ns: &str) -> Result<(), LabError> {
    write_sysctls(ns, &[TARGET_SYSCTLS, ICMP_UNLIMITED].concat())
}

/// Restores the kernel's ICMP rate limits inside `ns` ([`ICMP_KERNEL_DEFAULTS`]), or lifts
/// them again ([`ICMP_UNLIMITED`]).
pub(crate) fn set_icmp_rate_limit(ns: &str, limited: bool) -> Result<(), LabError> {
    let sysctls = if limited {
        ICMP_KERNEL_DEFAULTS
    } else {
        ICMP_UNLIMITED
    };
    write_sysctls(ns, sysctls)
}

/// Writes `sysctls` (paths under /proc/sys, values) from a thread inside `ns`.
fn write_sysctls(ns: &str, sysctls: &[(&'static str, &'static str)]) -> Result<(), LabError> {
    let owned = ns.to_owned();
    let sysctls = sysctls.to_vec();
    run_in(ns, move || {
        for (key, value) in sysctls {
            std::fs::write(Path::new("/proc/sys").join(key), value).map_err(|source| {
                LabError::Sysctl {
                    ns: owned.clone(),
                    key: key.replace('/', "."),
                    value: value.trim().to_owned(),
                    source,
                }
            })?;
        }
        Ok(())
    })
}

/// The open-file limit the lab asks for: two listening sockets per port on every port, plus
/// room for the connections in flight.
const WANTED_NOFILE: u64 = 262_144;

/// Raises this process's RLIMIT_NOFILE to [`WANTED_NOFILE`] (or the kernel's `fs.nr_open` if
/// lower), raising the hard limit too where allowed (`CAP_SYS_RESOURCE`; containers often drop
/// it even for root), else the soft limit up to the hard one. Never lowers either.
pub(crate) fn raise_nofile_limit() -> Result<(), LabError> {
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(WANTED_NOFILE);
    let wanted = WANTED_NOFILE.min(nr_open);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(LabError::Rlimit {
            wanted,
            source: io::Error::last_os_error(),
        });
    }
    if limit.rlim_cur >= wanted {
        return Ok(());
    }
    let set = |rlim_cur, rlim_max| {
        // SAFETY: setrlimit only reads the struct.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &libc::rlimit { rlim_cur, rlim_max }) == 0 }
    };
    if set(wanted, limit.rlim_max.max(wanted)) || set(limit.rlim_max, limit.rlim_max) {
        return Ok(());
    }
    Err(LabError::Rlimit {
        wanted,
        source: io::Error::last_os_error(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_keeps_names_tame() {
        assert_eq!(prefix("ban_after"), "pl-ban_after-");
        assert_eq!(prefix("a b/c-d"), "pl-a_b_c_d-");
        assert_eq!(prefix(&"x".repeat(100)).len(), "pl-".len() + MAX_NAME + 1);
    }

    #[test]
    fn owner_pid_accepts_only_lab_names() {
        assert_eq!(owner_pid("123-0-s"), Some(123));
        assert_eq!(owner_pid("123-4-t17"), Some(123));
        assert_eq!(owner_pid("123-4-t"), None);
        assert_eq!(owner_pid("123-4-g0h2"), Some(123));
        assert_eq!(owner_pid("123-4-g0h"), None);
        assert_eq!(owner_pid("123-4-gh2"), None);
        assert_eq!(owner_pid("123-4-x"), None);
        assert_eq!(owner_pid("1-123-4-s"), None);
        assert_eq!(owner_pid("abc-4-s"), None);
        assert_eq!(owner_pid("123-4-s-extra"), None);
        assert_eq!(owner_pid(""), None);
    }
}
