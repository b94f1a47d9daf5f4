//! Host names from reverse DNS after a scan (`picket scan -R`): the hosts found up are looked up
//! through `picket_scan::reverse_names` and each name found is set on its host.
//!
//! It must never fail or hold up a run beyond the lookups' own timeouts: a host without an
//! answer keeps no name, and a [`Shutdown`] stops the lookups with the names found so far left
//! out. It must never look up a host that is down or was not scanned.

use picket_model::{HostResult, HostState};
use picket_scan::ReverseSettings;
use tokio::runtime::Handle;

use crate::shutdown::Shutdown;

/// Sets `reverse_name` on each host of `hosts` that is up and whose address has a name.
pub(crate) fn add_reverse_names(rt: &Handle, hosts: &mut [HostResult], shutdown: &Shutdown) {
    let up: Vec<&mut HostResult> = hosts
        .iter_mut()
        .filter(|h| h.state == HostState::Up)
        .collect();
    let addresses: Vec<_> = up.iter().map(|h| h.address).collect();
    let names = rt.block_on(async {
        tokio::select! {
            names = picket_scan::reverse_names(&addresses, ReverseSettings::default()) => names,
            () = shutdown.wait() => Vec::new(),
        }
    });
    for (host, name) in up.into_iter().zip(names) {
        host.reverse_name = name;
    }
}
