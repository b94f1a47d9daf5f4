//! One host's port scan: which ports are decided, what to send it next, its own timing, and the
//! moment it goes silent.
//!
//! Everything here is about one host, so that one host's firewall, IPS, loss or ban slows that
//! host only. The engine owns the sockets and the clock; it asks a [`PortScan`] for the next job,
//! hands it each outcome, and acts on what it answers ([`Verdict`]).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use picket_model::{
    HostReason, HostResult, HostState, HostStats, Interruption, Observation, Reason,
};
use tokio::time::Instant;

use crate::permute::Permutation;
use crate::probe::ProbeResult;
use crate::timing::{Pacer, RateChange, RateController, RttEstimator, ban_ceiling};

/// Constants of one host's scan, kept together so that their reasons are read together.
pub(crate) mod limits {
    use std::time::Duration;

    /// Retries bounds when they are chosen from the measured loss.
    pub const MIN_RETRIES: u8 = 1;
    pub const MAX_RETRIES: u8 = 10;
    /// Expected number of open ports missed over a whole host that the retry count aims below.
    pub const MISS_BUDGET: f64 = 0.01;
    /// A timing probe goes out after this many port probes to the host (5 % of its probes)...
    pub const TIMING_EVERY: u32 = 20;
    /// ... or, in slow start, after this long, so that the first judgments come quickly even at
    /// low rates (at most a third of the probes then). Later a judgment may wait: a tenth of a
    /// host's probes spent on timing would slow an IPS-limited scan by a tenth...
    pub const TIMING_GAP: Duration = Duration::from_millis(5);
    pub const TIMING_GAP_MIN_EVERY: u32 = 3;
    /// ... but never longer than this, so that a host slowed far down can still climb back.
    pub const TIMING_GAP_MAX: Duration = Duration::from_millis(50);
    /// Ports that answered with TCP, kept as timing probe and canary targets.
    pub const CANARIES: usize = 8;
    /// Chance that a run of unanswered timing probes is only random loss, below which the host is
    /// checked for silence.
    pub const SILENCE_PROBABILITY: f64 = 1e-4;
    /// Canary probes, once timing probes went unanswered, before a host is called silent.
    pub const CANARY_TRIES: u8 = 4;
    /// Waits before asking a silent host again; the last one repeats until patience runs out.
    /// One canary every 3 s is nothing an IPS counts, and a ban's end is noticed within 3 s.
    pub const PAUSES: [Duration; 3] = [
        Duration::from_secs(1),
        Duration::from_secs(2),
        Duration::from_secs(3),
    ];
    /// Ports of the same state and reason summarised into one line above this count.
    pub const SUMMARISE_ABOVE: usize = 25;
}

/// A port probe to send: the port's index and which attempt it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pending {
    pub port: u32,
    pub attempt: u8,
}

/// What the host wants sent next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Port(Pending),
    /// A timing probe to a port that answered with TCP, counted in the controller's `epoch`.
    Timing {
        port: u32,
        epoch: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Status {
    Active,
    /// Timing probes went unanswered: port probes wait while a canary tells congestion from a ban.
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
    /// Our own stack says the host cannot be reached (scanned with `--no-ping`).
    Down(HostReason),
    /// Silent past the patience: its undecided ports stay unprobed.
    Abandoned,
}

/// What the engine must do after an outcome.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    Nothing,
    Open(u32),
    /// Send a canary now.
    Canary,
    Rate(RateChange),
    Silenced(Interruption),
    Resumed(Duration),
    Down(HostReason),
    Abandoned(usize),
}

