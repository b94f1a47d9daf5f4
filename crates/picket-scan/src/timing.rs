//! Adaptive timing: round-trip estimation, the probe-rate controller and the pacer.
//!
//! The controller's job is to be fast where the path allows and to back off exactly as much as
//! interference requires, without mistaking random loss or filtered ports for congestion.
//! Because probes go out in a random order over every (host, port) pair, the share of first
//! attempts that get *any* answer is stationary over a scan: filtered ports lower it evenly and a
//! lossy link lowers it by a constant factor. What changes it is a rate limit or a ban in the
//! path. So the controller compares each sending epoch's answer ratio with the baseline of healthy
//! epochs, and when it falls significantly, it sets the rate to what the path delivered.

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

/// First attempts sent during one sending epoch and what became of them.
#[derive(Debug, Clone, Copy, Default)]
struct Epoch {
    sent: u64,
    completed: u64,
    answered: u64,
    rate: f64,
}

/// What the controller decided at an epoch boundary, for the event stream and the run record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateChange {
    Raised {
        rate: f64,
    },
    /// Answers fell from `baseline` to `ratio` of first attempts at `from` probes/s.
    Lowered {
        from: f64,
        rate: f64,
        ratio: f64,
        baseline: f64,
    },
}

/// Sets the probe rate from answer ratios per sending epoch (see the module docs).
#[derive(Debug)]
pub struct RateController {
    rate: f64,
    min_rate: f64,
    max_rate: f64,
    slow_start: bool,
    /// Answers and completions of the epochs judged healthy, over a sliding window of about
    /// [`Self::BASELINE_WINDOW`] first attempts: the answer ratio the path gives when nothing
    /// interferes.
    baseline: (f64, f64),
    epochs: Vec<Epoch>,
    /// Index of the epoch new first attempts are counted in.
    current: usize,
    epoch_started: Instant,
    /// First epoch not yet judged.
    judged: usize,
    /// The highest rate of an epoch judged healthy since the last back-off: the fastest the
    /// path is known to take.
    healthy_rate: Option<f64>,
}

impl RateController {
    pub const INITIAL_RATE: f64 = 400.0;
    pub const MIN_RATE: f64 = 5.0;
    const EPOCH: Duration = Duration::from_millis(50);
    /// Fewest completed first attempts an epoch (or a run of merged epochs) needs to be judged.
    const MIN_SAMPLE: u64 = 40;
    const BASELINE_WINDOW: f64 = 2000.0;

