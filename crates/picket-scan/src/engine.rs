//! The scan loop: discovers hosts, hands out probes host by host, and collects the results.
//!
//! Hosts go through in groups, as Nmap's host groups: at most [`limits::DISCOVERING`] addresses
//! are being discovered and a bounded number are having their ports scanned at once (fewer the
//! more ports each has), so that memory stays bounded however many targets there are; each host's
//! per-port state is dropped as soon as its result is built. A host found up is scanned at once,
//! while others are still being discovered.
//!
//! Each host has its own timing ([`crate::host::PortScan`]): one host's IPS, loss or ban slows
//! that host only. What is global protects the scanner's own resources: `max_checks` probes in
//! flight (file descriptors, ephemeral ports, conntrack), a ceiling lowered for a while when the
//! kernel runs out of something, and the user's `--max-rate`.
//!
//! One task drives everything. Each probe is a spawned task (so that on a multi-threaded runtime
//! the socket work spreads over the cores) whose handle waits in a `FuturesUnordered`; the loop
//! launches what the pacers and the ceiling allow, then waits for the next completion or timer.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use picket_model::{HostReason, HostResult, HostState, HostStats, Interruption, ScanProfile};
use tokio::time::Instant;

use crate::discovery::{self, Discovery, Found};
use crate::host::{HostSettings, Next, Pending, PortScan, Verdict};
use crate::neighbours::{self, Neighbour};
use crate::probe::{LocalError, ProbeResult, probe};
use crate::timing::{Pacer, RateChange, RttEstimator};

/// A host to scan: its address and the name it was resolved from, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanHost {
    pub address: IpAddr,
    pub hostname: Option<String>,
}

/// What the engine reports while it works. The engine never prints; callers render these.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanEvent {
    Started {
        hosts: usize,
        ports: usize,
    },
    Progress {
        decided: u64,
        total: u64,
        rate: f64,
    },
    Rate {
        host: IpAddr,
        change: RateChange,
    },
    HostUp {
        host: IpAddr,
        reason: HostReason,
    },
    PortOpen {
        host: IpAddr,
        port: u16,
    },
    HostDown {
        host: IpAddr,
        reason: HostReason,
    },
    HostSilenced {
        host: IpAddr,
        interruption: Interruption,
    },
    HostResumed {
        host: IpAddr,
        paused: Duration,
    },
    HostAbandoned {
        host: IpAddr,
        unprobed: usize,
    },
}

/// The result of a scan: one entry per host, in the order given, and whether it was stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanOutcome {
    pub hosts: Vec<HostResult>,
    pub aborted: bool,
}

/// Timing constants of the engine, kept together so that their reasons are read together.
mod limits {
    use std::time::Duration;

    /// Nmap's `--min-rtt-timeout` default: below this, scheduling jitter looks like loss.
    pub const MIN_TIMEOUT: Duration = Duration::from_millis(100);
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(3);
    /// RFC 6298's initial retransmission timeout, before any round trip was measured.
    pub const INITIAL_TIMEOUT: Duration = Duration::from_secs(1);
    /// A discovery round waits at most this long (and at least the shorter one once round-trip
    /// times are known).
    pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(1);
    pub const MIN_DISCOVERY_TIMEOUT: Duration = Duration::from_millis(300);
    /// Addresses being discovered at once.
    pub const DISCOVERING: usize = 1024;
    /// Hosts whose ports are scanned at once: at most this many (host, port) slots of state...
    pub const PORT_SLOTS: usize = 1 << 22;
    /// ... and at most this many hosts.
    pub const SCANNING: usize = 512;
    /// The neighbour table is read at most this often.
    pub const NEIGHBOURS_EVERY: Duration = Duration::from_millis(20);
    pub const TICK: Duration = Duration::from_millis(20);
}

#[derive(Debug, Clone, Copy)]
enum Job {
    Discover {
        host: u32,
        probe: discovery::Probe,
    },
    Port {
        host: u32,
        p: Pending,
        sent_at: Instant,
    },
    Timing {
        host: u32,
        epoch: usize,
        sent: (Instant, u64),
    },
    Canary {
        host: u32,
        port: u32,
    },
}

