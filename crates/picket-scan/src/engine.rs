//! The scan loop: hands out probes in random order, paces them, retries the silent ones, and
//! watches every host for the moment it stops answering.
//!
//! One task drives everything. Each probe is a spawned task (so that on a multi-threaded runtime
//! the socket work spreads over the cores) whose handle waits in a `FuturesUnordered`; the loop
//! launches as many as the pacer (rate) and `max_checks` (concurrency) allow, then waits for
//! the next completion, token or timer. Decisions that need a whole-scan view (the rate, a host going
//! silent, a host being down) are made here, in one place.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use picket_model::{
    HostReason, HostResult, HostState, HostStats, Interruption, Observation, Reason, ScanProfile,
};
use tokio::time::Instant;

use crate::permute::Permutation;
use crate::probe::{LocalError, ProbeResult, probe};
use crate::timing::{Pacer, RateChange, RateController, RttEstimator};

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
    Rate(RateChange),
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
    /// Retries bounds when they are chosen from the measured loss.
    pub const MIN_RETRIES: u8 = 2;
    pub const MAX_RETRIES: u8 = 10;
    /// Chance of missing an open port that the adaptive retry count aims below.
    pub const MISS_PROBABILITY: f64 = 1e-6;
    /// Ports decided silent, with no answer at all, before a host is called down.
    pub const DOWN_AFTER_SILENT_PORTS: u64 = 1000;
    /// Fewest consecutive unanswered attempts that can mean "went silent".
    pub const MIN_SILENT_STREAK: u64 = 48;
    /// Canary probes before a host is declared silent, and the pauses before asking again.
    pub const CANARY_TRIES: u8 = 4;
    pub const PAUSES: [Duration; 5] = [
        Duration::from_secs(1),
        Duration::from_secs(2),
        Duration::from_secs(4),
        Duration::from_secs(8),
        Duration::from_secs(15),
    ];
    /// Ports of the same state and reason summarised into one line above this count.
    pub const SUMMARISE_ABOVE: usize = 25;
    pub const TICK: Duration = Duration::from_millis(50);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    host: u32,
    port: u32,
    attempt: u8,
}

