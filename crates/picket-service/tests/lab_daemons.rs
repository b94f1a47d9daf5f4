//! Real daemons from Debian's packages (started by [`picket_lab::daemons`], each in the
//! foreground inside one target namespace of the lab with a minimal configuration), detected
//! from the scanner namespace. Picket must name each product, and the version it reports must
//! be the upstream part of the installed package's version (dpkg's version of the package that
//! owns the daemon's binary, through [`debian_upstream`]: epoch, Debian revision and repack
//! suffix removed).
//!
//! Packages (scripts/test installs them): openssh-server nginx redis-server memcached vsftpd
//! exim4-daemon-light. Skips with "skipped: ..." when not root (no lab) and, per daemon, when
//! it is not installed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use picket_lab::Lab;
use picket_lab::daemons::{self, Daemon, Kind};
use picket_model::ServiceInfo;
use picket_service::{DetectSettings, Signatures, debian_upstream, detect_many};

#[test]
fn real_daemons_are_named_with_their_installed_versions() {
    let Some(mut lab) = Lab::try_new("service_daemons").unwrap() else {
        return;
    };
    let target = lab.add_target().unwrap();
    let mut running = Vec::new();
    for kind in Kind::ALL {
        let Some(installed) = daemons::installed(kind) else {
            eprintln!(
                "skipped: {kind} (apt-get install {})",
                kind.debian_package()
            );
            continue;
        };
        let daemon = Daemon::start(&target, kind, kind.default_port()).unwrap();
        running.push((daemon, installed));
    }
    if running.is_empty() {
        eprintln!("skipped: none of the daemons is installed");
        return;
    }

    let addrs: Vec<SocketAddr> = running.iter().map(|(d, _)| d.addr()).collect();
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

    for ((daemon, installed), (got_addr, info)) in running.iter().zip(&results) {
        let (kind, addr) = (daemon.kind(), daemon.addr());
        let (package, dpkg_version) = (&installed.package, &installed.version);
        assert_eq!(&addr, got_addr);
        let info = info
            .as_ref()
            .unwrap_or_else(|| panic!("{kind}: nothing detected; log:\n{}", daemon.log()));
        eprintln!(
            "{addr} {kind}: {info} [{package} {dpkg_version}] cpe {:?}",
            info.cpe.as_ref().map(ToString::to_string)
        );
        assert_eq!(info.product.as_deref(), Some(kind.product()), "{info:?}");
        assert_eq!(
            info.version.as_deref(),
            Some(debian_upstream(dpkg_version)),
            "{kind}: dpkg says {package} {dpkg_version}"
        );
        let cpe = info.cpe.as_ref().unwrap().to_string();
        assert!(cpe.starts_with("cpe:2.3:a:"), "{cpe}");
        if kind == Kind::OpenSsh {
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
