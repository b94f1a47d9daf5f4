//! The probe pump: the engine's connect probes, sent and settled in batches by a few I/O threads.
//!
//! A probe driven as its own future on the async runtime costs a registration and a removal in
//! the runtime's epoll set and, on a fast link where every answer arrives alone, one wake-up of
//! the engine per probe: at tens of thousands of probes a second those wake-ups are most of the
//! scan's cost. Here each I/O thread owns an epoll instance (through `mio`): it starts the
//! probes it is handed, waits for many sockets at once, measures each round trip when the
//! kernel reports the socket, and hands back every outcome of one wait in one batch, so that the
//! engine wakes once per batch. A socket leaves the epoll set by being closed, without another
//! system call. The threads spread the socket work over the cores while the engine, on one
//! task, only schedules and judges.
//!
//! The pump decides nothing: each outcome is the [`ProbeResult`] that [`crate::probe::probe`]
//! would give for the same answer, and a probe nothing answered within its timeout is
//! `no-response`. It must never block the async runtime: the engine only pushes requests and
//! awaits batches.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use socket2::Socket;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::probe::{Connect, LocalError, ProbeResult, classify_local, connect, settle};

/// One probe to send: `tag` comes back with its outcome.
struct Request<T> {
    tag: T,
    addr: SocketAddr,
    timeout: Duration,
}

/// The outcome of one probe, with the tag it was sent with.
pub struct Done<T> {
    pub tag: T,
    pub result: Result<ProbeResult, LocalError>,
}

/// The engine's side of the I/O threads.
pub struct Prober<T> {
    workers: Vec<Worker<T>>,
    /// How many I/O threads to run once they can be started.
    threads: usize,
    /// Requests not yet handed to a thread, one list per thread.
    pending: Vec<Vec<Request<T>>>,
    next: usize,
    /// Probes handed over and not yet given back.
    outstanding: usize,
    /// Outcomes decided without a thread (none could be started): given back first.
    local: Vec<Done<T>>,
    done_tx: UnboundedSender<Vec<Done<T>>>,
    done_rx: UnboundedReceiver<Vec<Done<T>>>,
}

struct Worker<T> {
    requests: Sender<Vec<Request<T>>>,
    waker: Arc<Waker>,
}

/// The token of each thread's waker; probes count up from the next one.
const WAKE: Token = Token(0);
/// Outcomes a thread collects from one wait at most.
const EVENTS: usize = 1024;

impl<T: Send + 'static> Prober<T> {
    /// A pump of `threads` I/O threads (at least one), started on the first probe.
    pub fn new(threads: usize) -> Self {
        let (done_tx, done_rx) = unbounded_channel();
        Self {
            workers: Vec::new(),
            threads: threads.max(1),
            pending: Vec::new(),
            next: 0,
            outstanding: 0,
            local: Vec::new(),
            done_tx,
            done_rx,
        }
    }

    /// Probes sent and not yet given back by [`Self::recv`].
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Queues a probe of `addr`; it goes out at the next [`Self::flush`].
    pub fn send(&mut self, tag: T, addr: SocketAddr, timeout: Duration) {
        self.outstanding += 1;
        if self.workers.len() < self.threads
            && let Err(e) = self.start_worker()
        {
            if self.workers.is_empty() {
                // No thread at all: our machine is out of descriptors or threads. The engine
                // slows down and sends the probe again, as for a socket it could not open.
                self.local.push(Done {
                    tag,
                    result: Err(LocalError::Exhausted(e)),
                });
                return;
            }
            // The threads there are do the work: no further attempt in this scan.
            tracing::debug!(error = %e, threads = self.workers.len(), "fewer probe threads");
            self.threads = self.workers.len();
        }
        let k = self.next % self.workers.len();
        self.next = self.next.wrapping_add(1);
        self.pending[k].push(Request { tag, addr, timeout });
    }

    /// Hands the queued probes to their threads.
    pub fn flush(&mut self) {
        for (worker, pending) in self.workers.iter().zip(&mut self.pending) {
            if pending.is_empty() {
                continue;
            }
            // A thread only ends once this side is dropped, so the send and the wake succeed;
            // were it gone, its probes would never come back and the scan could not end.
            if worker.requests.send(std::mem::take(pending)).is_ok()
                && let Err(e) = worker.waker.wake()
            {
                tracing::warn!(error = %e, "cannot wake a probe thread");
            }
        }
    }

    /// The next batch of outcomes (waits for one while probes are out).
    pub async fn recv(&mut self) -> Option<Vec<Done<T>>> {
        let batch = if self.local.is_empty() {
            self.done_rx.recv().await?
        } else {
            std::mem::take(&mut self.local)
        };
        self.outstanding -= batch.len();
        Some(batch)
    }

    /// A batch of outcomes that is ready now, if any.
    pub fn try_recv(&mut self) -> Option<Vec<Done<T>>> {
        let batch = self.done_rx.try_recv().ok()?;
        self.outstanding -= batch.len();
        Some(batch)
    }

    fn start_worker(&mut self) -> io::Result<()> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (requests, rx) = channel();
        let done = self.done_tx.clone();
        // The thread holds the waker too: closing its eventfd (dropping the last handle) takes
        // it out of the epoll set with any wake-up not yet collected, and the last wake-up, the
        // one that tells the thread to end, would be lost.
        let keep = Arc::clone(&waker);
        std::thread::Builder::new()
            .name("picket-probe".into())
            .spawn(move || {
                pump(poll, &rx, &done);
                drop(keep);
            })?;
        self.workers.push(Worker { requests, waker });
        self.pending.push(Vec::new());
        Ok(())
    }
}

