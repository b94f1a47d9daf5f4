//! Adaptive timing of one host: round-trip estimation, the probe-rate controller and the pacer.
//!
//! Congestion and interference are judged only from evidence where an answer was *expected*:
//! timing probes sent, between the port probes, to ports of the same host that already answered
//! with TCP (a reset or a SYN-ACK). Silence from a port nobody has seen answer is the normal state
//! of a firewalled host, and ICMP errors are rate-limited by the target's own kernel: neither
//! says anything about the path, so neither moves the rate. The controller groups timing probes
//! by sending epoch; when an epoch's answer ratio falls significantly below the ratio of healthy
//! epochs (random loss is in that baseline), it sets the rate to what the path delivered. Until
//! a host has answered at all there is no evidence either way, and the rate grows as in slow
//! start, bounded by what the engine manages to send.
//!
//! A ban (every probe dropped once a source went over a limit) is handled by the engine; its
//! ceiling comes from [`ban_ceiling`].

use std::time::Duration;

use tokio::time::Instant;

/// RFC 6298 smoothed round-trip time and variance.
#[derive(Debug, Clone, Copy, Default)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
}

impl RttEstimator {
    pub fn observe(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// `srtt + 4 * rttvar`, clamped to `[min, max]`; `initial` before the first sample.
    pub fn timeout(&self, min: Duration, max: Duration, initial: Duration) -> Duration {
        match self.srtt {
            None => initial.clamp(min, max),
            Some(srtt) => (srtt + self.rttvar * 4).clamp(min, max),
        }
    }
}

/// Timing probes sent during one sending epoch and what became of them.
#[derive(Debug, Clone, Copy)]
struct Epoch {
    started: Instant,
    sent: u64,
    completed: u64,
    answered: u64,
    rate: f64,
}

impl Epoch {
    fn new(started: Instant, rate: f64) -> Self {
        Self {
            started,
            sent: 0,
            completed: 0,
            answered: 0,
            rate,
        }
    }
}

/// What the controller decided, for the event stream and the logs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateChange {
    Raised {
        rate: f64,
    },
    /// Timing probes' answers fell from `baseline` to `ratio` at `from` probes/s.
    Lowered {
        from: f64,
        rate: f64,
        ratio: f64,
        baseline: f64,
    },
}

/// Sets one host's probe rate from the answers to its timing probes (see the module docs).
#[derive(Debug)]
pub struct RateController {
    rate: f64,
    min_rate: f64,
    /// The ceiling: the user's `--max-rate`, lowered after a ban.
    max_rate: f64,
    slow_start: bool,
    /// Answers and completions of the epochs judged healthy, over a sliding window of about
    /// [`Self::BASELINE_WINDOW`] timing probes: the ratio the path gives when nothing interferes.
    baseline: (f64, f64),
    epochs: Vec<Epoch>,
    /// Index of the epoch new timing probes are counted in.
    current: usize,
    epoch_started: Instant,
    /// First epoch not yet judged.
    judged: usize,
    /// When the rate last grew without evidence (a host that has not answered yet).
    last_blind_raise: Instant,
    /// Everything sent before this was judged healthy (`None`: nothing judged yet).
    healthy_until: Option<Instant>,
}

impl RateController {
    pub const INITIAL_RATE: f64 = 400.0;
    pub const MIN_RATE: f64 = 5.0;
    const EPOCH: Duration = Duration::from_millis(20);
    /// Growth per healthy judgment in slow start. A ban's burst allowance hides its limit for a
    /// while, so slow start may overshoot it whatever the step; the ban ceiling
    /// ([`ban_ceiling`]) is computed from what was sent, not from this rate.
    const SLOW_START_GROWTH: f64 = 2.0;
    /// Fewest completed timing probes a judgment needs, in slow start and after.
    const MIN_SAMPLE_SLOW_START: u64 = 4;
    const MIN_SAMPLE: u64 = 20;
    const BASELINE_WINDOW: f64 = 400.0;
    /// Without any evidence, the rate grows once per this interval.
    const BLIND_STEP: Duration = Duration::from_millis(100);