impl Job {
    fn host(self) -> u32 {
        match self {
            Job::Discover { host, .. }
            | Job::Port { host, .. }
            | Job::Timing { host, .. }
            | Job::Canary { host, .. } => host,
        }
    }
}

/// Where one host is.
enum Slot {
    NotStarted,
    Discovering(Discovery),
    /// Found up, waiting for room among the hosts being scanned.
    Ready(HostReason),
    Scanning(Box<PortScan>),
    Done(HostResult),
}

/// What came back for a job: a connect probe's result, or an ICMP echo's.
enum Answer {
    Probe(Result<ProbeResult, LocalError>),
    /// Answered or not; `None`: the process may not send an echo.
    Echo(Option<bool>),
}

type ProbeFuture = Pin<Box<dyn Future<Output = (Job, Answer)> + Send>>;

/// Scans `hosts` on the profile's ports until every port is decided, a host is given up, or
/// `stop` completes (then the outcome is marked aborted).
pub async fn scan(
    hosts: Vec<ScanHost>,
    profile: &ScanProfile,
    events: &mut (dyn FnMut(ScanEvent) + Send),
    stop: impl Future<Output = ()>,
) -> ScanOutcome {
    let mut engine = Engine::new(hosts, profile);
    events(ScanEvent::Started {
        hosts: engine.targets.len(),
        ports: engine.ports.len(),
    });
    let aborted = engine.run(events, stop).await;
    ScanOutcome {
        hosts: engine.results(),
        aborted,
    }
}

struct Engine {
    ports: Vec<u16>,
    targets: Vec<ScanHost>,
    slots: Vec<Slot>,
    next_target: usize,
    discovering: usize,
    /// No host below this index is being discovered any more.
    discovery_floor: usize,
    /// Ports of hosts that are done, for the progress count.
    done_ports: u64,
    /// Discovery probes waiting to be sent.
    discovery_queue: VecDeque<(u32, discovery::Probe)>,
    ready: VecDeque<u32>,
    scanning: Vec<u32>,
    max_scanning: usize,
    round_robin: usize,
    in_flight: FuturesUnordered<ProbeFuture>,
    max_checks: usize,
    cap: usize,
    exhausted_at: Option<Instant>,
    global_pacer: Option<(Pacer, f64)>,
    global_rtt: RttEstimator,
    neighbours: Option<(Instant, HashMap<Ipv4Addr, Neighbour>)>,
    profile: ScanProfile,
    last_tick: Instant,
}

impl Engine {
    fn new(targets: Vec<ScanHost>, profile: &ScanProfile) -> Self {
        let ports = profile.ports.as_slice().to_vec();
        let now = Instant::now();
        let max_checks = profile.max_checks.clamp(1, crate::fdlimit::probe_ceiling());
        let max_scanning = (limits::PORT_SLOTS / ports.len().max(1)).clamp(1, limits::SCANNING);
        Self {
            slots: targets.iter().map(|_| Slot::NotStarted).collect(),
            ports,
            targets,
            next_target: 0,
            discovering: 0,
            discovery_floor: 0,
            done_ports: 0,
            discovery_queue: VecDeque::new(),
            ready: VecDeque::new(),
            scanning: Vec::new(),
            max_scanning,
            round_robin: 0,
            in_flight: FuturesUnordered::new(),
            max_checks,
            cap: max_checks,
            exhausted_at: None,
            global_pacer: profile.max_rate.map(|rate| (Pacer::new(now), rate)),
            global_rtt: RttEstimator::default(),
            neighbours: None,
            profile: profile.clone(),
            last_tick: now,
        }
    }

    fn timeout_for(&self, rtt: &RttEstimator) -> Duration {
        if let Some(t) = self.profile.read_timeout {
            return t;
        }
        let est = if rtt.srtt().is_some() {
            rtt
        } else {
            &self.global_rtt
        };
        est.timeout(
            limits::MIN_TIMEOUT,
            limits::MAX_TIMEOUT,
            limits::INITIAL_TIMEOUT,
        )
    }