impl<T> Drop for Prober<T> {
    fn drop(&mut self) {
        // The threads see their request channel closed, close their sockets and end.
        for worker in self.workers.drain(..) {
            let Worker { requests, waker } = worker;
            drop(requests);
            // The thread holds its own handle to the waker's eventfd, so this wake-up reaches
            // it although ours is dropped next.
            if let Err(e) = waker.wake() {
                tracing::warn!(error = %e, "cannot wake a probe thread to end it");
            }
        }
    }
}

/// A probe whose handshake is in progress.
struct Open<T> {
    tag: T,
    socket: Socket,
    addr: SocketAddr,
    started: Instant,
}

/// Probes a thread starts before it reads answers again: a large batch goes out in slices, so
/// that answers are read, and their round trips measured, while it is still going out.
const START_SLICE: usize = 256;

/// One I/O thread: starts the probes it is handed, waits for their sockets, and sends back the
/// outcomes of each wait in one batch, until the engine's side is dropped.
fn pump<T>(poll: Poll, requests: &Receiver<Vec<Request<T>>>, done: &UnboundedSender<Vec<Done<T>>>) {
    let mut pump = Pump::new(poll);
    loop {
        loop {
            match requests.try_recv() {
                Ok(batch) => pump.queue.extend(batch),
                Err(TryRecvError::Empty) => break,
                // The scan is over or stopped: dropping `open` closes every socket still out.
                Err(TryRecvError::Disconnected) => return,
            }
        }
        pump.start_some(START_SLICE);
        if !pump.finished.is_empty() && done.send(std::mem::take(&mut pump.finished)).is_err() {
            return;
        }
        let timeout = if pump.queue.is_empty() {
            pump.next_deadline()
        } else {
            Some(Duration::ZERO)
        };
        if let Some(checked) = pump.wait(timeout) {
            pump.expire(checked);
        }
    }
}

/// What one I/O thread holds.
struct Pump<T> {
    poll: Poll,
    events: Events,
    /// Probes handed over and not started yet.
    queue: VecDeque<Request<T>>,
    open: HashMap<usize, Open<T>>,
    deadlines: BinaryHeap<Reverse<(Instant, usize)>>,
    next_token: usize,
    /// Outcomes not sent back yet.
    finished: Vec<Done<T>>,
}

impl<T> Pump<T> {
    fn new(poll: Poll) -> Self {
        Self {
            poll,
            events: Events::with_capacity(EVENTS),
            queue: VecDeque::new(),
            open: HashMap::new(),
            deadlines: BinaryHeap::new(),
            next_token: WAKE.0 + 1,
            finished: Vec::new(),
        }
    }

