//! Real daemons from Debian's packages, each started in the foreground inside a target
//! namespace of the lab with a minimal configuration in a temporary directory, then detected
//! from the scanner namespace. Picket must name each product, and the version it reports must
//! be the upstream part of the installed package's version (`dpkg-query -W -f='${Version}'`
//! on the package that owns the daemon's binary, through [`debian_upstream`]: epoch, Debian
//! revision and repack suffix removed).
//!
//! Packages (CI installs them): openssh-server nginx-light redis-server memcached vsftpd
//! exim4-daemon-light. Skips with "skipped: ..." when not root (no lab) and, per daemon, when
//! its binary is not installed.

use std::fs;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use picket_lab::{Lab, Target};
use picket_model::ServiceInfo;
use picket_service::{DetectSettings, Signatures, debian_upstream, detect_many};

/// A daemon running in its own process group; dropping it kills the whole group (the daemon
/// and any workers it forked), also when the test fails.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let group = -(self.child.id() as libc::pid_t);
        // SAFETY: kill(2) on the process group this test created; no memory is involved.
        unsafe {
            libc::kill(group, libc::SIGTERM);
        }
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above; whatever ignored SIGTERM goes now.
        unsafe {
            libc::kill(group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// One daemon to start: its binary, how to configure it, the port it serves.
struct Spec {
    name: &'static str,
    binary: &'static str,
    port: u16,
    product: &'static str,
    /// Writes the configuration under `dir` and returns the arguments.
    setup: fn(dir: &Path, addr: IpAddr, port: u16) -> Vec<String>,
}

fn write(path: &Path, text: &str) -> String {
    fs::write(path, text).unwrap();
    path.display().to_string()
}

fn sshd(dir: &Path, addr: IpAddr, port: u16) -> Vec<String> {
    // sshd insists on its privilege-separation directory.
    fs::create_dir_all("/run/sshd").unwrap();
    let key = dir.join("host_ed25519");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    let cfg = write(
        &dir.join("sshd_config"),
        &format!(
            "Port {port}\nListenAddress {addr}\nHostKey {}\nPidFile {}\nUsePAM no\nStrictModes no\n",
            key.display(),
            dir.join("sshd.pid").display()
        ),
    );
    vec!["-D".into(), "-e".into(), "-f".into(), cfg]
}

fn nginx(dir: &Path, addr: IpAddr, port: u16) -> Vec<String> {
    let d = dir.display();
    let cfg = write(
        &dir.join("nginx.conf"),
        &format!(
            "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nworker_processes 1;\nevents {{}}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
             server {{ listen {addr}:{port}; location / {{ return 200 \"ok\\n\"; }} }}\n}}\n"
        ),
    );
    vec![
        "-p".into(),
        d.to_string(),
        "-c".into(),
        cfg,
        "-g".into(),
        "daemon off;".into(),
    ]
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

fn memcached(_: &Path, addr: IpAddr, port: u16) -> Vec<String> {
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

fn vsftpd(dir: &Path, addr: IpAddr, port: u16) -> Vec<String> {
    let empty = dir.join("empty");
    fs::create_dir_all(&empty).unwrap();
    let cfg = write(
        &dir.join("vsftpd.conf"),
        &format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address={addr}\nlisten_port={port}\nbackground=NO\n\
             anonymous_enable=NO\nlocal_enable=YES\nseccomp_sandbox=NO\nsecure_chroot_dir={}\n",
            empty.display()
        ),
    );
    vec![cfg]
}

fn exim(dir: &Path, addr: IpAddr, port: u16) -> Vec<String> {
    let d = dir.display();
    let (spool, logs) = (dir.join("spool"), dir.join("log"));
    fs::create_dir_all(&spool).unwrap();
    fs::create_dir_all(&logs).unwrap();
    // No DNS or ident lookups: the lab has no resolver, and they would delay the greeting.
    let cfg = write(
        &dir.join("exim.conf"),
        &format!(
            "primary_hostname = picket-lab.test\nspool_directory = {}\nlog_file_path = {}/%slog\n\
             pid_file_path = {d}/exim.pid\nlocal_interfaces = <; {addr}\ndaemon_smtp_ports = {port}\n\
             host_lookup =\nrfc1413_hosts =\nacl_smtp_rcpt = refuse\n\nbegin acl\n\nrefuse:\n  deny\n",
            spool.display(),
            logs.display()
        ),
    );
    // Exim writes its logs and spool as its own user; its configuration must stay root's.
    let status = Command::new("chown")
        .args(["Debian-exim:Debian-exim"])
        .args([&spool, &logs])
        .status()
        .unwrap();
    assert!(status.success());
    vec!["-bdf".into(), "-C".into(), cfg]
}

const SPECS: [Spec; 6] = [
    Spec {
        name: "openssh",
        binary: "/usr/sbin/sshd",
        port: 22,
        product: "OpenSSH",
        setup: sshd,
    },
    Spec {
        name: "nginx",
        binary: "/usr/sbin/nginx",
        port: 80,
        product: "nginx",
        setup: nginx,
    },
    Spec {
        name: "redis",
        binary: "/usr/bin/redis-server",
        port: 6379,
        product: "Redis",
        setup: redis,
    },
    Spec {
        name: "memcached",
        binary: "/usr/bin/memcached",
        port: 11211,
        product: "Memcached",
        setup: memcached,
    },
    Spec {
        name: "vsftpd",
        binary: "/usr/sbin/vsftpd",
        port: 21,
        product: "vsftpd",
        setup: vsftpd,
    },
    Spec {
        name: "exim",
        binary: "/usr/sbin/exim4",
        port: 25,
        product: "Exim",
        setup: exim,
    },
];

/// The installed package that owns `binary` and its version, from dpkg.
fn owning_package(binary: &str) -> Option<(String, String)> {
    let real = fs::canonicalize(binary).ok()?;
    let out = Command::new("dpkg-query")
        .arg("-S")
        .arg(&real)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let package = text.lines().next()?.split(':').next()?.trim().to_owned();
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", &package])
        .output()
        .ok()?;
    let version = String::from_utf8(out.stdout).ok()?;
    out.status.success().then_some((package, version))
}

fn start(target: &Target, spec: &Spec, dir: &Path) -> Daemon {
    let args = (spec.setup)(dir, IpAddr::V4(target.address_v4()), spec.port);
    let log = dir.join("daemon.log");
    let out = fs::File::create(&log).unwrap();
    let mut command = target.command(spec.binary);
    command
        .args(&args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command.spawn().unwrap();
    Daemon {
        name: spec.name,
        child,
        log,
    }
}

/// Waits until every daemon's port accepts connections from the scanner, or fails with the
/// logs of those that do not.
fn wait_ready(lab: &Lab, daemons: &mut [(Daemon, SocketAddr)]) {
    let addrs: Vec<SocketAddr> = daemons.iter().map(|(_, a)| *a).collect();
    let ready = lab
        .in_scanner(move || {
            let until = Instant::now() + Duration::from_secs(20);
            let mut ready = vec![false; addrs.len()];
            while Instant::now() < until && ready.iter().any(|r| !r) {
                for (i, addr) in addrs.iter().enumerate() {
                    ready[i] = ready[i]
                        || TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            ready
        })
        .unwrap();
    for ((daemon, addr), ok) in daemons.iter_mut().zip(ready) {
        let exited = daemon.child.try_wait().unwrap();
        assert!(
            ok,
            "{} did not listen on {addr} (exit: {exited:?}); log:\n{}",
            daemon.name,
            fs::read_to_string(&daemon.log).unwrap_or_default()
        );
    }
}

#[test]
fn real_daemons_are_named_with_their_installed_versions() {
    let Some(mut lab) = Lab::try_new("service_daemons").unwrap() else {
        return;
    };
    let target = lab.add_target().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // Daemons that drop privileges (Exim) must traverse it.
    fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut running = Vec::new();
    let mut expected = Vec::new();
    for spec in &SPECS {
        let Some((package, version)) = owning_package(spec.binary) else {
            eprintln!("skipped: {} ({} is not installed)", spec.name, spec.binary);
            continue;
        };
        let dir = tmp.path().join(spec.name);
        fs::create_dir_all(&dir).unwrap();
        let addr = SocketAddr::from((target.address_v4(), spec.port));
        running.push((start(&target, spec, &dir), addr));
        expected.push((spec, addr, package, version));
    }
    if running.is_empty() {
        eprintln!("skipped: none of the daemons is installed");
        return;
    }
    wait_ready(&lab, &mut running);

    let addrs: Vec<SocketAddr> = expected.iter().map(|(_, a, _, _)| *a).collect();
    let started = Instant::now();
    let results: Vec<(SocketAddr, Option<ServiceInfo>)> = lab
        .in_scanner(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let settings = DetectSettings::new(Arc::new(Signatures::builtin().unwrap()));
            runtime.block_on(detect_many(addrs, &settings, 8))
        })
        .unwrap();
    eprintln!(
        "detected {} services in {:?}",
        results.len(),
        started.elapsed()
    );

    for ((spec, addr, package, dpkg_version), (got_addr, info)) in expected.iter().zip(&results) {
        assert_eq!(addr, got_addr);
        let info = info
            .as_ref()
            .unwrap_or_else(|| panic!("{}: nothing detected", spec.name));
        eprintln!(
            "{addr} {}: {info} [{package} {dpkg_version}] cpe {:?}",
            spec.name,
            info.cpe.as_ref().map(ToString::to_string)
        );
        assert_eq!(info.product.as_deref(), Some(spec.product), "{info:?}");
        assert_eq!(
            info.version.as_deref(),
            Some(debian_upstream(dpkg_version)),
            "{}: dpkg says {package} {dpkg_version}",
            spec.name
        );
        let cpe = info.cpe.as_ref().unwrap().to_string();
        assert!(cpe.starts_with("cpe:2.3:a:"), "{cpe}");
        if spec.name == "openssh" {
            // Debian's sshd names its package revision: the derived package version is exactly
            // what dpkg has installed (source package openssh, same version as openssh-server).
            let derived = info.package.as_ref().unwrap();
            assert_eq!(
                (derived.name.as_str(), &derived.version),
                ("openssh", dpkg_version)
            );
            assert!(info.ecosystem.as_deref().unwrap().starts_with("Debian"));
        }
    }
}
