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
//! One task drives everything: the loop launches what the pacers and the ceiling allow, hands
//! the connect probes to the I/O threads of [`crate::prober`] (which spread the socket work over
//! the cores and give outcomes back in batches), then waits for the next batch, echo or timer.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use picket_model::{HostReason, HostResult, HostState, HostStats, Interruption, ScanProfile};
use tokio::time::Instant;

use crate::discovery::{self, Discovery, Found};
use crate::host::{HostSettings, Next, Pending, PortScan, Verdict};
use crate::neighbours::{self, Neighbour};
use crate::probe::{LocalError, ProbeResult};
use crate::prober::Prober;
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
        /// Port probes sent so far (retries and canaries included), and those answered.
        sent: u64,
        answered: u64,
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

/// Where one host that is being worked on is; a host that is done leaves the engine.
enum Slot {
    Discovering(Discovery),
    /// Found up, waiting for room among the hosts being scanned.
    Ready(HostReason),
    Scanning(Box<PortScan>),
}

/// A host taken from the targets and not yet done.
struct Active {
    target: ScanHost,
    slot: Slot,
    /// When it was taken: a neighbour answer older than that says nothing about it now.
    taken: Instant,
}

/// What came back for a job: a connect probe's result, or an ICMP echo's.
enum Answer {
    Probe(Result<ProbeResult, LocalError>),
    /// Answered or not; `None`: the process may not send an echo.
    Echo(Option<bool>),
}

type EchoFuture = Pin<Box<dyn Future<Output = (Job, Option<bool>)> + Send>>;

/// I/O threads for the connect probes: one per core, at most four (beyond that the engine's one
/// task is the limit).
fn probe_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Scans `hosts` on the profile's ports until every port is decided, a host is given up, or
/// `stop` completes (then the outcome is marked aborted). Every host given has a result, in
/// the order given: one stopped before it was scanned is down with reason no-response.
///
/// This holds every result until the end; [`scan_each`] hands each one over as it is done.
pub async fn scan(
    hosts: Vec<ScanHost>,
    profile: &ScanProfile,
    events: &mut (dyn FnMut(ScanEvent) + Send),
    stop: impl Future<Output = ()>,
) -> ScanOutcome {
    let order: HashMap<IpAddr, usize> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.address, i))
        .collect();
    let mut results: Vec<Option<HostResult>> = vec![None; hosts.len()];
    let total = hosts.len() as u64;
    let summary = scan_each(
        hosts.clone().into_iter(),
        total,
        profile,
        events,
        &mut |result| {
            if let Some(&i) = order.get(&result.address) {
                results[i] = Some(result);
            }
        },
        stop,
    )
    .await;
    let read_timeout = limits::DISCOVERY_TIMEOUT;
    let hosts = results
        .into_iter()
        .zip(hosts)
        .map(|(result, target)| {
            result.unwrap_or_else(|| down_result(target, HostReason::NoResponse, read_timeout))
        })
        .collect();
    ScanOutcome {
        hosts,
        aborted: summary.aborted,
    }
}

/// What [`scan_each`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanSummary {
    /// Results handed over.
    pub hosts: u64,
    /// Stopped before every target was done: hosts being worked on were handed over with what
    /// was decided; targets not yet started were not.
    pub aborted: bool,
}

/// Scans the `total` hosts that `targets` yields (taken from it only as room opens, so that a
/// /8 is never in memory at once), handing each host's result to `on_host` as soon as the host
/// is done, in the order hosts finish; memory is bounded by the host groups, not by the
/// number of targets. Stops when every host is done or `stop` completes.
pub async fn scan_each(
    targets: impl Iterator<Item = ScanHost> + Send + 'static,
    total: u64,
    profile: &ScanProfile,
    events: &mut (dyn FnMut(ScanEvent) + Send),
    on_host: &mut (dyn FnMut(HostResult) + Send),
    stop: impl Future<Output = ()>,
) -> ScanSummary {
    let mut engine = Engine::new(Box::new(targets), total, profile);
    events(ScanEvent::Started {
        hosts: usize::try_from(total).unwrap_or(usize::MAX),
        ports: engine.ports.len(),
    });
    let aborted = engine.run(events, on_host, stop).await;
    if aborted {
        engine.stop_all();
        engine.hand_over(on_host);
    }
    ScanSummary {
        hosts: engine.handed_over,
        aborted,
    }
}