#[derive(Debug, Clone, Copy)]
enum Job {
    Port { p: Pending, epoch: Option<usize> },
    Canary { host: u32, port: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Status {
    Active,
    /// A canary is out to tell "went silent" from "a run of filtered ports".
    Checking {
        tries: u8,
    },
    /// Silence confirmed; waiting before the next canary.
    Paused {
        until: Instant,
        step: usize,
        since: Instant,
    },
    /// A canary is out after a pause.
    Probing {
        step: usize,
        since: Instant,
    },
    Down(HostReason),
    /// Silent past every pause: its undecided ports stay unprobed.
    Abandoned,
}

/// Everything the engine tracks about one host.
struct Host {
    address: IpAddr,
    hostname: Option<String>,
    /// Per port index: the deciding reason, once decided.
    reasons: Vec<Option<Reason>>,
    attempts: Vec<u8>,
    rtts: HashMap<u32, Duration>,
    icmp_from: HashMap<u32, IpAddr>,
    rtt: RttEstimator,
    status: Status,
    probes_sent: u64,
    /// Attempts completed and answered by the host itself (not by our own stack).
    completed: u64,
    answered: u64,
    /// For the loss estimate: attempts spent on ports that did answer, and how many of those
    /// attempts went unanswered first.
    attempts_on_answered: u64,
    lost_on_answered: u64,
    silent_streak: u64,
    /// Ports decided silent since the last answer.
    streak_ports: Vec<u32>,
    silent_ports: u64,
    local_unreach: u32,
    /// Recently answered ports, the canaries to ask when the host seems to go silent.
    canaries: VecDeque<u32>,
    deferred: Vec<Pending>,
    in_flight: u32,
    interruptions: Vec<Interruption>,
}

impl Host {
    fn new(h: ScanHost, ports: usize) -> Self {
        Self {
            address: h.address,
            hostname: h.hostname,
            reasons: vec![None; ports],
            attempts: vec![0; ports],
            rtts: HashMap::new(),
            icmp_from: HashMap::new(),
            rtt: RttEstimator::default(),
            status: Status::Active,
            probes_sent: 0,
            completed: 0,
            answered: 0,
            attempts_on_answered: 0,
            lost_on_answered: 0,
            silent_streak: 0,
            streak_ports: Vec::new(),
            silent_ports: 0,
            local_unreach: 0,
            canaries: VecDeque::new(),
            deferred: Vec::new(),
            in_flight: 0,
            interruptions: Vec::new(),
        }
    }

    fn finished(&self) -> bool {
        matches!(self.status, Status::Down(_) | Status::Abandoned)
    }

    /// Share of attempts lost on the way, measured on ports that did answer in the end.
    fn loss(&self) -> Option<f64> {
        (self.attempts_on_answered >= 20)
            .then(|| self.lost_on_answered as f64 / self.attempts_on_answered as f64)
    }

    /// Consecutive unanswered attempts that are too unlikely to be filtered ports by chance.
    fn silence_threshold(&self) -> u64 {
        let q = self.answered as f64 / self.completed.max(1) as f64;
        if q <= 0.0 || q >= 1.0 {
            return limits::MIN_SILENT_STREAK;
        }
        let k = (limits::MISS_PROBABILITY.ln() / (1.0 - q).ln()).ceil() as u64;
        k.max(limits::MIN_SILENT_STREAK)
    }
}

/// Retries for a given per-attempt loss, so that missing an open port is unlikely.
fn retries_for_loss(loss: f64) -> u8 {
    if loss <= 0.0 {
        return limits::MIN_RETRIES;
    }
    if loss >= 0.5 {
        return limits::MAX_RETRIES;
    }
    let attempts = (limits::MISS_PROBABILITY.ln() / loss.ln()).ceil();
    (attempts as u8)
        .saturating_sub(1)
        .clamp(limits::MIN_RETRIES, limits::MAX_RETRIES)
}

type ProbeFuture = Pin<Box<dyn Future<Output = (Job, Result<ProbeResult, LocalError>)> + Send>>;

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
        hosts: engine.hosts.len(),
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
    hosts: Vec<Host>,
    order: Permutation,
    next_fresh: u64,
    retries: VecDeque<Pending>,
    in_flight: FuturesUnordered<ProbeFuture>,
    max_checks: usize,
    cap: usize,
    exhausted_at: Option<Instant>,
    fixed_timeout: Option<Duration>,
    fixed_retries: Option<u8>,
    assume_up: bool,
    controller: RateController,
    pacer: Pacer,
    global_rtt: RttEstimator,
    decided: u64,
    total: u64,
    sent_since_tick: u64,
    last_tick: Instant,
    achieved: f64,
}

impl Engine {
    fn new(hosts: Vec<ScanHost>, profile: &ScanProfile) -> Self {
        let ports = profile.ports.as_slice().to_vec();
        let hosts: Vec<Host> = hosts
            .into_iter()
            .map(|h| Host::new(h, ports.len()))
            .collect();
        let total = hosts.len() as u64 * ports.len() as u64;
        let now = Instant::now();
        let max_checks = profile.max_checks.clamp(1, crate::fdlimit::probe_ceiling());
        Self {
            order: Permutation::new(total, profile.seed),
            ports,
            hosts,
            next_fresh: 0,
            retries: VecDeque::new(),
            in_flight: FuturesUnordered::new(),
            max_checks,
            cap: max_checks,
            exhausted_at: None,
            fixed_timeout: profile.read_timeout,
            fixed_retries: profile.retries,
            assume_up: profile.assume_up,
            controller: RateController::new(profile.max_rate, now),
            pacer: Pacer::new(now),
            global_rtt: RttEstimator::default(),
            decided: 0,
            total,
            sent_since_tick: 0,
            last_tick: now,
            achieved: 0.0,
        }
    }

    fn timeout_for(&self, host: &Host) -> Duration {
        if let Some(t) = self.fixed_timeout {
            return t;
        }
        let est = if host.rtt.srtt().is_some() {
            host.rtt
        } else {
            self.global_rtt
        };
        est.timeout(
            limits::MIN_TIMEOUT,
            limits::MAX_TIMEOUT,
            limits::INITIAL_TIMEOUT,
        )
    }

    fn retries_for(&self, host: &Host) -> u8 {
        if let Some(r) = self.fixed_retries {
            return r;
        }
        let loss = host.loss().or_else(|| self.global_loss()).unwrap_or(0.0);
        retries_for_loss(loss)
    }