    /// Starts up to `count` queued probes: each outcome is known at once, or its socket joins
    /// the wait.
    fn start_some(&mut self, count: usize) {
        for _ in 0..count {
            let Some(Request { tag, addr, timeout }) = self.queue.pop_front() else {
                return;
            };
            let token = self.next_token;
            self.next_token = self.next_token.wrapping_add(1).max(WAKE.0 + 1);
            let started = Instant::now();
            let socket = match connect(addr) {
                Connect::Settled(result) => {
                    self.finished.push(Done { tag, result });
                    continue;
                }
                Connect::InProgress(socket) => socket,
            };
            let fd = socket.as_raw_fd();
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut SourceFd(&fd), Token(token), Interest::WRITABLE)
            {
                self.finished.push(Done {
                    tag,
                    result: Err(classify_local(e)),
                });
                continue;
            }
            self.deadlines.push(Reverse((started + timeout, token)));
            self.open.insert(
                token,
                Open {
                    tag,
                    socket,
                    addr,
                    started,
                },
            );
        }
    }

    /// When the next probe out times out (deadlines of probes settled since wake nobody).
    fn next_deadline(&mut self) -> Option<Duration> {
        while let Some(&Reverse((_, token))) = self.deadlines.peek()
            && !self.open.contains_key(&token)
        {
            self.deadlines.pop();
        }
        let &Reverse((at, _)) = self.deadlines.peek()?;
        Some(at.saturating_duration_since(Instant::now()))
    }

    /// Waits up to `timeout` for sockets, settles every one that is ready, and returns when
    /// the last look was taken: every socket answered by then is settled (`None`: the wait
    /// failed, nothing is known).
    fn wait(&mut self, timeout: Option<Duration>) -> Option<Instant> {
        let mut timeout = timeout;
        loop {
            let checked = Instant::now();
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Not expected from epoll_wait on a valid set; pause rather than spin. The
                    // answers it could not read are lost, so nothing is timed out this round.
                    tracing::warn!(error = %e, "waiting for probe sockets failed");
                    std::thread::sleep(Duration::from_millis(10));
                    return None;
                }
            }
            let now = Instant::now();
            let mut seen = 0;
            for event in &self.events {
                seen += 1;
                if event.token() == WAKE {
                    continue;
                }
                if let Some(o) = self.open.remove(&event.token().0) {
                    let result = settle(&o.socket, o.addr, now.duration_since(o.started));
                    self.finished.push(Done { tag: o.tag, result });
                }
            }
            // A full list may have left ready sockets out: look again before anything times
            // out, or an answer read late would count as silence.
            if seen < EVENTS {
                return Some(checked);
            }
            timeout = Some(Duration::ZERO);
        }
    }

    /// Probes still out whose deadline passed by `checked` got no answer.
    fn expire(&mut self, checked: Instant) {
        while let Some(&Reverse((at, token))) = self.deadlines.peek()
            && at <= checked
        {
            self.deadlines.pop();
            if let Some(o) = self.open.remove(&token) {
                self.finished.push(Done {
                    tag: o.tag,
                    result: Ok(ProbeResult::no_response()),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_model::Reason;
    use std::net::TcpListener;

    async fn outcomes(prober: &mut Prober<u32>) -> HashMap<u32, ProbeResult> {
        let mut out = HashMap::new();
        while prober.outstanding() > 0 {
            let Some(batch) = prober.recv().await else {
                break;
            };
            for d in batch {
                out.insert(
                    d.tag,
                    d.result.expect("a loopback probe cannot fail locally"),
                );
            }
        }
        out
    }

    #[tokio::test]
    async fn open_closed_and_silent_ports_come_back_with_their_tags() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let mut prober = Prober::new(2);
        for k in 0..50u32 {
            let addr = if k % 2 == 0 { open } else { closed };
            prober.send(k, addr, Duration::from_secs(2));
        }
        prober.flush();
        let out = outcomes(&mut prober).await;
        assert_eq!(out.len(), 50);
        for (k, r) in &out {
            let want = if k % 2 == 0 {
                Reason::SynAck
            } else {
                Reason::Reset
            };
            assert_eq!(r.reason, want, "probe {k}");
            assert!(r.rtt.is_some());
        }
    }

    #[tokio::test]
    async fn a_probe_nobody_answers_times_out_as_no_response() {
        // A listener whose accept queue is full leaves further SYNs unanswered.
        let listener = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .unwrap();
        listener
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        let mut prober = Prober::new(1);
        for k in 0..8u32 {
            prober.send(k, addr, Duration::from_millis(300));
        }
        prober.flush();
        let started = Instant::now();
        let out = outcomes(&mut prober).await;
        assert_eq!(out.len(), 8);
        let silent = out
            .values()
            .filter(|r| r.reason == Reason::NoResponse)
            .count();
        assert!(
            silent >= 1,
            "a full accept queue answered every SYN: {out:?}"
        );
        assert!(out.values().all(|r| r.reason != Reason::Reset));
        assert!(started.elapsed() >= Duration::from_millis(250));
    }

    #[test]
    fn answers_beyond_one_wait_s_event_list_are_read_before_anything_times_out() {
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let mut pump = Pump::new(Poll::new().unwrap());
        let count = EVENTS * 2;
        pump.queue.extend((0..count).map(|tag| Request {
            tag,
            addr: closed,
            timeout: Duration::ZERO,
        }));
        pump.start_some(count);
        assert!(
            pump.open.len() > EVENTS,
            "the resets must be waited for, not known at connect: {} open",
            pump.open.len()
        );
        // Every deadline has passed and every reset is in: none may be taken for silence.
        std::thread::sleep(Duration::from_millis(50));
        let checked = pump.wait(Some(Duration::ZERO)).unwrap();
        pump.expire(checked);
        assert_eq!(pump.finished.len(), count);
        let silent = pump
            .finished
            .iter()
            .filter(|d| matches!(&d.result, Ok(r) if r.reason == Reason::NoResponse))
            .count();
        assert_eq!(silent, 0);
    }

    #[tokio::test]
    async fn dropping_the_prober_ends_its_threads() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut prober = Prober::new(1);
        prober.send(1u32, listener.local_addr().unwrap(), Duration::from_secs(1));
        prober.flush();
        let out = outcomes(&mut prober).await;
        assert_eq!(out[&1].reason, Reason::SynAck);
        let tx = prober.done_tx.clone();
        drop(prober);
        let deadline = Instant::now() + Duration::from_secs(5);
        // The only other sender of the outcome channel was the thread's: once it ended, ours
        // is the last one.
        while tx.strong_count() > 1 {
            assert!(Instant::now() < deadline, "the probe thread did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