    pub fn new(max_rate: Option<f64>, now: Instant) -> Self {
        let max_rate = max_rate.unwrap_or(f64::INFINITY);
        let rate = Self::INITIAL_RATE.min(max_rate);
        Self {
            rate,
            min_rate: Self::MIN_RATE.min(max_rate),
            max_rate,
            slow_start: true,
            baseline: (0.0, 0.0),
            epochs: vec![Epoch {
                rate,
                ..Epoch::default()
            }],
            current: 0,
            epoch_started: now,
            judged: 0,
            healthy_rate: None,
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The fastest rate the path was last known to take: the highest rate of an epoch judged
    /// healthy since the last back-off, or, before any such epoch, the current rate.
    ///
    /// When a host goes silent this is the rate to blame, not the rate of the moment: answers
    /// are judged a timeout after they were sent, so slow start has already doubled the rate
    /// a few times past the point where the host stopped answering.
    pub fn last_healthy_rate(&self) -> f64 {
        self.healthy_rate.unwrap_or(self.rate.min(self.max_rate))
    }

    /// After interference (a ban, a host gone silent) above `healthy` probes/s: never go above
    /// half of it again in this scan, and start again at 70 % of that ceiling, growing gently.
    /// Each further interference halves the ceiling again: below any ban threshold in a few
    /// steps, however far a burst allowance let slow start overshoot it first.
    pub fn back_off_from(&mut self, healthy: f64) {
        self.max_rate = (healthy * 0.5).max(self.min_rate).min(self.max_rate);
        self.rate = (self.max_rate * 0.7).max(self.min_rate);
        self.slow_start = false;
        self.healthy_rate = None;
    }

    /// Counts a first attempt sent now; returns the epoch it belongs to.
    pub fn on_send(&mut self, now: Instant) -> usize {
        self.roll(now);
        self.epochs[self.current].sent += 1;
        self.current
    }

    /// Records the outcome of a first attempt sent in `epoch`.
    pub fn on_complete(&mut self, epoch: usize, answered: bool) {
        if let Some(e) = self.epochs.get_mut(epoch) {
            e.completed += 1;
            e.answered += u64::from(answered);
        }
    }

    /// A first attempt that will never complete (dropped with its host); keeps its epoch judgeable.
    pub fn on_abandon(&mut self, epoch: usize) {
        if let Some(e) = self.epochs.get_mut(epoch) {
            e.sent = e.sent.saturating_sub(1);
        }
    }

    fn roll(&mut self, now: Instant) {
        if now.duration_since(self.epoch_started) >= Self::EPOCH {
            self.epochs.push(Epoch {
                rate: self.rate,
                ..Epoch::default()
            });
            self.current = self.epochs.len() - 1;
            self.epoch_started = now;
        }
    }

    fn baseline_ratio(&self) -> Option<f64> {
        let (answered, completed) = self.baseline;
        (completed >= Self::MIN_SAMPLE as f64).then(|| answered / completed)
    }

    fn needed_sample(&self) -> u64 {
        // Enough probes to expect ~20 answers at the baseline ratio, so that a fall is significant.
        match self.baseline_ratio() {
            Some(ratio) if ratio > 0.0 => ((20.0 / ratio) as u64).clamp(Self::MIN_SAMPLE, 20_000),
            _ => Self::MIN_SAMPLE,
        }
    }

    /// Judges every closed epoch whose probes have all completed, and adjusts the rate.
    /// `achieved` is the rate the engine really sent at lately: the rate never runs far ahead of it.
    pub fn update(&mut self, now: Instant, achieved: f64) -> Option<RateChange> {
        self.roll(now);
        let mut change = None;
        loop {
            // Merge consecutive complete epochs until the sample is large enough to judge.
            let needed = self.needed_sample();
            let mut merged = Epoch::default();
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
            change = self.judge(merged, achieved).or(change);
        }
    }

    fn judge(&mut self, e: Epoch, achieved: f64) -> Option<RateChange> {
        let ratio = e.answered as f64 / e.completed as f64;
        if let Some(base) = self.baseline_ratio()
            && significantly_below(ratio, e.completed, base)
        {
            // The path delivered `ratio / base` of what we sent: that is its capacity now.
            let from = e.rate;
            self.rate = (e.rate * (ratio / base) * 0.85).clamp(self.min_rate, self.max_rate);
            self.slow_start = false;
            return Some(RateChange::Lowered {
                from,
                rate: self.rate,
                ratio,
                baseline: base,
            });
        }
        // Epochs sent before a back-off, above today's ceiling, say nothing about it.
        if e.rate <= self.max_rate {
            self.healthy_rate = Some(self.healthy_rate.map_or(e.rate, |r| r.max(e.rate)));
        }
        let (a, c) = self.baseline;
        let (a, c) = (a + e.answered as f64, c + e.completed as f64);
        let scale = (Self::BASELINE_WINDOW / c).min(1.0);
        self.baseline = (a * scale, c * scale);
        self.raise(achieved)
    }

    fn raise(&mut self, achieved: f64) -> Option<RateChange> {
        let next = if self.slow_start {
            self.rate * 2.0
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
    let n = n as f64;
    let sigma = (base * (1.0 - base) / n + ratio * (1.0 - ratio) / n).sqrt();
    ratio < base - 3.0 * sigma && ratio < base * 0.92
}

/// A token bucket that spaces probes evenly at the controller's rate.
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

    /// Takes a token if one is available.
    pub fn try_take(&mut self, now: Instant, rate: f64) -> bool {
        self.refill(now, rate);
        if self.tokens >= 1.0 {
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

    /// Drives the controller against a path that answers `density` of probes and drops
    /// everything above `limit` probes/s (when given), with `loss` random loss; returns the
    /// rates it settled on over time.
    fn simulate(density: f64, loss: f64, limit: Option<f64>, seconds: u64) -> Vec<f64> {
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
        for _ in 0..(seconds * 100) {
            // The engine cannot send faster than its CPU allows: 100,000 probes/s here.
            let rate = c.rate().min(100_000.0);
            let n = (rate * step.as_secs_f64()).round() as u64;
            let pass = limit.map_or(1.0, |l| (l / rate).min(1.0));
            for _ in 0..n {
                let epoch = c.on_send(t);
                let answered = rand() < density && rand() >= loss && rand() < pass;
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
        let rates = simulate(1.0, 0.0, None, 2);
        assert!(
            rates[rates.len() - 1] > 50_000.0,
            "ended at {}",
            rates[rates.len() - 1]
        );
    }

    #[test]
    fn random_loss_is_not_congestion() {
        let rates = simulate(1.0, 0.06, None, 2);
        assert!(
            rates[rates.len() - 1] > 50_000.0,
            "ended at {}",
            rates[rates.len() - 1]
        );
    }

    #[test]
    fn filtered_ports_are_not_congestion() {
        let rates = simulate(0.02, 0.0, None, 3);
        assert!(
            rates[rates.len() - 1] > 10_000.0,
            "ended at {}",
            rates[rates.len() - 1]
        );
    }

    #[test]
    fn settles_just_below_a_rate_limit() {
        let rates = simulate(1.0, 0.03, Some(2000.0), 10);
        let tail = &rates[rates.len() / 2..];
        let mean = tail.iter().sum::<f64>() / tail.len() as f64;
        assert!((1300.0..2300.0).contains(&mean), "mean rate {mean}");
    }

    #[test]
    fn interference_sets_a_ceiling_below_the_last_healthy_rate() {
        let start = Instant::now();
        let mut c = RateController::new(None, start);
        c.back_off_from(1400.0);
        assert!((c.rate() - 490.0).abs() < 1e-9, "rate {}", c.rate());
        // However healthy the path looks afterwards, the rate stays at or below 700/s.
        for i in 0..200 {
            let t = start + Duration::from_millis(10 * i);
            let n = (c.rate() / 100.0) as u64 + 1;
            for _ in 0..n {
                let e = c.on_send(t);
                c.on_complete(e, true);
            }
            c.update(t + Duration::from_millis(10), 1e6);
        }
        assert!(c.rate() <= 700.0 && c.rate() > 600.0, "rate {}", c.rate());
        assert!(c.last_healthy_rate() <= 700.0);
        c.back_off_from(c.last_healthy_rate());
        assert!(c.rate() <= 250.0, "lowered again: {}", c.rate());
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