    fn global_loss(&self) -> Option<f64> {
        let (lost, attempts) = self.hosts.iter().fold((0, 0), |(l, a), h| {
            (l + h.lost_on_answered, a + h.attempts_on_answered)
        });
        (attempts >= 20).then(|| lost as f64 / attempts as f64)
    }

    /// The next port probe to send: retries first, then fresh (host, port) pairs in random order.
    /// Probes for hosts that are paused are set aside until the host answers again.
    fn next_pending(&mut self) -> Option<Pending> {
        while let Some(p) = self.retries.pop_front() {
            match self.hosts[p.host as usize].status {
                Status::Active => return Some(p),
                Status::Down(_) | Status::Abandoned => {}
                _ => self.hosts[p.host as usize].deferred.push(p),
            }
        }
        let host_count = self.hosts.len() as u64;
        while self.next_fresh < self.order.len() {
            let x = self.order.get(self.next_fresh);
            self.next_fresh += 1;
            let p = Pending {
                host: (x % host_count) as u32,
                port: (x / host_count) as u32,
                attempt: 1,
            };
            match self.hosts[p.host as usize].status {
                Status::Active => return Some(p),
                Status::Down(_) | Status::Abandoned => {}
                _ => self.hosts[p.host as usize].deferred.push(p),
            }
        }
        None
    }

    fn has_work(&self) -> bool {
        !self.retries.is_empty() || self.next_fresh < self.order.len()
    }

    fn launch(&mut self, job: Job, timeout: Duration) {
        let (host, port) = match job {
            Job::Port { p, .. } => (p.host, p.port),
            Job::Canary { host, port } => (host, port),
        };
        let h = &mut self.hosts[host as usize];
        h.in_flight += 1;
        h.probes_sent += 1;
        let addr = SocketAddr::new(h.address, self.ports[port as usize]);
        self.sent_since_tick += 1;
        // Each probe is its own task: on a multi-threaded runtime the socket calls of many
        // probes run on every core, while this loop only schedules and judges.
        let task = tokio::spawn(probe(addr, timeout));
        self.in_flight.push(Box::pin(async move {
            let result = task
                .await
                .unwrap_or_else(|e| Err(LocalError::Other(std::io::Error::other(e))));
            (job, result)
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
            self.fill(now);
            if self.in_flight.is_empty() && !self.has_work() && !self.any_waiting() {
                self.tick(now, events);
                return false;
            }
            let wake = self.next_wake(now);
            tokio::select! {
                biased;
                () = &mut stop => return true,
                Some((job, result)) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.complete(job, result, events);
                }
                () = tokio::time::sleep_until(wake) => {}
            }
            let now = Instant::now();
            if now.duration_since(self.last_tick) >= limits::TICK {
                self.tick(now, events);
            }
        }
    }

    fn any_waiting(&self) -> bool {
        self.hosts.iter().any(|h| {
            matches!(
                h.status,
                Status::Paused { .. } | Status::Checking { .. } | Status::Probing { .. }
            )
        })
    }

    fn next_wake(&self, now: Instant) -> Instant {
        let mut wake = self.last_tick + limits::TICK;
        if self.has_work() && self.in_flight.len() < self.cap {
            wake = wake.min(self.pacer.next_token(self.controller.rate()));
        }
        for h in &self.hosts {
            if let Status::Paused { until, .. } = h.status {
                wake = wake.min(until);
            }
        }
        wake.max(now)
    }

    fn fill(&mut self, now: Instant) {
        if let Some(at) = self.exhausted_at
            && now.duration_since(at) > Duration::from_secs(1)
        {
            self.cap = self.max_checks;
            self.exhausted_at = None;
        }
        while self.in_flight.len() < self.cap && self.has_work() {
            if !self.pacer.try_take(now, self.controller.rate()) {
                break;
            }
            let Some(p) = self.next_pending() else {
                break;
            };
            let epoch = (p.attempt == 1).then(|| self.controller.on_send(now));
            let timeout = self.timeout_for(&self.hosts[p.host as usize]);
            self.launch(Job::Port { p, epoch }, timeout);
        }
    }

    fn tick(&mut self, now: Instant, events: &mut (dyn FnMut(ScanEvent) + Send)) {
        let elapsed = now.duration_since(self.last_tick).as_secs_f64().max(1e-3);
        let instant_rate = self.sent_since_tick as f64 / elapsed;
        // The smoothed rate rides out a slow tick; the last tick's rate must not hold back the
        // doubling of slow start.
        self.achieved = (0.7 * self.achieved + 0.3 * instant_rate).max(instant_rate);
        self.sent_since_tick = 0;
        self.last_tick = now;
        if let Some(change) = self.controller.update(now, self.achieved) {
            tracing::debug!(?change, "rate");
            events(ScanEvent::Rate(change));
        }
        events(ScanEvent::Progress {
            decided: self.decided,
            total: self.total,
            rate: self.controller.rate(),
        });
    }

    fn decide(&mut self, host: u32, port: u32, result: &ProbeResult, attempts: u8) {
        let h = &mut self.hosts[host as usize];
        let slot = &mut h.reasons[port as usize];
        if slot.is_none() {
            self.decided += 1;
        }
        *slot = Some(result.reason);
        h.attempts[port as usize] = attempts;
        if let Some(rtt) = result.rtt
            && result.reason != Reason::Reset
        {
            h.rtts.insert(port, rtt);
        }
        if let Some(from) = result.icmp_from {
            h.icmp_from.insert(port, from);
        }
    }

    fn complete(
        &mut self,
        job: Job,
        result: Result<ProbeResult, LocalError>,
        events: &mut (dyn FnMut(ScanEvent) + Send),
    ) {
        let host = match job {
            Job::Port { p, .. } => p.host,
            Job::Canary { host, .. } => host,
        };
        self.hosts[host as usize].in_flight -= 1;
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                self.local_failure(job, e);
                return;
            }
        };
        match job {
            Job::Port { p, epoch } => {
                if let Some(epoch) = epoch {
                    self.controller
                        .on_complete(epoch, result.reason.is_answer() && !result.local_unreach);
                }
                self.port_result(p, result, events);
            }
            Job::Canary { host, port } => self.canary_result(host, port, result, events),
        }
    }