/// Everything the engine tracks about one host while its ports are scanned.
pub(crate) struct PortScan {
    pub address: IpAddr,
    pub hostname: Option<String>,
    up_reason: HostReason,
    /// Per port index: the deciding reason, once decided; attempts sent so far.
    reasons: Vec<Option<Reason>>,
    attempts: Vec<u8>,
    rtts: HashMap<u32, Duration>,
    icmp_from: HashMap<u32, IpAddr>,
    order: Permutation,
    next_fresh: u64,
    retries: VecDeque<Pending>,
    /// Probes set aside while the host is checked or paused.
    deferred: Vec<Pending>,
    undecided: usize,
    pub status: Status,
    pub rtt: RttEstimator,
    pub controller: RateController,
    pacer: Pacer,
    /// Ports that answered with TCP, resets first (they cost the host nothing).
    canaries: VecDeque<u32>,
    next_canary: usize,
    pub in_flight: u32,
    probes_sent: u64,
    sent_since_tick: u64,
    achieved: f64,
    answers: u64,
    open_found: u64,
    /// Ports that answered with TCP (open or closed): each would be mislabelled filtered if
    /// every one of its attempts were lost.
    tcp_answered: u64,
    timing_sent: u64,
    timing_lost: u64,
    attempts_on_answered: u64,
    lost_on_answered: u64,
    since_timing: u32,
    last_timing: Instant,
    fail_streak: u32,
    /// When the last answered timing probe was sent, and how many probes had gone out by then.
    last_ok: Option<(Instant, u64)>,
    /// Where the current stretch of sending began (the start, or the last resume).
    stretch: (Instant, u64),
    /// When congestion or a silence was last acted on: timing probes sent before it say
    /// nothing new.
    acted_at: Instant,
    /// Ports decided silent since the host last answered.
    streak_ports: Vec<u32>,
    /// Ports decided silent whose last attempt went out after the last stretch judged healthy,
    /// with that attempt's time: if the stretch turns out congested, they are asked again.
    unconfirmed: VecDeque<(u32, Instant)>,
    local_unreach: u32,
    interruptions: Vec<Interruption>,
    fixed_retries: Option<u8>,
    patience: Duration,
    /// The host showed congestion or a silence during the scan; its silent ports get one
    /// verification pass at the end ([`PortScan::finish`]).
    disturbed: bool,
    verified: bool,
}

/// The knobs a host's scan takes from the profile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HostSettings {
    pub ports: usize,
    pub seed: u64,
    pub max_rate: Option<f64>,
    pub fixed_retries: Option<u8>,
    pub patience: Duration,
}

impl PortScan {
    pub fn new(
        address: IpAddr,
        hostname: Option<String>,
        up_reason: HostReason,
        settings: HostSettings,
        now: Instant,
    ) -> Self {
        Self {
            address,
            hostname,
            up_reason,
            reasons: vec![None; settings.ports],
            attempts: vec![0; settings.ports],
            rtts: HashMap::new(),
            icmp_from: HashMap::new(),
            order: Permutation::new(settings.ports as u64, settings.seed),
            next_fresh: 0,
            retries: VecDeque::new(),
            deferred: Vec::new(),
            undecided: settings.ports,
            status: Status::Active,
            rtt: RttEstimator::default(),
            controller: RateController::new(settings.max_rate, now),
            pacer: Pacer::new(now),
            canaries: VecDeque::new(),
            next_canary: 0,
            in_flight: 0,
            probes_sent: 0,
            sent_since_tick: 0,
            achieved: 0.0,
            answers: 0,
            open_found: 0,
            tcp_answered: 0,
            timing_sent: 0,
            timing_lost: 0,
            attempts_on_answered: 0,
            lost_on_answered: 0,
            since_timing: 0,
            last_timing: now,
            fail_streak: 0,
            last_ok: None,
            stretch: (now, 0),
            acted_at: now,
            streak_ports: Vec::new(),
            unconfirmed: VecDeque::new(),
            local_unreach: 0,
            interruptions: Vec::new(),
            fixed_retries: settings.fixed_retries,
            patience: settings.patience,
            disturbed: false,
            verified: false,
        }
    }

    pub fn decided(&self) -> usize {
        self.reasons.len() - self.undecided
    }

    fn has_port_work(&self) -> bool {
        !self.retries.is_empty() || self.next_fresh < self.order.len()
    }

    /// Silence decided while the path was not yet judged: timing probes go on until it is.
    fn awaits_judgment(&self) -> bool {
        !self.unconfirmed.is_empty() && !self.canaries.is_empty()
    }