struct Engine {
    ports: Vec<u16>,
    /// Targets not yet taken.
    targets: Box<dyn Iterator<Item = ScanHost> + Send>,
    total: u64,
    /// Hosts being worked on, by the index they were taken at.
    hosts: HashMap<u32, Active>,
    next_index: u32,
    targets_left: bool,
    /// Results of hosts that are done, not yet handed over.
    finished: Vec<HostResult>,
    handed_over: u64,
    discovering: usize,
    /// Ports of hosts that are done, for the progress count.
    done_ports: u64,
    /// Probes sent to, and answers from, the hosts already done.
    done_sent: u64,
    done_answers: u64,
    /// Discovery probes waiting to be sent.
    discovery_queue: VecDeque<(u32, discovery::Probe)>,
    ready: VecDeque<u32>,
    scanning: Vec<u32>,
    max_scanning: usize,
    round_robin: usize,
    /// Connect probes out, on the I/O threads.
    probes: Prober<Job>,
    /// ICMP echoes out (discovery).
    echoes: FuturesUnordered<EchoFuture>,
    max_checks: usize,
    cap: usize,
    exhausted_at: Option<Instant>,
    global_pacer: Option<(Pacer, f64)>,
    global_rtt: RttEstimator,
    neighbours: Option<(Instant, HashMap<Ipv4Addr, neighbours::Entry>)>,
    profile: ScanProfile,
    last_tick: Instant,
}