    fn discovery_timeout(&self) -> Duration {
        match self.global_rtt.srtt() {
            Some(_) => (self.timeout_for(&self.global_rtt) * 3)
                .clamp(limits::MIN_DISCOVERY_TIMEOUT, limits::DISCOVERY_TIMEOUT),
            None => limits::DISCOVERY_TIMEOUT,
        }
    }

    /// The kernel's neighbour table, read at most every few milliseconds.
    fn neighbour(&mut self, address: IpAddr, now: Instant) -> Option<Neighbour> {
        let IpAddr::V4(v4) = address else {
            return None;
        };
        let fresh = self
            .neighbours
            .as_ref()
            .is_some_and(|(at, _)| now.duration_since(*at) < limits::NEIGHBOURS_EVERY);
        if !fresh {
            self.neighbours = Some((now, neighbours::read()));
        }
        self.neighbours.as_ref()?.1.get(&v4).copied()
    }

    fn host_settings(&self, index: u32) -> HostSettings {
        HostSettings {
            ports: self.ports.len(),
            seed: self.profile.seed ^ (u64::from(index) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            max_rate: self.profile.max_rate,
            fixed_retries: self.profile.retries,
            patience: self.profile.ban_patience,
        }
    }

    /// Starts discovering new targets and scanning hosts found up, as far as the groups allow.
    fn admit(&mut self, now: Instant) {
        if self.profile.assume_up {
            while self.scanning.len() + self.ready.len() < self.max_scanning
                && self.next_target < self.targets.len()
            {
                let i = self.next_target as u32;
                self.next_target += 1;
                self.slots[i as usize] = Slot::Ready(HostReason::UserSet);
                self.ready.push_back(i);
            }
        } else {
            while self.discovering < limits::DISCOVERING
                && self.ready.len() < self.max_scanning
                && self.next_target < self.targets.len()
            {
                let i = self.next_target as u32;
                self.next_target += 1;
                let mut d = Discovery::default();
                d.start_round();
                self.slots[i as usize] = Slot::Discovering(d);
                self.discovering += 1;
                self.discovery_queue
                    .extend(discovery::PROBES.iter().map(|&probe| (i, probe)));
            }
        }
        while self.scanning.len() < self.max_scanning
            && let Some(i) = self.ready.pop_front()
        {
            let Slot::Ready(reason) = self.slots[i as usize] else {
                continue;
            };
            let target = &self.targets[i as usize];
            let scan = PortScan::new(
                target.address,
                target.hostname.clone(),
                reason,
                self.host_settings(i),
                now,
            );
            self.slots[i as usize] = Slot::Scanning(Box::new(scan));
            self.scanning.push(i);
        }
    }

    fn launch(&mut self, job: Job, addr: SocketAddr, timeout: Duration) {
        // Each probe is its own task: on a multi-threaded runtime the socket calls of many
        // probes run on every core, while this loop only schedules and judges.
        let task = tokio::spawn(probe(addr, timeout));
        self.in_flight.push(Box::pin(async move {
            let result = task
                .await
                .unwrap_or_else(|e| Err(LocalError::Other(std::io::Error::other(e))));
            (job, Answer::Probe(result))
        }));
    }

    fn launch_echo(&mut self, host: u32, timeout: Duration) {
        let address = self.targets[host as usize].address;
        // The identifier tells this scan's echoes from others' (and from other hosts').
        let ident = (self.profile.seed as u16) ^ (host as u16);
        let task = tokio::spawn(crate::echo::echo(address, ident, timeout));
        let job = Job::Discover {
            host,
            probe: discovery::Probe::Echo,
        };
        self.in_flight.push(Box::pin(async move {
            (job, Answer::Echo(task.await.ok().flatten()))
        }));
    }

    async fn run(
        &mut self,
        events: &mut (dyn FnMut(ScanEvent) + Send),
        stop: impl Future<Output = ()>,
    ) -> bool {
        tokio::pin!(stop);
        loop {
            let now = Instant::now();
            self.wake_paused_hosts(now);
            self.finish_hosts();
            self.admit(now);
            self.fill(now);
            if self.in_flight.is_empty() && self.all_done() {
                self.tick(now, events);
                return false;
            }
            let wake = self.next_wake(now);
            tokio::select! {
                biased;
                () = &mut stop => return true,
                Some((job, answer)) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.complete(job, answer, events);
                    // Take every other completion that is ready before scheduling again.
                    for _ in 0..256 {
                        match self.in_flight.next().now_or_never() {
                            Some(Some((job, answer))) => self.complete(job, answer, events),
                            _ => break,
                        }
                    }
                }
                () = tokio::time::sleep_until(wake) => {}
            }
            let now = Instant::now();
            if now.duration_since(self.last_tick) >= limits::TICK {
                self.tick(now, events);
            }
        }
    }