    pub fn new(max_rate: Option<f64>, now: Instant) -> Self {
        let max_rate = max_rate.unwrap_or(f64::INFINITY);
        let rate = Self::INITIAL_RATE.min(max_rate);
        Self {
            rate,
            min_rate: Self::MIN_RATE.min(max_rate),
            max_rate,
            slow_start: true,
            baseline: (0.0, 0.0),
            epochs: vec![Epoch::new(now, rate)],
            current: 0,
            epoch_started: now,
            judged: 0,
            last_blind_raise: now,
            healthy_until: None,
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn in_slow_start(&self) -> bool {
        self.slow_start
    }

    /// The end of the last stretch of sending judged healthy: a probe sent before it went out
    /// while the path delivered what it should.
    pub fn healthy_until(&self) -> Option<Instant> {
        self.healthy_until
    }

    /// The share of timing probes answered in healthy epochs, once there are enough of them.
    pub fn baseline_ratio(&self) -> Option<f64> {
        let (answered, completed) = self.baseline;
        (completed >= Self::MIN_SAMPLE as f64).then(|| answered / completed)
    }

    /// Forgets the timing probes not judged yet: they went out before a silence or a congestion
    /// that was already acted on, and judged later they would punish the new rate for it.
    pub fn forget_pending(&mut self, now: Instant) {
        self.epochs.push(Epoch::new(now, self.rate));
        self.current = self.epochs.len() - 1;
        self.epoch_started = now;
        self.judged = self.current;
    }

    /// After a ban: never go above `ceiling` again in this scan, and go on just below it.
    pub fn cap(&mut self, ceiling: f64) {
        self.max_rate = ceiling.max(self.min_rate).min(self.max_rate);
        self.rate = (self.max_rate * 0.9).max(self.min_rate);
        self.slow_start = false;
    }

    /// Some evidence of congestion that fell short of a ban (timing probes went unanswered,
    /// then a canary answered): halve the rate and leave slow start.
    pub fn congested(&mut self) -> RateChange {
        let from = self.rate;
        self.rate = (self.rate / 2.0).max(self.min_rate);
        self.slow_start = false;
        RateChange::Lowered {
            from,
            rate: self.rate,
            ratio: 0.0,
            baseline: self.baseline_ratio().unwrap_or(1.0),
        }
    }

    /// Counts a timing probe sent now; returns the epoch it belongs to.
    pub fn on_send(&mut self, now: Instant) -> usize {
        self.roll(now);
        let epoch = &mut self.epochs[self.current];
        epoch.sent += 1;
        // The rate may have grown since the epoch began: judge it at the fastest it was sent at.
        epoch.rate = epoch.rate.max(self.rate);
        self.current
    }

    /// Records the outcome of a timing probe sent in `epoch`.
    pub fn on_complete(&mut self, epoch: usize, answered: bool) {
        if let Some(e) = self.epochs.get_mut(epoch) {
            e.completed += 1;
            e.answered += u64::from(answered);
        }
    }

    /// A timing probe that will never complete (failed locally); keeps its epoch judgeable.
    pub fn on_abandon(&mut self, epoch: usize) {
        if let Some(e) = self.epochs.get_mut(epoch) {
            e.sent = e.sent.saturating_sub(1);
        }
    }

    fn roll(&mut self, now: Instant) {
        if now.duration_since(self.epoch_started) >= Self::EPOCH {
            self.epochs.push(Epoch::new(now, self.rate));
            self.current = self.epochs.len() - 1;
            self.epoch_started = now;
        }
    }

    fn needed_sample(&self) -> u64 {
        if self.slow_start {
            return Self::MIN_SAMPLE_SLOW_START;
        }
        // Enough probes to expect ~30 answers at the baseline ratio, so that a fall is significant.
        match self.baseline_ratio() {
            Some(ratio) if ratio > 0.0 => ((30.0 / ratio) as u64).clamp(Self::MIN_SAMPLE, 400),
            _ => Self::MIN_SAMPLE,
        }
    }

    /// Judges every closed epoch whose timing probes have all completed, and adjusts the rate.
    /// `achieved` is the rate the engine really sent to this host lately: the rate never runs far
    /// ahead of it.
    pub fn update(&mut self, now: Instant, achieved: f64) -> Option<RateChange> {
        self.roll(now);
        let mut change = None;
        loop {
            // Merge consecutive complete epochs until the sample is large enough to judge.
            let needed = self.needed_sample();
            let Some(first) = self.epochs.get(self.judged) else {
                return change;
            };
            let mut merged = Epoch::new(first.started, 0.0);
            let mut end = self.judged;
            while end < self.current && merged.completed < needed {
                let e = self.epochs[end];
                if e.completed < e.sent {
                    return change;
                }
                merged.sent += e.sent;
                merged.completed += e.completed;
                merged.answered += e.answered;
                merged.rate = merged.rate.max(e.rate);
                end += 1;
            }
            if merged.completed < needed {
                return change;
            }
            self.judged = end;
            let until = self.epochs[end].started;
            let judged = self.judge(merged, until, achieved);
            if let Some(RateChange::Lowered { .. }) = judged {
                // What is still out was sent at the rate just judged too fast: acted on already.
                self.forget_pending(now);
                return judged;
            }
            change = judged.or(change);
        }
    }

    /// For a host with no port known to answer: grow as slow start would, since silence is no
    /// evidence of congestion.
    pub fn grow_without_evidence(&mut self, now: Instant, achieved: f64) -> Option<RateChange> {
        if now.duration_since(self.last_blind_raise) < Self::BLIND_STEP {
            return None;
        }
        self.last_blind_raise = now;
        self.raise(achieved)
    }

    fn judge(&mut self, e: Epoch, until: Instant, achieved: f64) -> Option<RateChange> {
        let ratio = e.answered as f64 / e.completed as f64;
        // Before a baseline exists, the first judgments are compared with a clean path's ratio.
        let base = self.baseline_ratio().unwrap_or(1.0);
        if significantly_below(ratio, e.completed, base) {
            // The path delivered `ratio / base` of what we sent: that is its capacity now. A
            // stretch with no answer at all measured no capacity (an IPS dropping the burst of a
            // slow-start overshoot loses every timing probe of it; a host gone silent is the
            // canary's to judge): it halves the rate, never sends it to the floor.
            let from = e.rate;
            let delivered = if e.answered == 0 {
                e.rate / 2.0
            } else {
                e.rate * (ratio / base) * 0.85
            }
            .clamp(self.min_rate, self.max_rate);
            self.rate = self.rate.min(delivered);
            self.slow_start = false;
            return Some(RateChange::Lowered {
                from,
                rate: self.rate,
                ratio,
                baseline: base,
            });
        }
        self.healthy_until = Some(until);
        // A stretch that fell short of the baseline, if not significantly, may be the start of
        // congestion: it is no evidence of what the path gives when nothing interferes.
        let known = self.baseline_ratio().is_some();
        if !known || ratio >= base - standard_error(ratio, e.completed, base) {
            let (a, c) = self.baseline;
            let (a, c) = (a + e.answered as f64, c + e.completed as f64);
            let scale = (Self::BASELINE_WINDOW / c).min(1.0);
            self.baseline = (a * scale, c * scale);
        }
        self.raise(achieved)
    }

    fn raise(&mut self, achieved: f64) -> Option<RateChange> {
        let next = if self.slow_start {
            self.rate * Self::SLOW_START_GROWTH
        } else {
            self.rate * 1.05 + 10.0
        };
        // Never run far ahead of what the engine manages to send (CPU, max-checks).
        let ceiling = (achieved * 2.0).max(Self::INITIAL_RATE).min(self.max_rate);
        let next = next.min(ceiling).max(self.min_rate);
        if next > self.rate {
            self.rate = next;
            Some(RateChange::Raised { rate: next })
        } else {
            None
        }
    }
}

/// Whether `ratio` over `n` samples is below `base` by more than chance (three standard errors)
/// and by a margin worth acting on.
fn significantly_below(ratio: f64, n: u64, base: f64) -> bool {
    ratio < base - 3.0 * standard_error(ratio, n, base) && ratio < base * 0.92
}

/// The standard error of the difference between `ratio` over `n` samples and `base`.
fn standard_error(ratio: f64, n: u64, base: f64) -> f64 {
    let n = n as f64;
    (base * (1.0 - base) / n + ratio * (1.0 - ratio) / n).sqrt()
}

/// The rate a host that banned us can take without banning us again, from what we sent it.
///
/// A ban rule is a token bucket: a limit `R` per second with a burst of `B` probes, full when the
/// stretch of sending began. The ban struck when the probes sent over `elapsed` exceeded
/// `B + R * elapsed`. Assuming a burst of at most [`BAN_BURST_ALLOWANCE`] worth of the limit
/// (nftables' `limit` and `meter` rules, fail2ban's short windows), the limit is at least
/// `sent / (elapsed + BAN_BURST_ALLOWANCE)`; staying below that (with a margin) keeps the bucket
/// from emptying again. A smaller burst only makes the estimate safer.
pub fn ban_ceiling(sent: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64() + BAN_BURST_ALLOWANCE.as_secs_f64();
    sent as f64 / seconds * 0.95
}

/// The burst a ban rule is assumed to allow, in seconds' worth of its rate.
pub const BAN_BURST_ALLOWANCE: Duration = Duration::from_secs(1);

/// A token bucket that spaces probes evenly at a rate.
///
/// The burst is about two milliseconds' worth (at least four probes): an IPS's token bucket
/// (`limit rate 2000/second` allows a burst of 5 packets in nftables) drops bursts long before
/// it drops the average.
#[derive(Debug)]
pub struct Pacer {
    tokens: f64,
    last: Instant,
}

impl Pacer {
    pub fn new(now: Instant) -> Self {
        Self {
            tokens: 1.0,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant, rate: f64) {
        // Four probes back to back at most at low rates: timer wake-ups come about a millisecond
        // apart, so a burst of one would cap the rate near 1,000/s; four stay inside the burst of
        // five that nftables' `limit` allows by default.
        let burst = (rate * 0.002).max(4.0);
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = now;
    }

    /// Whether a token is available now (without taking it).
    pub fn ready(&mut self, now: Instant, rate: f64) -> bool {
        self.refill(now, rate);
        self.tokens >= 1.0
    }

    /// Takes a token if one is available.
    pub fn try_take(&mut self, now: Instant, rate: f64) -> bool {
        if self.ready(now, rate) {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next token will be there.
    pub fn next_token(&self, rate: f64) -> Instant {
        let missing = (1.0 - self.tokens).max(0.0);
        self.last + Duration::from_secs_f64(missing / rate.max(f64::MIN_POSITIVE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_estimator_follows_rfc6298() {
        let mut e = RttEstimator::default();
        let (min, max, init) = (
            Duration::from_millis(10),
            Duration::from_secs(3),
            Duration::from_secs(1),
        );
        assert_eq!(e.timeout(min, max, init), init);
        e.observe(Duration::from_millis(100));
        assert_eq!(e.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(e.timeout(min, max, init), Duration::from_millis(300));
        for _ in 0..50 {
            e.observe(Duration::from_millis(100));
        }
        assert!(e.timeout(min, max, init) < Duration::from_millis(110));
        assert_eq!(
            e.timeout(Duration::from_millis(200), max, init),
            Duration::from_millis(200)
        );
    }

    /// Drives the controller against a host whose timing probes get through unless the path
    /// drops them: above `limit` probes/s (when given) the excess is dropped, and `loss` is lost
    /// at random. One timing probe per 20 port probes. Returns the rates over time.
    fn simulate(loss: f64, limit: Option<f64>, seconds: u64) -> Vec<f64> {
        let start = Instant::now();
        let mut c = RateController::new(None, start);
        let mut rates = Vec::new();
        let mut rng = 0x1234_5678_u64;
        let mut rand = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % 1_000_000) as f64 / 1_000_000.0
        };
        let mut t = start;
        let step = Duration::from_millis(10);
        let mut carry = 0.0;
        for _ in 0..(seconds * 100) {
            // The engine cannot send faster than its CPU allows: 100,000 probes/s here.
            let rate = c.rate().min(100_000.0);
            carry += (rate / 20.0).max(200.0) * step.as_secs_f64();
            let pass = limit.map_or(1.0, |l| (l / rate).min(1.0));
            while carry >= 1.0 {
                carry -= 1.0;
                let epoch = c.on_send(t);
                let answered = rand() >= loss && rand() < pass;
                c.on_complete(epoch, answered);
            }
            t += step;
            c.update(t, rate);
            rates.push(c.rate());
        }
        rates
    }

    #[test]
    fn ramps_up_quickly_on_a_clean_path() {
        let rates = simulate(0.0, None, 2);
        assert!(
            rates[rates.len() - 1] > 50_000.0,
            "ended at {}",
            rates[rates.len() - 1]
        );
    }

    #[test]
    fn random_loss_is_not_congestion() {
        let rates = simulate(0.06, None, 3);
        assert!(
            rates[rates.len() - 1] > 50_000.0,
            "ended at {}",
            rates[rates.len() - 1]
        );
    }

    #[test]
    fn settles_just_below_a_rate_limit() {
        let rates = simulate(0.03, Some(2000.0), 10);
        let tail = &rates[rates.len() / 2..];
        let mean = tail.iter().sum::<f64>() / tail.len() as f64;
        assert!((1300.0..2300.0).contains(&mean), "mean rate {mean}");
    }

    #[test]
    fn a_stretch_with_no_answer_halves_the_rate_and_never_floors_it() {
        // Seen behind a per-source SYN limit: slow start overshot, the IPS dropped the whole
        // burst, and an epoch judged had no answer at all; it used to set the rate to 5/s.
        let start = Instant::now();
        let mut c = RateController::new(Some(20_000.0), start);
        let mut t = start;
        let mut answered = true;
        let mut silent_cuts = Vec::new();
        for i in 0..300 {
            t += Duration::from_millis(10);
            if i == 150 {
                answered = false;
            }
            for _ in 0..10 {
                let e = c.on_send(t);
                c.on_complete(e, answered);
            }
            if let Some(RateChange::Lowered {
                from, rate, ratio, ..
            }) = c.update(t, c.rate())
                && ratio == 0.0
            {
                silent_cuts.push((from, rate));
            }
        }
        let (from, rate) = *silent_cuts.first().expect("total loss lowers the rate");
        assert!(from > 1000.0, "slow start got to {from}");
        assert!(
            rate >= from / 2.0 - 1e-9,
            "one stretch without an answer cut {from} to {rate}"
        );
    }

    #[test]
    fn no_evidence_means_no_slowing_down() {
        let start = Instant::now();
        let mut c = RateController::new(None, start);
        for i in 1..=10 {
            c.grow_without_evidence(start + Duration::from_millis(100 * i), 1e6);
        }
        assert!(c.rate() > 400.0 * 1.5f64.powi(9), "rate {}", c.rate());
    }

    #[test]
    fn a_ban_caps_the_rate_below_the_limit_the_bucket_allows() {
        // A bucket of 1,000/s with a 1 s burst, full at the start: 3,000 probes in 2 s empty it.
        let ceiling = ban_ceiling(3000, Duration::from_secs(2));
        assert!(ceiling < 1000.0 && ceiling > 850.0, "ceiling {ceiling}");
        let start = Instant::now();
        let mut c = RateController::new(None, start);
        c.cap(ceiling);
        assert!(c.rate() <= ceiling);
        for i in 0..200 {
            let t = start + Duration::from_millis(10 * i);
            for _ in 0..5 {
                let e = c.on_send(t);
                c.on_complete(e, true);
            }
            c.update(t + Duration::from_millis(10), 1e6);
        }
        assert!(c.rate() <= ceiling, "rate {} above {ceiling}", c.rate());
    }

    #[test]
    fn pacer_spaces_probes() {
        let start = Instant::now();
        let mut p = Pacer::new(start);
        let mut sent = 0;
        let mut t = start;
        for _ in 0..1000 {
            t += Duration::from_millis(1);
            while p.try_take(t, 2000.0) {
                sent += 1;
            }
        }
        assert!((1990..=2010).contains(&sent), "sent {sent} in one second");
        // Wake-ups 3 ms apart at 400/s still reach the rate.
        let mut p = Pacer::new(start);
        let (mut sent, mut t) = (0, start);
        for _ in 0..333 {
            t += Duration::from_millis(3);
            while p.try_take(t, 400.0) {
                sent += 1;
            }
        }
        assert!((395..=405).contains(&sent), "sent {sent} at 400/s");
    }
}