    /// When this host could send next, if it has anything to send.
    pub fn next_send(&self) -> Option<Instant> {
        if self.status != Status::Active {
            return None;
        }
        let rate = self.controller.rate();
        if self.has_port_work() {
            Some(self.pacer.next_token(rate))
        } else if self.awaits_judgment() {
            Some(
                self.pacer
                    .next_token(rate)
                    .max(self.last_timing + limits::TIMING_GAP),
            )
        } else {
            None
        }
    }

    /// The next probe to send now, if the host's pacer allows one.
    pub fn next(&mut self, now: Instant) -> Option<Next> {
        if self.status != Status::Active {
            return None;
        }
        let work = self.has_port_work();
        // With no port left to ask, timing probes are all there is to send.
        let gap = now.duration_since(self.last_timing);
        let share_allows = self.since_timing >= limits::TIMING_GAP_MIN_EVERY;
        let timing_due = self.since_timing >= limits::TIMING_EVERY
            || (!work && gap >= limits::TIMING_GAP)
            || (share_allows && self.controller.in_slow_start() && gap >= limits::TIMING_GAP)
            || (share_allows && gap >= limits::TIMING_GAP_MAX);
        let wanted = work || (self.awaits_judgment() && timing_due);
        if !wanted {
            return None;
        }
        if !self.pacer.try_take(now, self.controller.rate()) {
            return None;
        }
        self.probes_sent += 1;
        self.sent_since_tick += 1;
        if timing_due && let Some(port) = self.timing_port() {
            self.since_timing = 0;
            self.last_timing = now;
            let epoch = self.controller.on_send(now);
            return Some(Next::Timing { port, epoch });
        }
        self.since_timing += 1;
        if let Some(p) = self.retries.pop_front() {
            return Some(Next::Port(p));
        }
        let port = self.order.get(self.next_fresh) as u32;
        self.next_fresh += 1;
        Some(Next::Port(Pending { port, attempt: 1 }))
    }

    fn timing_port(&mut self) -> Option<u32> {
        if self.canaries.is_empty() {
            return None;
        }
        self.next_canary = (self.next_canary + 1) % self.canaries.len();
        self.canaries.get(self.next_canary).copied()
    }

    /// The port a canary goes to: the most recent that answered with TCP.
    pub fn canary(&self) -> Option<u32> {
        self.canaries.front().copied()
    }

    /// Probes sent so far, for the stretch bookkeeping of timing probes.
    pub fn probes_sent(&self) -> u64 {
        self.probes_sent
    }

    /// Probes of this host that got an answer (open, reset or ICMP).
    pub fn answers(&self) -> u64 {
        self.answers
    }

    /// Counts a probe the engine sent outside of [`PortScan::next`] (canaries).
    pub fn count_sent(&mut self) {
        self.probes_sent += 1;
        self.sent_since_tick += 1;
    }