impl Engine {
    fn new(
        targets: Box<dyn Iterator<Item = ScanHost> + Send>,
        total: u64,
        profile: &ScanProfile,
    ) -> Self {
        let ports = profile.ports.as_slice().to_vec();
        let now = Instant::now();
        let max_checks = profile.max_checks.clamp(1, crate::fdlimit::probe_ceiling());
        let max_scanning = (limits::PORT_SLOTS / ports.len().max(1)).clamp(1, limits::SCANNING);
        Self {
            ports,
            targets,
            total,
            hosts: HashMap::new(),
            next_index: 0,
            targets_left: true,
            finished: Vec::new(),
            handed_over: 0,
            discovering: 0,
            done_ports: 0,
            done_sent: 0,
            done_answers: 0,
            discovery_queue: VecDeque::new(),
            ready: VecDeque::new(),
            scanning: Vec::new(),
            max_scanning,
            round_robin: 0,
            probes: Prober::new(probe_threads()),
            echoes: FuturesUnordered::new(),
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

    /// What the kernel's neighbour table (read at most every few milliseconds) says about host
    /// `index` since its discovery began.
    fn neighbour(&mut self, index: u32, now: Instant) -> Option<Neighbour> {
        let active = self.hosts.get(&index)?;
        let (address, since) = (active.target.address, active.taken);
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
        Some(self.neighbours.as_ref()?.1.get(&v4)?.since(since))
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

    /// Takes the next target, if any is left, in the given state; returns its index.
    fn take_target(&mut self, slot: impl FnOnce() -> Slot) -> Option<u32> {
        if !self.targets_left {
            return None;
        }
        let Some(target) = self.targets.next() else {
            self.targets_left = false;
            return None;
        };
        let index = self.next_index;
        self.next_index = self.next_index.wrapping_add(1);
        self.hosts.insert(
            index,
            Active {
                target,
                slot: slot(),
                taken: Instant::now(),
            },
        );
        Some(index)
    }

    fn address(&self, index: u32) -> Option<IpAddr> {
        self.hosts.get(&index).map(|a| a.target.address)
    }

    fn slot_mut(&mut self, index: u32) -> Option<&mut Slot> {
        self.hosts.get_mut(&index).map(|a| &mut a.slot)
    }

    fn scanning_host(&mut self, index: u32) -> Option<&mut PortScan> {
        match self.slot_mut(index)? {
            Slot::Scanning(h) => Some(h),
            Slot::Discovering(_) | Slot::Ready(_) => None,
        }
    }

    /// Host `index` is done: its result waits to be handed over and its state is dropped.
    fn done(&mut self, index: u32, result: HostResult) {
        self.hosts.remove(&index);
        self.done_ports += self.ports.len() as u64;
        self.done_sent += result.stats.probes_sent;
        self.done_answers += result.stats.answers;
        self.finished.push(result);
    }

    fn hand_over(&mut self, on_host: &mut (dyn FnMut(HostResult) + Send)) {
        for result in self.finished.drain(..) {
            self.handed_over += 1;
            on_host(result);
        }
    }

    /// Starts discovering new targets and scanning hosts found up, as far as the groups allow.
    fn admit(&mut self, now: Instant) {
        if self.profile.assume_up {
            while self.scanning.len() + self.ready.len() < self.max_scanning
                && let Some(i) = self.take_target(|| Slot::Ready(HostReason::UserSet))
            {
                self.ready.push_back(i);
            }
        } else {
            while self.discovering < limits::DISCOVERING
                && self.ready.len() < self.max_scanning
                && let Some(i) = self.take_target(|| {
                    let mut d = Discovery::default();
                    d.start_round();
                    Slot::Discovering(d)
                })
            {
                self.discovering += 1;
                self.discovery_queue
                    .extend(discovery::PROBES.iter().map(|&probe| (i, probe)));
            }
        }
        while self.scanning.len() < self.max_scanning
            && let Some(i) = self.ready.pop_front()
        {
            let settings = self.host_settings(i);
            let Some(active) = self.hosts.get_mut(&i) else {
                continue;
            };
            let Slot::Ready(reason) = active.slot else {
                continue;
            };
            let scan = PortScan::new(
                active.target.address,
                active.target.hostname.clone(),
                reason,
                settings,
                now,
            );
            active.slot = Slot::Scanning(Box::new(scan));
            self.scanning.push(i);
        }
    }

    fn launch(&mut self, job: Job, addr: SocketAddr, timeout: Duration) {
        self.probes.send(job, addr, timeout);
    }

    fn launch_echo(&mut self, host: u32, timeout: Duration) {
        let Some(address) = self.address(host) else {
            return;
        };
        // The identifier tells this scan's echoes from others' (and from other hosts').
        let ident = (self.profile.seed as u16) ^ (host as u16);
        let task = tokio::spawn(crate::echo::echo(address, ident, timeout));
        let job = Job::Discover {
            host,
            probe: discovery::Probe::Echo,
        };
        self.echoes
            .push(Box::pin(async move { (job, task.await.ok().flatten()) }));
    }

    async fn run(
        &mut self,
        events: &mut (dyn FnMut(ScanEvent) + Send),
        on_host: &mut (dyn FnMut(HostResult) + Send),
        stop: impl Future<Output = ()>,
    ) -> bool {
        tokio::pin!(stop);
        loop {
            let now = Instant::now();
            self.wake_paused_hosts(now);
            self.finish_hosts();
            self.hand_over(on_host);
            self.admit(now);
            self.fill(now);
            self.probes.flush();
            if self.in_flight() == 0 && self.all_done() {
                self.tick(now, events);
                return false;
            }
            let wake = self.next_wake(now);
            tokio::select! {
                biased;
                () = &mut stop => return true,
                // Echoes first: they are few, and a steady flow of probe batches must not
                // starve them.
                Some((job, answered)) = self.echoes.next(), if !self.echoes.is_empty() => {
                    self.complete(job, Answer::Echo(answered), events);
                }
                Some(batch) = self.probes.recv(), if self.probes.outstanding() > 0 => {
                    self.settled(batch, events);
                    // Take every other batch that is ready before scheduling again.
                    for _ in 0..16 {
                        match self.probes.try_recv() {
                            Some(batch) => self.settled(batch, events),
                            None => break,
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

    /// Probes and echoes out.
    fn in_flight(&self) -> usize {
        self.probes.outstanding() + self.echoes.len()
    }

    fn settled(
        &mut self,
        batch: Vec<crate::prober::Done<Job>>,
        events: &mut (dyn FnMut(ScanEvent) + Send),
    ) {
        for done in batch {
            self.complete(done.tag, Answer::Probe(done.result), events);
        }
    }

    fn all_done(&self) -> bool {
        !self.targets_left
            && self.discovering == 0
            && self.ready.is_empty()
            && self.scanning.is_empty()
    }

    fn next_wake(&self, now: Instant) -> Instant {
        let tick = self.last_tick + limits::TICK;
        let mut wake = tick;
        let mut send_at: Option<Instant> = None;
        for &i in &self.scanning {
            if let Some(Active {
                slot: Slot::Scanning(h),
                ..
            }) = self.hosts.get(&i)
            {
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
            && self.in_flight() < self.cap
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
        while self.in_flight() < self.cap
            && let Some(&(host, probe)) = self.discovery_queue.front()
        {
            if !self.global_token(now) {
                return;
            }
            self.discovery_queue.pop_front();
            match probe {
                discovery::Probe::Tcp(port) => {
                    let Some(address) = self.address(host) else {
                        continue;
                    };
                    let addr = SocketAddr::new(address, port);
                    self.launch(Job::Discover { host, probe }, addr, discovery_timeout);
                }
                discovery::Probe::Echo => self.launch_echo(host, discovery_timeout),
            }
        }
        let mut idle = 0;
        while self.in_flight() < self.cap && !self.scanning.is_empty() {
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
        let h = self.scanning_host(index)?;
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
        let address = h.address;
        let rtt = h.rtt;
        let addr = SocketAddr::new(address, self.ports[port as usize]);
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
        let Some(h) = self.scanning_host(index) else {
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
        let Some(address) = self.address(index) else {
            return;
        };
        let neighbour = self.neighbour(index, now);
        let Some(Slot::Discovering(d)) = self.slot_mut(index) else {
            return;
        };
        let found = d.on_probe(address, result, || neighbour);
        self.found(index, found, events);
    }

    /// Acts on what discovery now knows about host `index`.
    fn found(&mut self, index: u32, found: Found, events: &mut (dyn FnMut(ScanEvent) + Send)) {
        match found {
            Found::Pending => {}
            Found::NextRound => {
                if let Some(Slot::Discovering(d)) = self.slot_mut(index) {
                    d.start_round();
                }
                self.discovery_queue
                    .extend(discovery::PROBES.iter().map(|&probe| (index, probe)));
            }
            Found::Up(reason) => self.host_up(index, reason, events),
            Found::Down(reason) => {
                let Some(active) = self.hosts.get(&index) else {
                    return;
                };
                let result = down_result(active.target.clone(), reason, self.discovery_timeout());
                self.discovering -= 1;
                self.discovery_queue.retain(|(host, _)| *host != index);
                events(ScanEvent::HostDown {
                    host: result.address,
                    reason,
                });
                self.done(index, result);
            }
        }
    }

    fn echoed(
        &mut self,
        index: u32,
        answered: Option<bool>,
        events: &mut (dyn FnMut(ScanEvent) + Send),
    ) {
        let neighbour = self.neighbour(index, Instant::now());
        let Some(Slot::Discovering(d)) = self.slot_mut(index) else {
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
        let Some(active) = self.hosts.get_mut(&index) else {
            return;
        };
        active.slot = Slot::Ready(reason);
        let host = active.target.address;
        self.discovering -= 1;
        self.ready.push_back(index);
        // Its remaining discovery probes are not needed.
        self.discovery_queue.retain(|(host, _)| *host != index);
        events(ScanEvent::HostUp { host, reason });
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
                tracing::debug!(error = %e, in_flight = self.in_flight(), "local resources exhausted");
                self.cap = (self.in_flight() * 3 / 4).max(8);
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
        let Some(h) = self.scanning_host(index) else {
            return;
        };
        let Some(port) = h.canary() else {
            return;
        };
        h.in_flight += 1;
        h.count_sent();
        let (address, rtt) = (h.address, h.rtt);
        let addr = SocketAddr::new(address, self.ports[port as usize]);
        let timeout = (self.timeout_for(&rtt) * 2).max(Duration::from_millis(500));
        self.launch(Job::Canary { host: index, port }, addr, timeout);
    }

    fn wake_paused_hosts(&mut self, now: Instant) {
        for k in 0..self.scanning.len() {
            let index = self.scanning[k];
            if let Some(h) = self.scanning_host(index)
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
            let done = self.scanning_host(index).is_none_or(|h| h.finish());
            if !done {
                k += 1;
                continue;
            }
            self.scanning.swap_remove(k);
            if let Some(Active {
                slot: Slot::Scanning(h),
                ..
            }) = self.hosts.get(&index)
            {
                let result = h.result(&self.ports, self.timeout_for(&h.rtt));
                self.done(index, result);
            }
        }
    }

    fn tick(&mut self, now: Instant, events: &mut (dyn FnMut(ScanEvent) + Send)) {
        let elapsed = now.duration_since(self.last_tick);
        self.last_tick = now;
        let mut rate = 0.0;
        for k in 0..self.scanning.len() {
            let index = self.scanning[k];
            if let Some(h) = self.scanning_host(index) {
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
        let (mut decided, mut sent, mut answered) =
            (self.done_ports, self.done_sent, self.done_answers);
        for i in &self.scanning {
            if let Some(Active {
                slot: Slot::Scanning(h),
                ..
            }) = self.hosts.get(i)
            {
                decided += h.decided() as u64;
                sent += h.probes_sent();
                answered += h.answers();
            }
        }
        events(ScanEvent::Progress {
            decided,
            total: self.ports.len() as u64 * self.total,
            rate,
            sent,
            answered,
        });
    }

    /// Hosts being discovered whose ARP request was answered are up without waiting for their
    /// probes: a default-drop host never answers those.
    fn discover_by_neighbours(&mut self, now: Instant, events: &mut (dyn FnMut(ScanEvent) + Send)) {
        if self.discovering == 0 {
            return;
        }
        let mut candidates: Vec<u32> = self
            .hosts
            .iter()
            .filter(|(_, a)| matches!(a.slot, Slot::Discovering(_)))
            .map(|(&i, _)| i)
            .collect();
        candidates.sort_unstable();
        for index in candidates {
            if self.neighbour(index, now) == Some(Neighbour::Answered) {
                self.host_up(index, HostReason::ArpResponse, events);
            }
        }
    }

    /// Stopped: every host being worked on is done with what was decided; one not yet scanned
    /// is down with reason no-response (nothing is known of it).
    fn stop_all(&mut self) {
        let mut indexes: Vec<u32> = self.hosts.keys().copied().collect();
        indexes.sort_unstable();
        let read_timeout = self.discovery_timeout();
        for index in indexes {
            let Some(active) = self.hosts.remove(&index) else {
                continue;
            };
            let result = match active.slot {
                Slot::Scanning(h) => h.result(&self.ports, self.timeout_for(&h.rtt)),
                Slot::Discovering(_) | Slot::Ready(_) => {
                    down_result(active.target, HostReason::NoResponse, read_timeout)
                }
            };
            self.finished.push(result);
        }
    }
}

/// The result of a host found down (or never scanned): no ports, with why.
fn down_result(target: ScanHost, reason: HostReason, read_timeout: Duration) -> HostResult {
    HostResult {
        address: target.address,
        hostname: target.hostname,
        reverse_name: None,
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
            read_timeout,
        },
    }
}
