//! Real daemons from Debian's packages, started inside a target namespace: what service
//! detection is tested against.
//!
//! Each [`Daemon`] runs in the foreground as a child of the test, with a minimal configuration
//! written to its own directory under the system's temporary directory, listening on the
//! target's IPv4 address only. Nothing of the host's own configuration, services or data is
//! used or changed (the one exception: OpenSSH insists on `/run/sshd` existing, which Debian's
//! package creates at boot anyway). Dropping the handle kills the daemon's whole process group
//! and removes its directory, also while a test panics.
//!
//! Which version is installed comes from dpkg ([`installed`]): the package that owns the
//! daemon's binary and its version, the truth a detector's answer is compared with.
//!
//! ```
//! use picket_lab::daemons::{self, Daemon, Kind};
//! # fn main() -> Result<(), picket_lab::LabError> {
//! let Some(mut lab) = picket_lab::Lab::try_new("doc_daemons")? else { return Ok(()) };
//! let target = lab.add_target()?;
//! let Some(installed) = daemons::installed(Kind::Memcached) else { return Ok(()) };
//! assert_eq!(installed.package, "memcached");
//! let memcached = Daemon::start(&target, Kind::Memcached, 11211)?; // listening now
//! assert_eq!(memcached.addr().to_string(), "198.18.0.2:11211");
//! # Ok(()) }
//! ```

use std::fs;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{LabError, Target, netns};