    /// Share of attempts lost on the way: from timing probes, which were expected to answer, and
    /// from ports that answered a later attempt.
    pub fn loss(&self) -> Option<f64> {
        let timing =
            (self.timing_sent >= 20).then(|| self.timing_lost as f64 / self.timing_sent as f64);
        let ports = (self.attempts_on_answered >= 20)
            .then(|| self.lost_on_answered as f64 / self.attempts_on_answered as f64);
        match (timing, ports) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Attempts a silent port gets before it is called filtered.
    pub fn required_attempts(&self) -> u8 {
        if let Some(r) = self.fixed_retries {
            return r.saturating_add(1);
        }
        retries_for_loss(self.loss().unwrap_or(0.0), self.tcp_answered).saturating_add(1)
    }

    /// Consecutive unanswered timing probes that random loss explains too rarely.
    fn silence_streak(&self) -> u32 {
        let loss = self
            .controller
            .baseline_ratio()
            .map_or(0.1, |r| (1.0 - r).clamp(0.01, 0.9));
        let k = (limits::SILENCE_PROBABILITY.ln() / loss.ln()).ceil() as u32;
        k.clamp(3, 10)
    }

    fn decide(&mut self, port: u32, result: &ProbeResult, attempts: u8) {
        let slot = &mut self.reasons[port as usize];
        if slot.is_none() {
            self.undecided -= 1;
        }
        *slot = Some(result.reason);
        self.attempts[port as usize] = attempts;
        if let Some(rtt) = result.rtt
            && result.reason != Reason::Reset
        {
            self.rtts.insert(port, rtt);
        }
        if let Some(from) = result.icmp_from {
            self.icmp_from.insert(port, from);
        }
    }

    fn undecide(&mut self, port: u32) {
        if self.reasons[port as usize].take().is_some() {
            self.undecided += 1;
        }
    }

    fn add_canary(&mut self, port: u32, reason: Reason) {
        if self.canaries.contains(&port) {
            return;
        }
        if reason == Reason::Reset {
            self.canaries.push_front(port);
            self.canaries.truncate(limits::CANARIES);
        } else if self.canaries.len() < limits::CANARIES {
            self.canaries.push_back(port);
        }
    }

    /// A port probe's outcome; `sent_at` is when it went out.
    pub fn on_port(&mut self, p: Pending, result: ProbeResult, sent_at: Instant) -> Verdict {
        if matches!(self.status, Status::Down(_) | Status::Abandoned) {
            return Verdict::Nothing;
        }
        if result.local_unreach {
            // Our own stack could not reach the host (no ARP/ND answer, no route): nothing about
            // this port, everything about the host.
            self.decide(p.port, &result, p.attempt);
            self.local_unreach += 1;
            if self.answers == 0 && self.local_unreach >= 2 {
                let reason = if result.reason == Reason::NetUnreach {
                    HostReason::NetUnreach
                } else {
                    HostReason::HostUnreach
                };
                self.status = Status::Down(reason);
                return Verdict::Down(reason);
            }
            return Verdict::Nothing;
        }
        if result.reason.is_answer() {
            self.answers += 1;
            self.decide(p.port, &result, p.attempt);
            if matches!(result.reason, Reason::SynAck | Reason::Reset) {
                if let Some(rtt) = result.rtt {
                    self.rtt.observe(rtt);
                }
                self.tcp_answered += 1;
                self.attempts_on_answered += u64::from(p.attempt);
                self.lost_on_answered += u64::from(p.attempt - 1);
                self.streak_ports.clear();
                self.add_canary(p.port, result.reason);
                if result.reason == Reason::SynAck {
                    self.open_found += 1;
                    return Verdict::Open(p.port);
                }
            }
            return Verdict::Nothing;
        }
        if self.status != Status::Active {
            // The host is being checked or paused: this silence is part of that, ask again later.
            self.deferred.push(p);
            return Verdict::Nothing;
        }
        if p.attempt < self.required_attempts() {
            self.retries.push_back(Pending {
                attempt: p.attempt + 1,
                ..p
            });
        } else {
            self.decide(p.port, &result, p.attempt);
            self.streak_ports.push(p.port);
            if !self.canaries.is_empty() {
                self.unconfirmed.push_back((p.port, sent_at));
            }
        }
        Verdict::Nothing
    }

    /// The path was congested: silence seen since the last healthy stretch may be drops, not
    /// filters. Those ports are asked again, from their first attempt.
    fn ask_unconfirmed_again(&mut self) {
        while let Some((port, _)) = self.unconfirmed.pop_front() {
            if self.reasons[port as usize] == Some(Reason::NoResponse) {
                self.undecide(port);
                self.retries.push_back(Pending { port, attempt: 1 });
            }
        }
    }

    /// Silence seen before the last healthy stretch ended stays decided.
    fn confirm_silence(&mut self) {
        let Some(until) = self.controller.healthy_until() else {
            return;
        };
        while self.unconfirmed.front().is_some_and(|(_, at)| *at < until) {
            self.unconfirmed.pop_front();
        }
    }

    /// A timing probe's outcome; `sent` is when it went out and how many probes had by then.
    pub fn on_timing(
        &mut self,
        epoch: usize,
        sent: (Instant, u64),
        result: &ProbeResult,
    ) -> Verdict {
        let answered =
            matches!(result.reason, Reason::SynAck | Reason::Reset) && !result.local_unreach;
        self.controller.on_complete(epoch, answered);
        if self.status != Status::Active || sent.0 < self.acted_at {
            // Part of a silence being checked or waited out, or of congestion already acted on:
            // not the path's loss, and no new alarm.
            return Verdict::Nothing;
        }
        self.timing_sent += 1;
        if answered {
            self.answers += 1;
            self.fail_streak = 0;
            self.streak_ports.clear();
            if let Some(rtt) = result.rtt {
                self.rtt.observe(rtt);
            }
            if self.last_ok.is_none_or(|(at, _)| at < sent.0) && sent.0 >= self.stretch.0 {
                self.last_ok = Some(sent);
            }
            return Verdict::Nothing;
        }
        self.timing_lost += 1;
        self.fail_streak += 1;
        if self.status == Status::Active && self.fail_streak >= self.silence_streak() {
            self.status = Status::Checking { tries: 0 };
            return Verdict::Canary;
        }
        Verdict::Nothing
    }

    /// A port probe that failed on our side (resources ran out): sent again, not counted.
    pub fn send_again(&mut self, p: Pending) {
        self.retries.push_front(p);
    }

    /// A timing probe that failed on our side: its epoch must still be judgeable.
    pub fn timing_abandoned(&mut self, epoch: usize) {
        self.controller.on_abandon(epoch);
    }

    /// A canary's outcome.
    pub fn on_canary(&mut self, port: u16, result: &ProbeResult, now: Instant) -> Verdict {
        let answered = result.reason.is_answer() && !result.local_unreach;
        match (self.status, answered) {
            (Status::Checking { .. }, true) => {
                // Timing probes were lost, but the host answers once we hold back: congestion.
                self.status = Status::Active;
                self.fail_streak = 0;
                self.release_deferred();
                self.ask_unconfirmed_again();
                self.controller.forget_pending(now);
                self.acted_at = now;
                self.disturbed = true;
                Verdict::Rate(self.controller.congested())
            }
            (Status::Checking { tries }, false) if tries + 1 < limits::CANARY_TRIES => {
                self.status = Status::Checking { tries: tries + 1 };
                Verdict::Canary
            }
            (Status::Checking { .. }, false) => Verdict::Silenced(self.silenced(port, now)),
            (Status::Probing { since, .. }, true) => {
                let paused = now.duration_since(since);
                self.status = Status::Active;
                self.fail_streak = 0;
                self.last_ok = None;
                self.stretch = (now, self.probes_sent);
                self.controller.forget_pending(now);
                self.acted_at = now;
                if let Some(last) = self.interruptions.last_mut() {
                    last.resumed = true;
                    last.paused = paused;
                }
                self.release_deferred();
                Verdict::Resumed(paused)
            }
            (Status::Probing { step, since }, false) => {
                let waited = now.duration_since(since);
                let pause = limits::PAUSES[(step + 1).min(limits::PAUSES.len() - 1)];
                if waited + pause > self.patience {
                    Verdict::Abandoned(self.abandon(waited))
                } else {
                    self.status = Status::Paused {
                        until: now + pause,
                        step: step + 1,
                        since,
                    };
                    Verdict::Nothing
                }
            }
            _ => Verdict::Nothing,
        }
    }

    /// A canary that failed on our side counts as unanswered, without using up a try.
    pub fn canary_failed_locally(&mut self) {
        if let Status::Checking { tries } = self.status {
            self.status = Status::Checking {
                tries: tries.saturating_sub(1),
            };
        }
    }

    /// The host stopped answering even a port that had answered: interference (a ban). Undo the
    /// silent decisions since it last answered, cap the rate below what the ban allowed, and wait.
    fn silenced(&mut self, canary: u16, now: Instant) -> Interruption {
        let (start, sent_at_start) = self.stretch;
        let (rate, ceiling) = match self.last_ok {
            Some((at, sent)) if at > start => {
                let elapsed = at.duration_since(start);
                let sent = sent - sent_at_start;
                (
                    sent as f64 / elapsed.as_secs_f64().max(1e-3),
                    ban_ceiling(sent, elapsed),
                )
            }
            // No timing probe of this stretch was answered: all we know is the rate of the moment.
            _ => (self.controller.rate(), self.controller.rate() / 2.0),
        };
        self.controller.cap(ceiling);
        self.disturbed = true;
        // The unanswered timing probes that raised the alarm were the ban, not loss.
        let streak = u64::from(self.fail_streak);
        self.timing_sent = self.timing_sent.saturating_sub(streak);
        self.timing_lost = self.timing_lost.saturating_sub(streak);
        let interruption = Interruption {
            at: jiff::Timestamp::now(),
            answered_before: self.answers,
            silent_probes: u64::from(self.fail_streak),
            canary_port: Some(canary),
            rate,
            resumed: false,
            paused: Duration::ZERO,
        };
        for port in std::mem::take(&mut self.streak_ports) {
            self.undecide(port);
            self.deferred.push(Pending { port, attempt: 1 });
        }
        self.interruptions.push(interruption.clone());
        self.status = Status::Paused {
            until: now + limits::PAUSES[0],
            step: 0,
            since: now,
        };
        interruption
    }

    fn abandon(&mut self, paused: Duration) -> usize {
        self.status = Status::Abandoned;
        self.deferred.clear();
        self.retries.clear();
        self.next_fresh = self.order.len();
        if let Some(last) = self.interruptions.last_mut() {
            last.paused = paused;
        }
        self.undecided
    }

    fn release_deferred(&mut self) {
        let deferred = std::mem::take(&mut self.deferred);
        self.retries.extend(deferred);
    }

    /// A paused host whose wait is over starts probing: the engine sends a canary.
    pub fn wake(&mut self, now: Instant) -> bool {
        if let Status::Paused { until, step, since } = self.status
            && now >= until
        {
            self.status = Status::Probing { step, since };
            return true;
        }
        false
    }

    /// Whether the host is done: every port decided (with as many attempts as the loss measured
    /// at the end calls for), or given up. Silent ports decided before the loss was known get
    /// the attempts they lack first, and on a host that showed congestion every silent port is
    /// verified once more.
    pub fn finish(&mut self) -> bool {
        if self.in_flight > 0 {
            return false;
        }
        match self.status {
            Status::Down(_) | Status::Abandoned => return true,
            Status::Active => {}
            _ => return false,
        }
        if self.has_port_work() || !self.deferred.is_empty() || self.awaits_judgment() {
            return false;
        }
        let required = self.required_attempts();
        let short: Vec<u32> = (0..self.reasons.len() as u32)
            .filter(|&i| {
                self.reasons[i as usize] == Some(Reason::NoResponse)
                    && self.attempts[i as usize] < required
            })
            .collect();
        for port in short {
            let attempt = self.attempts[port as usize] + 1;
            self.undecide(port);
            self.retries.push_back(Pending { port, attempt });
        }
        if self.has_port_work() {
            return false;
        }
        // Drops under congestion come in bursts that a port's attempts, a timeout apart, can all
        // fall into: on a host that showed congestion, every silent port is asked once more
        // before the host is done. Once: the silence its attempts met is already counted, and
        // the ports whose attempts went out in a stretch judged congested were asked again from
        // their first attempt when it was judged; asking every port from its first attempt
        // again would double the scan of a filtered host that met congestion once.
        if self.disturbed && !self.verified {
            self.verified = true;
            let silent: Vec<u32> = (0..self.reasons.len() as u32)
                .filter(|&i| self.reasons[i as usize] == Some(Reason::NoResponse))
                .collect();
            for port in silent {
                self.undecide(port);
                self.retries.push_back(Pending {
                    port,
                    attempt: required,
                });
            }
        }
        !self.has_port_work()
    }

    /// Once per engine tick: judges the timing probes and moves the rate.
    pub fn tick(&mut self, now: Instant, elapsed: Duration) -> Option<RateChange> {
        let instant_rate = self.sent_since_tick as f64 / elapsed.as_secs_f64().max(1e-3);
        // The smoothed rate rides out a slow tick; the last tick's rate must not hold back slow start.
        self.achieved = (0.7 * self.achieved + 0.3 * instant_rate).max(instant_rate);
        self.sent_since_tick = 0;
        if self.status != Status::Active {
            return None;
        }
        if self.canaries.is_empty() {
            return self.controller.grow_without_evidence(now, self.achieved);
        }
        let change = self.controller.update(now, self.achieved);
        if let Some(RateChange::Lowered { .. }) = change {
            self.ask_unconfirmed_again();
            self.acted_at = now;
            self.disturbed = true;
        } else {
            self.confirm_silence();
        }
        change
    }

    pub fn result(&self, ports: &[u16], read_timeout: Duration) -> HostResult {
        let (state, reason) = match self.status {
            Status::Down(reason) => (HostState::Down, reason),
            _ if self.answers > 0 && self.up_reason == HostReason::UserSet => {
                (HostState::Up, HostReason::PortAnswered)
            }
            _ => (HostState::Up, self.up_reason),
        };
        let mut observations = Vec::new();
        let mut unprobed = Vec::new();
        if state == HostState::Up {
            for (i, r) in self.reasons.iter().enumerate() {
                let port = ports[i];
                match r {
                    Some(reason) => {
                        let i = i as u32;
                        let mut o = Observation::new(
                            port,
                            *reason,
                            self.rtts.get(&i).copied(),
                            self.attempts[i as usize],
                        );
                        o.icmp_from = self.icmp_from.get(&i).copied();
                        observations.push(o);
                    }
                    None => unprobed.push(port),
                }
            }
        }
        observations.sort_by_key(|o| o.port);
        let (ports, extra_ports) = HostResult::summarise(observations, limits::SUMMARISE_ABOVE);
        HostResult {
            address: self.address,
            hostname: self.hostname.clone(),
            reverse_name: None,
            state,
            reason,
            ports,
            extra_ports,
            unprobed,
            interruptions: self.interruptions.clone(),
            stats: HostStats {
                probes_sent: self.probes_sent,
                answers: self.answers,
                srtt: self.rtt.srtt(),
                loss: self.loss().unwrap_or(0.0),
                retries: self.required_attempts().saturating_sub(1),
                read_timeout,
            },
        }
    }
}

/// Retries for a given per-attempt loss, so that the expected number of answering ports taken
/// for filtered on the host stays under [`limits::MISS_BUDGET`]: with `answering` ports found
/// (open, or closed with a reset), each is silent in every attempt with probability
/// `loss ^ attempts`. Silent ports alone are retried, so on a host that resets most ports the
/// larger count costs little; on a filtered host few ports answer.
pub(crate) fn retries_for_loss(loss: f64, answering: u64) -> u8 {
    if loss <= 0.0 {
        return limits::MIN_RETRIES;
    }
    if loss >= 0.5 {
        return limits::MAX_RETRIES;
    }
    let per_port = limits::MISS_BUDGET / answering.max(1) as f64;
    let attempts = (per_port.ln() / loss.ln()).ceil();
    (attempts as u8)
        .saturating_sub(1)
        .clamp(limits::MIN_RETRIES, limits::MAX_RETRIES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_grow_with_loss_and_with_answering_ports() {
        assert_eq!(retries_for_loss(0.0, 463), limits::MIN_RETRIES);
        assert_eq!(retries_for_loss(0.01, 1), 1);
        // 3 % loss each way: a handshake is lost 6 % of the time; 463 open ports behind a
        // default-drop firewall.
        assert_eq!(retries_for_loss(0.06, 463), 3);
        // The same loss on a host that resets its 65,072 closed ports: one of them in a
        // hundred scans may be taken for filtered.
        assert_eq!(retries_for_loss(0.06, 65_535), 5);
        assert_eq!(retries_for_loss(0.06, 1), 1);
        assert_eq!(retries_for_loss(0.3, 463), 8);
        assert_eq!(retries_for_loss(0.9, 1), limits::MAX_RETRIES);
    }
}