    fn all_done(&self) -> bool {
        self.next_target >= self.targets.len()
            && self.discovering == 0
            && self.ready.is_empty()
            && self.scanning.is_empty()
    }

    fn next_wake(&self, now: Instant) -> Instant {
        let tick = self.last_tick + limits::TICK;
        let mut wake = tick;
        let mut send_at: Option<Instant> = None;
        for &i in &self.scanning {
            if let Slot::Scanning(h) = &self.slots[i as usize] {
                if let Some(at) = h.next_send() {
                    send_at = Some(send_at.map_or(at, |s| s.min(at)));
                }
                if let crate::host::Status::Paused { until, .. } = h.status {
                    wake = wake.min(until);
                }
            }
        }
        if !self.discovery_queue.is_empty() {
            send_at = Some(now);
        }
        if let Some(at) = send_at
            && self.in_flight.len() < self.cap
        {
            let at = match &self.global_pacer {
                Some((pacer, rate)) => at.max(pacer.next_token(*rate)),
                None => at,
            };
            wake = wake.min(at);
        }
        wake.max(now)
    }

    fn global_token(&mut self, now: Instant) -> bool {
        match &mut self.global_pacer {
            Some((pacer, rate)) => pacer.try_take(now, *rate),
            None => true,
        }
    }

    fn fill(&mut self, now: Instant) {
        if let Some(at) = self.exhausted_at
            && now.duration_since(at) > Duration::from_secs(1)
        {
            self.cap = self.max_checks;
            self.exhausted_at = None;
        }
        let discovery_timeout = self.discovery_timeout();
        while self.in_flight.len() < self.cap
            && let Some(&(host, probe)) = self.discovery_queue.front()
        {
            if !self.global_token(now) {
                return;
            }
            self.discovery_queue.pop_front();
            match probe {
                discovery::Probe::Tcp(port) => {
                    let addr = SocketAddr::new(self.targets[host as usize].address, port);
                    self.launch(Job::Discover { host, probe }, addr, discovery_timeout);
                }
                discovery::Probe::Echo => self.launch_echo(host, discovery_timeout),
            }
        }
        let mut idle = 0;
        while self.in_flight.len() < self.cap && !self.scanning.is_empty() {
            if idle >= self.scanning.len() {
                return;
            }
            if let Some((pacer, rate)) = &mut self.global_pacer
                && !pacer.ready(now, *rate)
            {
                return;
            }
            let index = self.scanning[self.round_robin % self.scanning.len()];
            self.round_robin = self.round_robin.wrapping_add(1);
            match self.next_job(index, now) {
                Some((job, addr, timeout)) => {
                    idle = 0;
                    self.global_token(now);
                    self.launch(job, addr, timeout);
                }
                None => idle += 1,
            }
        }
    }

