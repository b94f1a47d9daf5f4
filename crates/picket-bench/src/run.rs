//! Running one scanner: output to files, a deadline, Ctrl-C, and no orphans.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::BenchError;

/// How often a running child is checked for exit, deadline and Ctrl-C. Small against every
/// wall time measured, large enough to cost nothing.
const POLL: Duration = Duration::from_millis(10);

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The tool exited by itself.
    Finished(ExitStatus),
    /// The deadline passed and the tool was killed.
    TimedOut,
    /// Ctrl-C (or SIGTERM) arrived and the tool was killed.
    Interrupted,
}

/// One finished run.
#[derive(Debug)]
pub struct Finished {
    pub exit: Exit,
    /// From spawn to exit (or to the kill).
    pub wall: Duration,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Runs `command` with standard output and error in files under `dir` (no pipe to drain, so a
/// chatty tool never blocks), kills it with SIGKILL once `timeout` passes or `interrupted` is
/// set, and returns what it wrote. The child also gets SIGKILL if this thread's process dies
/// first (`PR_SET_PDEATHSIG`), so a killed benchmark leaves no scanner behind.
///
/// Must be called from the main thread: the death signal follows the thread that spawned.
pub fn run(
    mut command: Command,
    timeout: Duration,
    interrupted: &AtomicBool,
    dir: &Path,
) -> Result<Finished, BenchError> {
    let line = format!("{command:?}");
    let stdout_path = dir.join("stdout");
    let stderr_path = dir.join("stderr");
    let create = |path: &Path| {
        File::create(path).map_err(|source| BenchError::File {
            action: "create",
            path: path.to_owned(),
            source,
        })
    };
    command
        .stdin(Stdio::null())
        .stdout(create(&stdout_path)?)
        .stderr(create(&stderr_path)?);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = command.spawn().map_err(|source| BenchError::Spawn {
        command: line.clone(),
        source,
    })?;
    let wait_error = |source| BenchError::Wait {
        command: line.clone(),
        source,
    };
    let exit = loop {
        if let Some(status) = child.try_wait().map_err(wait_error)? {
            break Exit::Finished(status);
        }
        let stop = if interrupted.load(Ordering::SeqCst) {
            Some(Exit::Interrupted)
        } else if started.elapsed() >= timeout {
            Some(Exit::TimedOut)
        } else {
            None
        };
        if let Some(stop) = stop {
            // It may have exited since try_wait; then kill fails harmlessly and wait reaps it.
            let _ = child.kill();
            child.wait().map_err(wait_error)?;
            break stop;
        }
        std::thread::sleep(POLL);
    };
    let wall = started.elapsed();
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| BenchError::File {
            action: "read",
            path: path.to_owned(),
            source,
        })
    };
    Ok(Finished {
        exit,
        wall,
        stdout: read(&stdout_path)?,
        stderr: String::from_utf8_lossy(&read(&stderr_path)?).into_owned(),
    })
}

/// Sends a small UDP datagram to `target`'s discard port every 100 ms until `stop` is set (see
/// [`crate::Tool::needs_keepalive`]) and returns how many sends failed. Call it inside the lab's
/// scanner namespace. Ten datagrams a second carry no TCP flags, so no scenario's SYN limits
/// count them.
pub fn keepalive(target: Ipv4Addr, stop: &AtomicBool) -> io::Result<u64> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    let mut failed = 0;
    while !stop.load(Ordering::SeqCst) {
        // Unconnected UDP: the target's port-unreachable answers are not reported here, and a
        // datagram the firewall drops has still crossed the scanner's link, which is the point.
        // A failed send is counted, not fatal: the next one may pass.
        if socket
            .send_to(b"picket-bench keepalive", (target, 9))
            .is_err()
        {
            failed += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quick_command_finishes_with_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let done = run(
            cmd,
            Duration::from_secs(10),
            &AtomicBool::new(false),
            dir.path(),
        )
        .unwrap();
        assert!(matches!(done.exit, Exit::Finished(s) if s.code() == Some(3)));
        assert_eq!(done.stdout, b"out\n");
        assert_eq!(done.stderr, "err\n");
    }

    #[test]
    fn a_slow_command_is_killed_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let done = run(
            cmd,
            Duration::from_millis(200),
            &AtomicBool::new(false),
            dir.path(),
        )
        .unwrap();
        assert_eq!(done.exit, Exit::TimedOut);
        assert!(done.wall < Duration::from_secs(5), "{:?}", done.wall);
    }

    #[test]
    fn an_interrupt_kills_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let done = run(
            cmd,
            Duration::from_secs(60),
            &AtomicBool::new(true),
            dir.path(),
        )
        .unwrap();
        assert_eq!(done.exit, Exit::Interrupted);
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = Command::new("/nonexistent/scanner");
        let err = run(
            cmd,
            Duration::from_secs(1),
            &AtomicBool::new(false),
            dir.path(),
        )
        .unwrap_err();
        assert!(matches!(err, BenchError::Spawn { .. }), "{err}");
    }
}