    fn local_failure(&mut self, job: Job, err: LocalError) {
        match err {
            LocalError::Exhausted(e) => {
                // Our machine ran out of something (descriptors, ports, buffers): fewer at once.
                tracing::debug!(error = %e, in_flight = self.in_flight.len(), "local resources exhausted");
                self.cap = (self.in_flight.len() * 3 / 4).max(8);
                self.exhausted_at = Some(Instant::now());
            }
            LocalError::SelfConnect => {}
            LocalError::Other(e) => {
                tracing::warn!(error = %e, "probe failed locally; sending it again")
            }
        }
        match job {
            Job::Port { p, epoch } => {
                if let Some(epoch) = epoch {
                    self.controller.on_abandon(epoch);
                }
                self.retries.push_back(p);
            }
            Job::Canary { host, .. } => {
                // Ask again on the next tick, as if it had gone unanswered.
                let h = &mut self.hosts[host as usize];
                if let Status::Checking { tries } = h.status {
                    h.status = Status::Checking {
                        tries: tries.saturating_sub(1),
                    };
                }
                self.relaunch_canary(host);
            }
        }
    }

    fn port_result(
        &mut self,
        p: Pending,
        result: ProbeResult,
        events: &mut (dyn FnMut(ScanEvent) + Send),
    ) {
        if self.hosts[p.host as usize].finished() {
            return;
        }
        if result.local_unreach {
            // Our own stack could not reach the host (no ARP/ND answer, no route): nothing about
            // this port, everything about the host.
            self.decide(p.host, p.port, &result, p.attempt);
            let h = &mut self.hosts[p.host as usize];
            h.local_unreach += 1;
            if h.answered == 0 && h.local_unreach >= 2 {
                let reason = if result.reason == Reason::NetUnreach {
                    HostReason::NetUnreach
                } else {
                    HostReason::HostUnreach
                };
                self.host_down(p.host, reason, events);
            }
            return;
        }
        if result.reason.is_answer() {
            if let Some(rtt) = result.rtt {
                self.hosts[p.host as usize].rtt.observe(rtt);
                self.global_rtt.observe(rtt);
            }
            self.decide(p.host, p.port, &result, p.attempt);
            let h = &mut self.hosts[p.host as usize];
            h.completed += 1;
            h.answered += 1;
            h.attempts_on_answered += u64::from(p.attempt);
            h.lost_on_answered += u64::from(p.attempt - 1);
            h.silent_streak = 0;
            h.streak_ports.clear();
            h.canaries.push_front(p.port);
            h.canaries.truncate(8);
            if result.reason == Reason::SynAck {
                events(ScanEvent::PortOpen {
                    host: h.address,
                    port: self.ports[p.port as usize],
                });
            }
            return;
        }
        let retries = self.retries_for(&self.hosts[p.host as usize]);
        let h = &mut self.hosts[p.host as usize];
        h.completed += 1;
        h.silent_streak += 1;
        if h.status == Status::Active && p.attempt <= retries {
            self.retries.push_back(Pending {
                attempt: p.attempt + 1,
                ..p
            });
        } else if h.status == Status::Active {
            h.streak_ports.push(p.port);
            h.silent_ports += 1;
            self.decide(p.host, p.port, &result, p.attempt);
        } else {
            // The host is being checked or paused: this silence is part of that, ask again later.
            h.deferred.push(Pending { attempt: 1, ..p });
        }
        let h = &self.hosts[p.host as usize];
        if h.answered == 0 && !self.assume_up && h.silent_ports >= limits::DOWN_AFTER_SILENT_PORTS {
            self.host_down(p.host, HostReason::NoResponse, events);
        } else if h.answered > 0
            && h.status == Status::Active
            && h.silent_streak >= h.silence_threshold()
        {
            self.hosts[p.host as usize].status = Status::Checking { tries: 0 };
            self.relaunch_canary(p.host);
        }
    }