    /// The next probe host `index` wants sent now, with its address and timeout.
    fn next_job(&mut self, index: u32, now: Instant) -> Option<(Job, SocketAddr, Duration)> {
        let Slot::Scanning(h) = &mut self.slots[index as usize] else {
            return None;
        };
        let sent_before = h.probes_sent();
        let next = h.next(now)?;
        h.in_flight += 1;
        let (job, port) = match next {
            Next::Port(p) => (
                Job::Port {
                    host: index,
                    p,
                    sent_at: now,
                },
                p.port,
            ),
            Next::Timing { port, epoch } => (
                Job::Timing {
                    host: index,
                    epoch,
                    sent: (now, sent_before),
                },
                port,
            ),
        };
        let addr = SocketAddr::new(h.address, self.ports[port as usize]);
        let rtt = h.rtt;
        Some((job, addr, self.timeout_for(&rtt)))
    }

    fn complete(&mut self, job: Job, answer: Answer, events: &mut (dyn FnMut(ScanEvent) + Send)) {
        let result = match answer {
            Answer::Probe(Ok(r)) => r,
            Answer::Probe(Err(e)) => {
                self.local_failure(job, e, events);
                return;
            }
            Answer::Echo(answered) => {
                self.echoed(job.host(), answered, events);
                return;
            }
        };
        if let Some(rtt) = result.rtt
            && matches!(
                result.reason,
                picket_model::Reason::SynAck | picket_model::Reason::Reset
            )
        {
            self.global_rtt.observe(rtt);
        }
        let index = job.host();
        let now = Instant::now();
        if let Job::Discover { .. } = job {
            self.discovered(index, Some(&result), now, events);
            return;
        }
        let canary_port = match job {
            Job::Canary { port, .. } => self.ports[port as usize],
            _ => 0,
        };
        self.returned(index, events, |h| match job {
            Job::Port { p, sent_at, .. } => h.on_port(p, result, sent_at),
            Job::Timing { epoch, sent, .. } => h.on_timing(epoch, sent, &result),
            Job::Canary { .. } => h.on_canary(canary_port, &result, now),
            Job::Discover { .. } => Verdict::Nothing,
        });
    }

    /// A probe of host `index` came back: the host judges it, the engine acts on the verdict.
    fn returned(
        &mut self,
        index: u32,
        events: &mut (dyn FnMut(ScanEvent) + Send),
        judge: impl FnOnce(&mut PortScan) -> Verdict,
    ) {
        let Slot::Scanning(h) = &mut self.slots[index as usize] else {
            return;
        };
        h.in_flight -= 1;
        let address = h.address;
        let verdict = judge(h);
        self.act(index, address, verdict, events);
    }

    fn act(
        &mut self,
        index: u32,
        host: IpAddr,
        verdict: Verdict,
        events: &mut (dyn FnMut(ScanEvent) + Send),
    ) {
        match verdict {
            Verdict::Nothing => {}
            Verdict::Open(port) => events(ScanEvent::PortOpen {
                host,
                port: self.ports[port as usize],
            }),
            Verdict::Canary => self.launch_canary(index),
            Verdict::Rate(change) => {
                tracing::debug!(%host, ?change, "rate");
                events(ScanEvent::Rate { host, change });
            }
            Verdict::Silenced(interruption) => {
                tracing::debug!(%host, ?interruption, "host went silent");
                events(ScanEvent::HostSilenced { host, interruption });
            }
            Verdict::Resumed(paused) => events(ScanEvent::HostResumed { host, paused }),
            Verdict::Down(reason) => events(ScanEvent::HostDown { host, reason }),
            Verdict::Abandoned(unprobed) => events(ScanEvent::HostAbandoned { host, unprobed }),
        }
    }

    fn discovered(
        &mut self,
        index: u32,
        result: Option<&ProbeResult>,
        now: Instant,
        events: &mut (dyn FnMut(ScanEvent) + Send),
    ) {
        let address = self.targets[index as usize].address;
        let neighbour = self.neighbour(address, now);
        let Slot::Discovering(d) = &mut self.slots[index as usize] else {
            return;
        };
        let found = d.on_probe(address, result, || neighbour);
        self.found(index, found, events);
    }

