use std::io;
use std::net::SocketAddr;
use std::process::ExitStatus;

/// Everything that can go wrong while building or driving a lab. Network outcomes seen by the
/// code under test (timeouts, resets) are never errors here: they are what the lab is for.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("could not run `{command}`: {source}")]
    Spawn { command: String, source: io::Error },

    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: ExitStatus,
        stderr: String,
    },

    #[error("could not enter network namespace {ns}: {source}")]
    EnterNamespace { ns: String, source: io::Error },

    #[error("could not start a thread in network namespace {ns}: {source}")]
    Thread { ns: String, source: io::Error },

    #[error("could not set sysctl {key} = {value:?} in network namespace {ns}: {source}")]
    Sysctl {
        ns: String,
        key: String,
        value: String,
        source: io::Error,
    },

    #[error("could not listen on {addr} in network namespace {ns}: {source}")]
    Listen {
        ns: String,
        addr: SocketAddr,
        source: io::Error,
    },

    #[error("could not start the listener runtime in network namespace {ns}: {source}")]
    Runtime { ns: String, source: io::Error },

    #[error("the listener thread in network namespace {ns} stopped before it was ready")]
    ListenerExited { ns: String },

    #[error("link {dev} in network namespace {ns} was not up after {waited:?}")]
    LinkNotReady {
        ns: String,
        dev: String,
        waited: std::time::Duration,
    },

    #[error("lab {lab} is full: it holds at most {max} targets")]
    TooManyTargets { lab: String, max: usize },

    #[error("lab {lab} is full: it holds at most {max} segments")]
    TooManySegments { lab: String, max: usize },

    #[error("no host can be added to segment {segment} at offset {offset}: {why}")]
    BadHost {
        segment: String,
        offset: u8,
        why: &'static str,
    },

    #[error("could not list network namespaces in {dir}: {source}")]
    ListNamespaces { dir: String, source: io::Error },

    #[error("could not raise RLIMIT_NOFILE to {wanted}: {source}")]
    Rlimit { wanted: u64, source: io::Error },

    #[error("{daemon} is not installed ({binary} is missing)")]
    DaemonNotInstalled {
        daemon: &'static str,
        binary: &'static str,
    },

    #[error("could not prepare {path} for {daemon}: {source}")]
    DaemonSetup {
        daemon: &'static str,
        path: String,
        source: io::Error,
    },

    #[error("{daemon} did not listen on {addr} within {waited:?} ({state}); its log:\n{log}")]
    DaemonNotReady {
        daemon: &'static str,
        addr: SocketAddr,
        waited: std::time::Duration,
        state: String,
        log: String,
    },
}