    fn host_down(
        &mut self,
        host: u32,
        reason: HostReason,
        events: &mut (dyn FnMut(ScanEvent) + Send),
    ) {
        let h = &mut self.hosts[host as usize];
        h.status = Status::Down(reason);
        h.deferred.clear();
        let undecided = h.reasons.iter().filter(|r| r.is_none()).count() as u64;
        self.decided += undecided;
        events(ScanEvent::HostDown {
            host: h.address,
            reason,
        });
    }

    fn relaunch_canary(&mut self, host: u32) {
        let h = &self.hosts[host as usize];
        let Some(&port) = h.canaries.front() else {
            return;
        };
        let timeout = (self.timeout_for(h) * 2).max(Duration::from_millis(500));
        self.launch(Job::Canary { host, port }, timeout);
    }

    fn canary_result(
        &mut self,
        host: u32,
        port: u32,
        result: ProbeResult,
        events: &mut (dyn FnMut(ScanEvent) + Send),
    ) {
        let now = Instant::now();
        let answered = result.reason.is_answer() && !result.local_unreach;
        let status = self.hosts[host as usize].status;
        match (status, answered) {
            (Status::Checking { .. }, true) => {
                // Only a run of filtered ports: carry on.
                let h = &mut self.hosts[host as usize];
                h.status = Status::Active;
                h.silent_streak = 0;
                h.streak_ports.clear();
                self.release_deferred(host);
            }
            (Status::Checking { tries }, false) if tries + 1 < limits::CANARY_TRIES => {
                self.hosts[host as usize].status = Status::Checking { tries: tries + 1 };
                self.relaunch_canary(host);
            }
            (Status::Checking { .. }, false) => self.silenced(host, port, now, events),
            (Status::Probing { since, .. }, true) => {
                let paused = now.duration_since(since);
                let h = &mut self.hosts[host as usize];
                h.status = Status::Active;
                h.silent_streak = 0;
                if let Some(last) = h.interruptions.last_mut() {
                    last.resumed = true;
                    last.paused = paused;
                }
                let address = h.address;
                self.release_deferred(host);
                events(ScanEvent::HostResumed {
                    host: address,
                    paused,
                });
            }
            (Status::Probing { step, since }, false) => {
                let next = step + 1;
                if let Some(pause) = limits::PAUSES.get(next) {
                    self.hosts[host as usize].status = Status::Paused {
                        until: now + *pause,
                        step: next,
                        since,
                    };
                } else {
                    self.abandon(host, now.duration_since(since), events);
                }
            }
            _ => {}
        }
    }