    /// Acts on what discovery now knows about host `index`.
    fn found(&mut self, index: u32, found: Found, events: &mut (dyn FnMut(ScanEvent) + Send)) {
        let address = self.targets[index as usize].address;
        match found {
            Found::Pending => {}
            Found::NextRound => {
                if let Slot::Discovering(d) = &mut self.slots[index as usize] {
                    d.start_round();
                }
                self.discovery_queue
                    .extend(discovery::PROBES.iter().map(|&probe| (index, probe)));
            }
            Found::Up(reason) => self.host_up(index, reason, events),
            Found::Down(reason) => {
                self.discovering -= 1;
                self.slots[index as usize] = Slot::Done(self.down_result(index, reason));
                self.done_ports += self.ports.len() as u64;
                events(ScanEvent::HostDown {
                    host: address,
                    reason,
                });
            }
        }
    }

    fn echoed(
        &mut self,
        index: u32,
        answered: Option<bool>,
        events: &mut (dyn FnMut(ScanEvent) + Send),
    ) {
        let address = self.targets[index as usize].address;
        let neighbour = self.neighbour(address, Instant::now());
        let Slot::Discovering(d) = &mut self.slots[index as usize] else {
            return;
        };
        let found = d.on_echo(answered, || neighbour);
        self.found(index, found, events);
    }

    fn host_up(
        &mut self,
        index: u32,
        reason: HostReason,
        events: &mut (dyn FnMut(ScanEvent) + Send),
    ) {
        self.discovering -= 1;
        self.slots[index as usize] = Slot::Ready(reason);
        self.ready.push_back(index);
        // Its remaining discovery probes are not needed.
        self.discovery_queue.retain(|(host, _)| *host != index);
        events(ScanEvent::HostUp {
            host: self.targets[index as usize].address,
            reason,
        });
    }

    fn down_result(&self, index: u32, reason: HostReason) -> HostResult {
        let target = &self.targets[index as usize];
        HostResult {
            address: target.address,
            hostname: target.hostname.clone(),
            state: HostState::Down,
            reason,
            ports: Vec::new(),
            extra_ports: Vec::new(),
            unprobed: Vec::new(),
            interruptions: Vec::new(),
            stats: HostStats {
                probes_sent: 0,
                answers: 0,
                srtt: None,
                loss: 0.0,
                retries: 0,
                read_timeout: self.discovery_timeout(),
            },
        }
    }

    fn local_failure(
        &mut self,
        job: Job,
        err: LocalError,
        events: &mut (dyn FnMut(ScanEvent) + Send),
    ) {
        // Whether the probe must simply be sent again: our machine failed, not the network.
        let again = match err {
            LocalError::Exhausted(e) => {
                // Our machine ran out of something (descriptors, ports, buffers): fewer at once.
                tracing::debug!(error = %e, in_flight = self.in_flight.len(), "local resources exhausted");
                self.cap = (self.in_flight.len() * 3 / 4).max(8);
                self.exhausted_at = Some(Instant::now());
                true
            }
            LocalError::SelfConnect => true,
            LocalError::Other(e) => {
                // Unexpected, and maybe permanent for this address: counted as an unanswered
                // attempt, so that it cannot loop.
                tracing::warn!(error = %e, "probe failed locally");
                false
            }
        };
        let index = job.host();
        if let Job::Discover { probe, .. } = job {
            if again {
                self.discovery_queue.push_back((index, probe));
            } else {
                self.discovered(index, None, Instant::now(), events);
            }
            return;
        }
        self.returned(index, events, |h| match job {
            Job::Port { p, .. } if again => {
                h.send_again(p);
                Verdict::Nothing
            }
            Job::Port { p, sent_at, .. } => h.on_port(p, ProbeResult::no_response(), sent_at),
            Job::Timing { epoch, .. } => {
                h.timing_abandoned(epoch);
                Verdict::Nothing
            }
            Job::Canary { .. } => {
                h.canary_failed_locally();
                Verdict::Canary
            }
            Job::Discover { .. } => Verdict::Nothing,
        });
    }