/// How long a daemon may take to listen after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a daemon may take to exit after SIGTERM before it gets SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// A daemon Picket should recognise, with the Debian package that provides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `sshd` from `openssh-server`.
    OpenSsh,
    /// `nginx` from `nginx` (or `nginx-light`, which depends on it).
    Nginx,
    /// `redis-server` from `redis-server` (the binary belongs to `redis-tools`).
    Redis,
    /// `memcached` from `memcached`.
    Memcached,
    /// `vsftpd` from `vsftpd`.
    Vsftpd,
    /// `exim4` from `exim4-daemon-light` (or `-heavy`).
    Exim,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 6] = [
        Kind::OpenSsh,
        Kind::Nginx,
        Kind::Redis,
        Kind::Memcached,
        Kind::Vsftpd,
        Kind::Exim,
    ];

    /// A short lowercase name, for messages and directory names.
    ///
    /// ```
    /// assert_eq!(picket_lab::daemons::Kind::OpenSsh.name(), "openssh");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Kind::OpenSsh => "openssh",
            Kind::Nginx => "nginx",
            Kind::Redis => "redis",
            Kind::Memcached => "memcached",
            Kind::Vsftpd => "vsftpd",
            Kind::Exim => "exim",
        }
    }

    /// The binary that is started.
    pub fn binary(self) -> &'static str {
        match self {
            Kind::OpenSsh => "/usr/sbin/sshd",
            Kind::Nginx => "/usr/sbin/nginx",
            Kind::Redis => "/usr/bin/redis-server",
            Kind::Memcached => "/usr/bin/memcached",
            Kind::Vsftpd => "/usr/sbin/vsftpd",
            Kind::Exim => "/usr/sbin/exim4",
        }
    }

    /// The port the service usually listens on.
    ///
    /// ```
    /// use picket_lab::daemons::Kind;
    /// let ports: Vec<u16> = Kind::ALL.iter().map(|k| k.default_port()).collect();
    /// assert_eq!(ports, [22, 80, 6379, 11211, 21, 25]);
    /// ```
    pub fn default_port(self) -> u16 {
        match self {
            Kind::OpenSsh => 22,
            Kind::Nginx => 80,
            Kind::Redis => 6379,
            Kind::Memcached => 11211,
            Kind::Vsftpd => 21,
            Kind::Exim => 25,
        }
    }

    /// The product name a service detector should report for this daemon.
    pub fn product(self) -> &'static str {
        match self {
            Kind::OpenSsh => "OpenSSH",
            Kind::Nginx => "nginx",
            Kind::Redis => "Redis",
            Kind::Memcached => "Memcached",
            Kind::Vsftpd => "vsftpd",
            Kind::Exim => "Exim",
        }
    }

    /// The Debian package to install for this daemon.
    pub fn debian_package(self) -> &'static str {
        match self {
            Kind::OpenSsh => "openssh-server",
            Kind::Nginx => "nginx",
            Kind::Redis => "redis-server",
            Kind::Memcached => "memcached",
            Kind::Vsftpd => "vsftpd",
            Kind::Exim => "exim4-daemon-light",
        }
    }

    /// Writes the configuration under `dir` and returns the daemon's arguments.
    fn setup(self, dir: &Path, addr: IpAddr, port: u16) -> Result<Vec<String>, LabError> {
        match self {
            Kind::OpenSsh => sshd(dir, addr, port),
            Kind::Nginx => nginx(dir, addr, port),
            Kind::Redis => Ok(redis(dir, addr, port)),
            Kind::Memcached => Ok(memcached(addr, port)),
            Kind::Vsftpd => vsftpd(dir, addr, port),
            Kind::Exim => exim(dir, addr, port),
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The installed Debian package that owns a daemon's binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The binary package, such as `openssh-server` or `redis-tools`.
    pub package: String,
    /// Its full Debian version, such as `1:9.2p1-2+deb12u3`.
    pub version: String,
}

/// The package that owns `kind`'s binary and its version, from `dpkg-query`, or `None` when
/// the binary or dpkg is missing or the package is not installed.
///
/// ```
/// use picket_lab::daemons::{self, Kind};
/// if let Some(installed) = daemons::installed(Kind::OpenSsh) {
///     assert_eq!(installed.package, "openssh-server");
/// }
/// ```
pub fn installed(kind: Kind) -> Option<Installed> {
    // dpkg knows the file by its real path (redis-server is a symlink to redis-check-rdb).
    let real = fs::canonicalize(kind.binary()).ok()?;
    let out = Command::new("dpkg-query")
        .arg("-S")
        .arg(&real)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    // `package[:arch]: /path`; diversions add lines of their own, the owner's comes first.
    let text = String::from_utf8_lossy(&out.stdout);
    let package = text.lines().next()?.split(':').next()?.trim().to_owned();
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", &package])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let version = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !version.is_empty()).then_some(Installed { package, version })
}

/// A daemon running in the foreground inside a target namespace, in its own process group.
/// Dropping it kills the group (the daemon and any workers it forked) and removes its
/// configuration directory.
#[derive(Debug)]
pub struct Daemon {
    kind: Kind,
    addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

impl Daemon {
    /// Writes a minimal configuration for `kind`, starts it inside `target` listening on the
    /// target's IPv4 address and `port`, and returns once the port accepts connections (tried
    /// from inside the target). Fails with the daemon's log when it exits or does not listen
    /// within 20 seconds, and with [`LabError::DaemonNotInstalled`] when its binary is missing.
    pub fn start(target: &Target, kind: Kind, port: u16) -> Result<Daemon, LabError> {
        if !Path::new(kind.binary()).exists() {
            return Err(LabError::DaemonNotInstalled {
                daemon: kind.name(),
                binary: kind.binary(),
            });
        }
        let addr = SocketAddr::new(IpAddr::V4(target.address_v4()), port);
        let dir = std::env::temp_dir().join(format!("{}-{}-{port}", target.ns(), kind.name()));
        let setup_err = |path: &Path| {
            let path = path.display().to_string();
            move |source| LabError::DaemonSetup {
                daemon: kind.name(),
                path,
                source,
            }
        };
        // A directory of the same name can only be left over from a killed run of a process
        // with the same pid: nothing else uses it.
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(setup_err(&dir))?;
        }
        fs::create_dir_all(&dir).map_err(setup_err(&dir))?;
        // Daemons that drop privileges (Exim) must traverse it, whatever the umask.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).map_err(setup_err(&dir))?;
        let log = dir.join("daemon.log");
        let out = fs::File::create(&log).map_err(setup_err(&log))?;
        let err = out.try_clone().map_err(setup_err(&log))?;
        // From here on the directory is removed by Drop or below, whatever fails next.
        let args = match kind.setup(&dir, addr.ip(), port) {
            Ok(args) => args,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let mut command = target.command(kind.binary());
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own group, so that Drop reaches the workers it forks too.
            .process_group(0);
        let child = match command.spawn() {
            Ok(child) => child,
            Err(source) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(LabError::Spawn {
                    command: format!("ip netns exec {} {}", target.ns(), kind.binary()),
                    source,
                });
            }
        };
        let mut daemon = Daemon {
            kind,
            addr,
            child,
            dir,
        };
        daemon.wait_ready(target.ns())?;
        Ok(daemon)
    }

    /// Which daemon this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Where it listens: the target's IPv4 address and the port it was started with.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the daemon has written to stdout and stderr so far (its log, for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    /// Polls the port from inside the target until it accepts a connection, or the daemon
    /// exits, or [`READY_TIMEOUT`] passes.
    fn wait_ready(&mut self, ns: &str) -> Result<(), LabError> {
        let until = Instant::now() + READY_TIMEOUT;
        loop {
            let addr = self.addr;
            let listening = netns::run_in(ns, move || {
                Ok(TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok())
            })?;
            if listening {
                return Ok(());
            }
            let exited = self.child.try_wait().map_err(|source| LabError::Spawn {
                command: format!("waitpid {}", self.child.id()),
                source,
            })?;
            if exited.is_some() || Instant::now() >= until {
                return Err(LabError::DaemonNotReady {
                    daemon: self.kind.name(),
                    addr,
                    waited: READY_TIMEOUT,
                    state: exited.map_or_else(
                        || "still running".to_owned(),
                        |status| format!("exited: {status}"),
                    ),
                    log: self.log(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // The child is `ip netns exec`, which became the daemon (exec, same pid) and leads the
        // process group it was started in.
        let group = -(self.child.id() as libc::pid_t);
        // SAFETY: kill(2) on the process group this module created; no memory is involved.
        unsafe {
            libc::kill(group, libc::SIGTERM);
        }
        let until = Instant::now() + TERM_GRACE;
        while Instant::now() < until && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above; whatever ignored SIGTERM (or a worker still exiting) goes now.
        unsafe {
            libc::kill(group, libc::SIGKILL);
        }
        let _ = self.child.wait();
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            // Drop cannot return the error; a directory in the temporary directory is harmless.
            eprintln!("picket-lab: could not remove {}: {e}", self.dir.display());
        }
    }
}

/// Writes `text` to `dir/name` and returns the path as an argument.
fn write(daemon: Kind, dir: &Path, name: &str, text: &str) -> Result<String, LabError> {
    let path = dir.join(name);
    fs::write(&path, text).map_err(|source| setup_error(daemon, &path, source))?;
    Ok(path.display().to_string())
}

fn mkdir(daemon: Kind, path: &Path) -> Result<(), LabError> {
    fs::create_dir_all(path).map_err(|source| setup_error(daemon, path, source))
}

fn setup_error(daemon: Kind, path: &Path, source: io::Error) -> LabError {
    LabError::DaemonSetup {
        daemon: daemon.name(),
        path: path.display().to_string(),
        source,
    }
}

fn sshd(dir: &Path, addr: IpAddr, port: u16) -> Result<Vec<String>, LabError> {
    // sshd refuses to start without its privilege-separation directory.
    mkdir(Kind::OpenSsh, Path::new("/run/sshd"))?;
    let key = dir.join("host_ed25519");
    let mut keygen = Command::new("ssh-keygen");
    keygen
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key);
    netns::run(keygen, None)?;
    let text = format!(
        "Port {port}\nListenAddress {addr}\nHostKey {}\nPidFile {}\nUsePAM no\nStrictModes no\n",
        key.display(),
        dir.join("sshd.pid").display()
    );
    let cfg = write(Kind::OpenSsh, dir, "sshd_config", &text)?;
    Ok(vec!["-D".into(), "-e".into(), "-f".into(), cfg])
}

fn nginx(dir: &Path, addr: IpAddr, port: u16) -> Result<Vec<String>, LabError> {
    let d = dir.display();
    // Every path nginx writes to lies in `dir`: its compiled-in defaults are the host's.
    let text = format!(
        "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nworker_processes 1;\nevents {{}}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
         server {{ listen {addr}:{port}; location / {{ return 200 \"ok\\n\"; }} }}\n}}\n"
    );
    let cfg = write(Kind::Nginx, dir, "nginx.conf", &text)?;
    Ok(vec![
        "-p".into(),
        d.to_string(),
        "-c".into(),
        cfg,
        "-g".into(),
        "daemon off;".into(),
    ])
}

fn redis(dir: &Path, addr: IpAddr, port: u16) -> Vec<String> {
    [
        "--bind",
        &addr.to_string(),
        "--port",
        &port.to_string(),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--protected-mode",
        "no",
        "--dir",
        &dir.display().to_string(),
    ]
    .map(String::from)
    .to_vec()
}

fn memcached(addr: IpAddr, port: u16) -> Vec<String> {
    // `-U 0`: no UDP listener (the amplification vector; the tests probe TCP only).
    [
        "-u",
        "nobody",
        "-l",
        &addr.to_string(),
        "-p",
        &port.to_string(),
        "-U",
        "0",
    ]
    .map(String::from)
    .to_vec()
}

fn vsftpd(dir: &Path, addr: IpAddr, port: u16) -> Result<Vec<String>, LabError> {
    let empty = dir.join("empty");
    mkdir(Kind::Vsftpd, &empty)?;
    let text = format!(
        "listen=YES\nlisten_ipv6=NO\nlisten_address={addr}\nlisten_port={port}\nbackground=NO\n\
         anonymous_enable=NO\nlocal_enable=YES\nseccomp_sandbox=NO\nsecure_chroot_dir={}\n",
        empty.display()
    );
    Ok(vec![write(Kind::Vsftpd, dir, "vsftpd.conf", &text)?])
}

fn exim(dir: &Path, addr: IpAddr, port: u16) -> Result<Vec<String>, LabError> {
    let d = dir.display();
    let (spool, logs) = (dir.join("spool"), dir.join("log"));
    mkdir(Kind::Exim, &spool)?;
    mkdir(Kind::Exim, &logs)?;
    // No DNS or ident lookups: the lab has no resolver, and they would delay the greeting.
    // Every recipient is refused: nothing is ever queued or delivered.
    let text = format!(
        "primary_hostname = picket-lab.test\nspool_directory = {}\nlog_file_path = {}/%slog\n\
         pid_file_path = {d}/exim.pid\nlocal_interfaces = <; {addr}\ndaemon_smtp_ports = {port}\n\
         host_lookup =\nrfc1413_hosts =\nacl_smtp_rcpt = refuse\n\nbegin acl\n\nrefuse:\n  deny\n",
        spool.display(),
        logs.display()
    );
    let cfg = write(Kind::Exim, dir, "exim.conf", &text)?;
    // Exim writes its logs and spool as its own user; its configuration must stay root's.
    let mut chown = Command::new("chown");
    chown.arg("Debian-exim:Debian-exim").arg(&spool).arg(&logs);
    netns::run(chown, None)?;
    Ok(vec!["-bdf".into(), "-C".into(), cfg])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_distinct_names_ports_and_binaries() {
        use std::collections::BTreeSet;
        let names: BTreeSet<_> = Kind::ALL.iter().map(|k| k.name()).collect();
        let binaries: BTreeSet<_> = Kind::ALL.iter().map(|k| k.binary()).collect();
        let ports: BTreeSet<_> = Kind::ALL.iter().map(|k| k.default_port()).collect();
        assert_eq!(
            (names.len(), binaries.len(), ports.len()),
            (Kind::ALL.len(), Kind::ALL.len(), Kind::ALL.len())
        );
    }

    #[test]
    fn configurations_stay_in_their_directory() {
        let dir = std::env::temp_dir().join(format!("picket-lab-unit-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let addr: IpAddr = "198.18.0.2".parse().unwrap();
        let args = nginx(&dir, addr, 8080).unwrap();
        let conf = fs::read_to_string(dir.join("nginx.conf")).unwrap();
        assert!(conf.contains("listen 198.18.0.2:8080;"), "{conf}");
        // Every absolute path nginx is told to write to (not the `location /` URL).
        let paths = conf
            .split_whitespace()
            .map(|w| w.trim_end_matches(';'))
            .filter(|w| w.starts_with('/') && w.len() > 1);
        for path in paths {
            assert!(Path::new(path).starts_with(&dir), "{path}");
        }
        assert_eq!(args[args.len() - 1], "daemon off;");
        let args = vsftpd(&dir, addr, 2121).unwrap();
        let conf = fs::read_to_string(&args[0]).unwrap();
        assert!(conf.contains("listen_address=198.18.0.2\nlisten_port=2121\n"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