    /// The host stopped answering, even on a port that had answered: interference. Undo the
    /// silent decisions since its last answer, slow down, and wait before asking again.
    fn silenced(
        &mut self,
        host: u32,
        canary: u32,
        now: Instant,
        events: &mut (dyn FnMut(ScanEvent) + Send),
    ) {
        // The fastest rate the host still answered at: the rate of the moment has been pushed
        // up by slow start (or cut, seeing no answers) since the host stopped answering.
        let rate = self.controller.last_healthy_rate();
        let canary_port = self.ports[canary as usize];
        let h = &mut self.hosts[host as usize];
        let interruption = Interruption {
            at: jiff::Timestamp::now(),
            answered_before: h.answered,
            silent_probes: h.silent_streak,
            canary_port: Some(canary_port),
            rate,
            resumed: false,
            paused: Duration::ZERO,
        };
        for port in std::mem::take(&mut h.streak_ports) {
            if h.reasons[port as usize].take().is_some() {
                self.decided -= 1;
                h.silent_ports -= 1;
            }
            h.deferred.push(Pending {
                host,
                port,
                attempt: 1,
            });
        }
        h.interruptions.push(interruption.clone());
        h.status = Status::Paused {
            until: now + limits::PAUSES[0],
            step: 0,
            since: now,
        };
        let address = h.address;
        self.controller.back_off_from(rate);
        events(ScanEvent::HostSilenced {
            host: address,
            interruption,
        });
    }

    fn abandon(&mut self, host: u32, paused: Duration, events: &mut (dyn FnMut(ScanEvent) + Send)) {
        let h = &mut self.hosts[host as usize];
        h.status = Status::Abandoned;
        h.deferred.clear();
        if let Some(last) = h.interruptions.last_mut() {
            last.paused = paused;
        }
        let unprobed = h.reasons.iter().filter(|r| r.is_none()).count();
        self.decided += unprobed as u64;
        events(ScanEvent::HostAbandoned {
            host: h.address,
            unprobed,
        });
    }

    fn release_deferred(&mut self, host: u32) {
        let deferred = std::mem::take(&mut self.hosts[host as usize].deferred);
        self.retries.extend(deferred);
    }

    fn wake_paused_hosts(&mut self, now: Instant) {
        for i in 0..self.hosts.len() {
            if let Status::Paused { until, step, since } = self.hosts[i].status
                && now >= until
            {
                self.hosts[i].status = Status::Probing { step, since };
                self.relaunch_canary(i as u32);
            }
        }
    }

    fn results(&self) -> Vec<HostResult> {
        self.hosts.iter().map(|h| self.host_result(h)).collect()
    }

    fn host_result(&self, h: &Host) -> HostResult {
        let (state, reason) = match h.status {
            Status::Down(reason) => (HostState::Down, reason),
            _ if h.answered > 0 => (HostState::Up, HostReason::PortAnswered),
            _ if self.assume_up => (HostState::Up, HostReason::UserSet),
            _ if h.local_unreach > 0 => (HostState::Down, HostReason::HostUnreach),
            _ => (HostState::Down, HostReason::NoResponse),
        };
        let mut observations = Vec::new();
        let mut unprobed = Vec::new();
        if state == HostState::Up {
            for (i, r) in h.reasons.iter().enumerate() {
                let port = self.ports[i];
                match r {
                    Some(reason) => {
                        let i = i as u32;
                        let mut o = Observation::new(
                            port,
                            *reason,
                            h.rtts.get(&i).copied(),
                            h.attempts[i as usize],
                        );
                        o.icmp_from = h.icmp_from.get(&i).copied();
                        observations.push(o);
                    }
                    None => unprobed.push(port),
                }
            }
        }
        observations.sort_by_key(|o| o.port);
        let (ports, extra_ports) = HostResult::summarise(observations, limits::SUMMARISE_ABOVE);
        HostResult {
            address: h.address,
            hostname: h.hostname.clone(),
            state,
            reason,
            ports,
            extra_ports,
            unprobed,
            interruptions: h.interruptions.clone(),
            stats: HostStats {
                probes_sent: h.probes_sent,
                answers: h.answered,
                srtt: h.rtt.srtt(),
                loss: h.loss().unwrap_or(0.0),
                retries: self.retries_for(h),
                read_timeout: self.timeout_for(h),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_grow_with_loss() {
        assert_eq!(retries_for_loss(0.0), limits::MIN_RETRIES);
        assert_eq!(retries_for_loss(0.01), 2);
        assert_eq!(retries_for_loss(0.06), 4);
        assert_eq!(retries_for_loss(0.3), 10);
        assert_eq!(retries_for_loss(0.9), limits::MAX_RETRIES);
    }
}