    fn launch_canary(&mut self, index: u32) {
        let Slot::Scanning(h) = &mut self.slots[index as usize] else {
            return;
        };
        let Some(port) = h.canary() else {
            return;
        };
        h.in_flight += 1;
        h.count_sent();
        let addr = SocketAddr::new(h.address, self.ports[port as usize]);
        let rtt = h.rtt;
        let timeout = (self.timeout_for(&rtt) * 2).max(Duration::from_millis(500));
        self.launch(Job::Canary { host: index, port }, addr, timeout);
    }

    fn wake_paused_hosts(&mut self, now: Instant) {
        for k in 0..self.scanning.len() {
            let index = self.scanning[k];
            if let Slot::Scanning(h) = &mut self.slots[index as usize]
                && h.wake(now)
            {
                self.launch_canary(index);
            }
        }
    }

    /// Builds the result of every host that is done and frees its per-port state.
    fn finish_hosts(&mut self) {
        let mut k = 0;
        while k < self.scanning.len() {
            let index = self.scanning[k];
            let done = match &mut self.slots[index as usize] {
                Slot::Scanning(h) => h.finish(),
                _ => true,
            };
            if !done {
                k += 1;
                continue;
            }
            self.scanning.swap_remove(k);
            if let Slot::Scanning(h) = &self.slots[index as usize] {
                let rtt = h.rtt;
                let result = h.result(&self.ports, self.timeout_for(&rtt));
                self.slots[index as usize] = Slot::Done(result);
                self.done_ports += self.ports.len() as u64;
            }
        }
    }

    fn tick(&mut self, now: Instant, events: &mut (dyn FnMut(ScanEvent) + Send)) {
        let elapsed = now.duration_since(self.last_tick);
        self.last_tick = now;
        let mut rate = 0.0;
        for k in 0..self.scanning.len() {
            let index = self.scanning[k];
            if let Slot::Scanning(h) = &mut self.slots[index as usize] {
                if let Some(change) = h.tick(now, elapsed) {
                    tracing::debug!(host = %h.address, ?change, "rate");
                    events(ScanEvent::Rate {
                        host: h.address,
                        change,
                    });
                }
                rate += h.controller.rate();
            }
        }
        self.discover_by_neighbours(now, events);
        let decided = self.done_ports
            + self
                .scanning
                .iter()
                .filter_map(|&i| match &self.slots[i as usize] {
                    Slot::Scanning(h) => Some(h.decided() as u64),
                    _ => None,
                })
                .sum::<u64>();
        events(ScanEvent::Progress {
            decided,
            total: self.ports.len() as u64 * self.targets.len() as u64,
            rate,
        });
    }

    /// Hosts being discovered whose ARP request was answered are up without waiting for their
    /// probes: a default-drop host never answers those.
    fn discover_by_neighbours(&mut self, now: Instant, events: &mut (dyn FnMut(ScanEvent) + Send)) {
        if self.discovering == 0 {
            return;
        }
        while self.discovery_floor < self.next_target
            && !matches!(self.slots[self.discovery_floor], Slot::Discovering(_))
        {
            self.discovery_floor += 1;
        }
        let candidates: Vec<u32> = (self.discovery_floor..self.next_target)
            .filter(|&i| matches!(self.slots[i], Slot::Discovering(_)))
            .map(|i| i as u32)
            .collect();
        for index in candidates {
            let address = self.targets[index as usize].address;
            if self.neighbour(address, now) == Some(Neighbour::Answered) {
                self.host_up(index, HostReason::ArpResponse, events);
            }
        }
    }

    fn results(&self) -> Vec<HostResult> {
        self.slots
            .iter()
            .enumerate()
            .map(|(i, slot)| match slot {
                Slot::Done(result) => result.clone(),
                Slot::Scanning(h) => h.result(&self.ports, self.timeout_for(&h.rtt)),
                // Stopped before it was scanned: nothing is known.
                Slot::NotStarted | Slot::Discovering(_) | Slot::Ready(_) => {
                    self.down_result(i as u32, HostReason::NoResponse)
                }
            })
            .collect()
    }
}
