//! Reading an input at line rate: lines are cut into batches in order, parsed on several
//! threads (the caller's among them: it parses a batch whenever it would otherwise wait), and
//! merged back in input order; a caller's screen looks at each event's head (time,
//! addresses, destination port, transport) and the events it turns down are handed over as their
//! time and the screen's verdict only, never built (no allocation for them).
//!
//! A Zeek TSV row is first read up to the last column a screen needs ([`ZeekTsv::head`]: the
//! columns after it are counted, not split); a row the screen wants is then split and every
//! field checked, without allocating ([`ZeekTsv::row`]). The JSON formats' heads are read by a
//! scan of the whole line that checks every field the full parse checks; a line the quick read
//! is not sure of is parsed whole. Lines that change how the lines after them are read (Zeek's
//! header lines) end a batch and are read on the caller's thread once every batch before them
//! is merged; Suricata `netflow` records, which depend on the record before them, are handed back
//! by the workers and read in order on the caller's thread too. VPC flow logs and conntrack are
//! read line by line as the iterator reads them.
//!
//! This must never change what a reader yields: the events, errors (file, line and words), the
//! stats and their order are exactly those of [`EventReader`]'s iterator, with screened events
//! in the place of the events they stand for. One difference is deliberate: a Zeek TSV row the
//! screen turns down is checked for what the screen reads of it (its column count, time,
//! addresses, destination port and transport), so a bad value in another of its columns (a
//! count, the duration, the source port) makes it the event it stands for here, where the
//! iterator refuses the line. No alert can come from a row turned down, and reading no more of
//! it took a quarter off the wall time of `picket detect` on the benchmark's conn log when no
//! alert is raised (15 paired runs). Memory is bounded by the batches in flight.

use std::collections::{BTreeMap, VecDeque};
use std::io::BufRead;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, mpsc};

use picket_model::{ConnEvent, Timestamp, Transport};

use crate::error::{IngestError, LineProblem};
use crate::input::{Line, LineCtx, LineResult, Parser, opens_multi_line_json};
use crate::lines::Next;
use crate::reader::{EventReader, process};
use crate::suricata::{self, Suricata};
use crate::zeek_tsv::ZeekTsv;
use crate::{ndjson, zeek_json};

/// Bytes in one batch before it is handed out (a longer line still fits whole).
const BATCH_BYTES: usize = 1 << 20;
/// Batches in flight per thread: enough to keep every worker busy while the caller
/// merges, few enough that memory stays a few mebibytes.
const IN_FLIGHT_PER_THREAD: usize = 4;

/// How a screened read spreads its work: over how many threads, the caller's included (1: the
/// caller's alone), in batches of how many lines at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    pub threads: usize,
    pub lines: usize,
}

impl Batching {
    /// Lines in one batch unless told otherwise.
    pub const LINES: usize = 8192;

    /// One thread per processor the process may use (at most 8: the caller's merge cannot
    /// take more).
    pub fn available() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        Self {
            threads,
            lines: Self::LINES,
        }
    }
}

/// What a screen sees of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHead {
    pub ts: Timestamp,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub dst_port: Option<u16>,
    pub proto: Transport,
}

impl EventHead {
    pub fn of(ev: &ConnEvent) -> Self {
        Self {
            ts: ev.ts,
            src: ev.src,
            dst: ev.dst,
            dst_port: ev.dst_port,
            proto: ev.proto,
        }
    }
}

/// One item of a screened read, in input order.
#[derive(Debug)]
pub enum Screened<V> {
    /// An event the screen wanted whole. Boxed, as the error is: most items are heads, and
    /// an item is moved to the caller's closure, so it is kept a few words long.
    Event(Box<ConnEvent>),
    /// An event the screen turned down: its time and the screen's verdict.
    Head { ts: Timestamp, verdict: V },
    /// What the iterator would have yielded as an error (a line error, or one that ends the
    /// input).
    Error(Box<IngestError>),
}

/// What a worker made of one line.
enum Out<V> {
    Nothing,
    Other(String),
    Event(Box<ConnEvent>),
    Head(Timestamp, V),
    Error(Box<IngestError>),
    /// An error that ends the input (JSON spread over lines).
    Fatal(Box<IngestError>),
    /// A line only the caller's parser, in order, may read.
    Sequential(u64, Vec<u8>),
}

/// Lines cut from the input, all read with the same parser state.
struct Batch {
    seq: u64,
    parser: Arc<Parser>,
    first_line: u64,
    buf: Vec<u8>,
    /// Each line's end in `buf`, and whether it was too long (its bytes dropped).
    ends: Vec<(usize, Next)>,
    limit: usize,
}

impl Batch {
    /// The batch's buffers, for the next batch to fill: a batch's worth of fresh memory each
    /// time would cost a page fault for every page of the input.
    fn spare(self) -> Spare {
        Spare {
            buf: self.buf,
            ends: self.ends,
        }
    }
}

/// The buffers of a parsed batch.
struct Spare {
    buf: Vec<u8>,
    ends: Vec<(usize, Next)>,
}

/// What ends a batch besides its size: a line to read in order on the caller's thread once
/// the batch is merged, or the error that ends the input.
enum Tail {
    Layout(u64, Vec<u8>),
    Fatal(IngestError),
}

impl<R: BufRead> EventReader<R> {
    /// Reads the rest of the input as the iterator would, on `threads` threads (1: on this one),
    /// handing each item to `each` in input order until it breaks. `screen` sees every event's
    /// head: `Some(verdict)` hands the event over as [`Screened::Head`], `None` whole.
    pub fn read_screened<V, F>(
        &mut self,
        how: Batching,
        screen: &F,
        each: &mut dyn FnMut(Screened<V>) -> ControlFlow<()>,
    ) where
        V: Send,
        F: Fn(&EventHead) -> Option<V> + Sync,
    {
        if self.done {
            return;
        }
        if let Err(e) = self.ensure_parser() {
            let _ = each(Screened::Error(Box::new(e)));
            return;
        }
        let batched = matches!(
            self.parser,
            Some(Parser::ZeekTsv(_) | Parser::ZeekJson | Parser::Suricata(_) | Parser::Ndjson)
        );
        if !batched {
            for item in self.by_ref() {
                if each(screened(item, screen)).is_break() {
                    return;
                }
            }
            return;
        }
        let file: Arc<str> = Arc::from(self.file.as_str());
        let (threads, lines) = (how.threads, how.lines.max(1));
        if threads <= 1 {
            let mut exec = Inline {
                done: VecDeque::new(),
                file,
                screen,
                spare: None,
            };
            self.drive(&mut exec, lines, 2, screen, each);
            return;
        }
        let (jobs, job_rx) = mpsc::sync_channel::<Batch>(threads * 2);
        let job_rx = Mutex::new(job_rx);
        let (out_tx, results) = mpsc::channel::<(u64, Vec<Out<V>>, Spare)>();
        std::thread::scope(|scope| {
            // The caller is one of the threads: it parses a batch whenever it would otherwise
            // wait (for room in the queue, or for the oldest batch), so that no more threads
            // than `threads` compete for the processors.
            for _ in 1..threads {
                let out_tx = out_tx.clone();
                let job_rx = &job_rx;
                let file = file.clone();
                scope.spawn(move || {
                    loop {
                        let next = match job_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => break,
                        };
                        let Ok(batch) = next else { break };
                        let outs = work(&batch, &file, screen);
                        if out_tx.send((batch.seq, outs, batch.spare())).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(out_tx);
            let mut exec = Threads {
                jobs: Some(jobs),
                job_rx: &job_rx,
                results,
                waiting: BTreeMap::new(),
                next: 0,
                in_flight: 0,
                spares: Vec::new(),
                file,
                screen,
            };
            self.drive(
                &mut exec,
                lines,
                threads * IN_FLIGHT_PER_THREAD,
                screen,
                each,
            );
            // Dropping the sender ends the workers' loops; the scope joins them.
            exec.jobs = None;
        });
    }

    /// Cuts batches, hands them to `exec`, and merges what comes back in order.
    fn drive<V, F>(
        &mut self,
        exec: &mut dyn Exec<V>,
        batch_lines: usize,
        max_in_flight: usize,
        screen: &F,
        each: &mut dyn FnMut(Screened<V>) -> ControlFlow<()>,
    ) where
        F: Fn(&EventHead) -> Option<V>,
    {
        let Some(parser) = &self.parser else { return };
        let mut snapshot = Arc::new(parser.clone());
        let mut tails: BTreeMap<u64, Tail> = BTreeMap::new();
        let mut seq = 0u64;
        let mut reading = true;
        // A batch ended at a line that changes the parser: nothing more is cut until it is read.
        let mut barrier = false;
        loop {
            while reading && !barrier && exec.in_flight() < max_in_flight {
                let (batch, tail) = self.cut(seq, batch_lines, &snapshot, exec.spare());
                match tail {
                    Some(Some(tail)) => {
                        barrier = true;
                        tails.insert(seq, tail);
                    }
                    Some(None) => reading = false,
                    None => {}
                }
                exec.submit(batch);
                seq += 1;
            }
            let Some((done, outs)) = exec.next_in_order() else {
                return;
            };
            // After a break the lines of the batches still in flight are gone: the reader is
            // done, whoever stopped it.
            if self.merge(outs, screen, each).is_break() {
                self.done = true;
                return;
            }
            match tails.remove(&done) {
                Some(Tail::Layout(line, bytes)) => {
                    if self.sequential(line, &bytes, screen, each).is_break() {
                        self.done = true;
                        return;
                    }
                    if let Some(parser) = &self.parser {
                        snapshot = Arc::new(parser.clone());
                    }
                    barrier = false;
                }
                Some(Tail::Fatal(e)) => {
                    self.done = true;
                    let _ = each(Screened::Error(Box::new(e)));
                    return;
                }
                None => {}
            }
            if !reading && exec.in_flight() == 0 {
                self.done = true;
                return;
            }
        }
    }

    /// The next batch of lines. The tail is `None` when the batch is full, `Some(None)` at the
    /// end of the input, `Some(Some(..))` when a line or an error must follow the batch.
    fn cut(
        &mut self,
        seq: u64,
        max_lines: usize,
        parser: &Arc<Parser>,
        spare: Option<Spare>,
    ) -> (Batch, Option<Option<Tail>>) {
        let (buf, ends) = match spare {
            Some(Spare { mut buf, mut ends }) => {
                buf.clear();
                ends.clear();
                (buf, ends)
            }
            None => (
                Vec::with_capacity(max_lines.saturating_mul(128).min(BATCH_BYTES)),
                Vec::with_capacity(max_lines.min(Batching::LINES)),
            ),
        };
        let mut batch = Batch {
            seq,
            parser: parser.clone(),
            first_line: self.line_no + 1,
            buf,
            ends,
            limit: self.lines.limit(),
        };
        let layout = matches!(**parser, Parser::ZeekTsv(_));
        let limit = batch.limit;
        while batch.ends.len() < max_lines && batch.buf.len() < BATCH_BYTES {
            // The lines wholly in the reader's buffer go straight into the batch (one copy);
            // a line cut by the buffer's end goes through the line buffer below.
            if self.replay.is_empty() && self.lines.pending() == 0 {
                let avail = match self.src.fill_buf() {
                    Ok(avail) => avail,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(source) => {
                        let e = IngestError::Io {
                            file: self.file.clone(),
                            line: self.line_no,
                            source,
                        };
                        return (batch, Some(Some(Tail::Fatal(e))));
                    }
                };
                if avail.is_empty() {
                    return (batch, Some(None));
                }
                let mut used = 0;
                let mut tail = None;
                while batch.ends.len() < max_lines && batch.buf.len() < BATCH_BYTES {
                    let Some(i) = memchr::memchr(b'\n', &avail[used..]) else {
                        break;
                    };
                    let line = &avail[used..used + i];
                    used += i + 1;
                    self.line_no += 1;
                    if i > limit {
                        batch.ends.push((batch.buf.len(), Next::TooLong));
                        continue;
                    }
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if layout && ZeekTsv::changes_layout(line) {
                        tail = Some(Tail::Layout(self.line_no, line.to_vec()));
                        break;
                    }
                    batch.buf.extend_from_slice(line);
                    batch.ends.push((batch.buf.len(), Next::Line));
                }
                if used > 0 {
                    self.src.consume(used);
                    if tail.is_some() {
                        return (batch, Some(tail));
                    }
                    continue;
                }
            }
            let (kind, replayed) = match self.replay.pop_front() {
                Some((kind, bytes)) => (kind, Some(bytes)),
                None => match self.read() {
                    Ok(Next::Eof) => return (batch, Some(None)),
                    Ok(kind) => (kind, None),
                    Err(source) => {
                        let e = IngestError::Io {
                            file: self.file.clone(),
                            line: self.line_no,
                            source,
                        };
                        return (batch, Some(Some(Tail::Fatal(e))));
                    }
                },
            };
            self.line_no += 1;
            let bytes = match &replayed {
                Some(bytes) => bytes.as_slice(),
                None => self.lines.line(),
            };
            if layout && kind == Next::Line && ZeekTsv::changes_layout(bytes) {
                let tail = Tail::Layout(self.line_no, bytes.to_vec());
                return (batch, Some(Some(tail)));
            }
            batch.buf.extend_from_slice(bytes);
            batch.ends.push((batch.buf.len(), kind));
        }
        (batch, None)
    }

    /// Counts a batch's lines into the stats and hands its items over, in order.
    fn merge<V, F>(
        &mut self,
        outs: Vec<Out<V>>,
        screen: &F,
        each: &mut dyn FnMut(Screened<V>) -> ControlFlow<()>,
    ) -> ControlFlow<()>
    where
        F: Fn(&EventHead) -> Option<V>,
    {
        for out in outs {
            let item = match out {
                Out::Sequential(line, bytes) => {
                    self.sequential(line, &bytes, screen, each)?;
                    continue;
                }
                Out::Nothing => {
                    self.stats.lines += 1;
                    self.stats.skipped += 1;
                    continue;
                }
                Out::Other(kind) => {
                    self.stats.lines += 1;
                    self.stats.skipped += 1;
                    self.stats.skip_type(kind);
                    continue;
                }
                Out::Event(ev) => {
                    self.stats.lines += 1;
                    self.stats.events += 1;
                    Screened::Event(ev)
                }
                Out::Head(ts, verdict) => {
                    self.stats.lines += 1;
                    self.stats.events += 1;
                    Screened::Head { ts, verdict }
                }
                Out::Error(e) => {
                    self.stats.lines += 1;
                    self.stats.errors += 1;
                    Screened::Error(e)
                }
                Out::Fatal(e) => {
                    self.stats.lines += 1;
                    self.stats.errors += 1;
                    self.done = true;
                    let _ = each(Screened::Error(e));
                    return ControlFlow::Break(());
                }
            };
            each(item)?;
        }
        ControlFlow::Continue(())
    }

    /// One line read by this reader's own parser, in order (as the iterator reads it).
    fn sequential<V, F>(
        &mut self,
        line: u64,
        bytes: &[u8],
        screen: &F,
        each: &mut dyn FnMut(Screened<V>) -> ControlFlow<()>,
    ) -> ControlFlow<()>
    where
        F: Fn(&EventHead) -> Option<V>,
    {
        let ctx = LineCtx {
            file: &self.file,
            line,
            now: &self.clock,
        };
        let limit = self.lines.limit();
        let Some(parser) = self.parser.as_mut() else {
            return ControlFlow::Break(());
        };
        match process(parser, &mut self.stats, &ctx, Next::Line, bytes, limit) {
            None => ControlFlow::Continue(()),
            Some(item) => {
                let fatal = item.as_ref().is_err_and(|e| !e.is_line_error());
                self.done = self.done || fatal;
                each(screened(item, screen))?;
                if fatal {
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            }
        }
    }
}

fn screened<V, F>(item: Result<ConnEvent, IngestError>, screen: &F) -> Screened<V>
where
    F: Fn(&EventHead) -> Option<V>,
{
    match item {
        Ok(ev) => match screen(&EventHead::of(&ev)) {
            Some(verdict) => Screened::Head { ts: ev.ts, verdict },
            None => Screened::Event(Box::new(ev)),
        },
        Err(e) => Screened::Error(Box::new(e)),
    }
}

/// Where batches are parsed: here, or on worker threads.
trait Exec<V> {
    fn submit(&mut self, batch: Batch);
    fn in_flight(&self) -> usize;
    /// The oldest batch's items, waiting for them if need be; `None` when none is in flight.
    fn next_in_order(&mut self) -> Option<(u64, Vec<Out<V>>)>;
    /// The buffers of a batch parsed already, if any.
    fn spare(&mut self) -> Option<Spare>;
}

struct Inline<'a, V, F> {
    done: VecDeque<(u64, Vec<Out<V>>)>,
    file: Arc<str>,
    screen: &'a F,
    spare: Option<Spare>,
}

impl<V, F> Exec<V> for Inline<'_, V, F>
where
    F: Fn(&EventHead) -> Option<V>,
{
    fn submit(&mut self, batch: Batch) {
        let outs = work(&batch, &self.file, self.screen);
        self.done.push_back((batch.seq, outs));
        self.spare = Some(batch.spare());
    }

    fn in_flight(&self) -> usize {
        self.done.len()
    }

    fn next_in_order(&mut self) -> Option<(u64, Vec<Out<V>>)> {
        self.done.pop_front()
    }

    fn spare(&mut self) -> Option<Spare> {
        self.spare.take()
    }
}

struct Threads<'a, V, F> {
    jobs: Option<mpsc::SyncSender<Batch>>,
    /// The workers' queue, from which the caller takes a batch when it would wait.
    job_rx: &'a Mutex<mpsc::Receiver<Batch>>,
    results: mpsc::Receiver<(u64, Vec<Out<V>>, Spare)>,
    /// Batches finished ahead of an older one.
    waiting: BTreeMap<u64, Vec<Out<V>>>,
    next: u64,
    in_flight: usize,
    /// The buffers of parsed batches, for the next ones.
    spares: Vec<Spare>,
    file: Arc<str>,
    screen: &'a F,
}

impl<V, F> Threads<'_, V, F>
where
    F: Fn(&EventHead) -> Option<V>,
{
    /// Parses a batch on the caller's thread (it counts as in flight until merged).
    fn work_here(&mut self, batch: Batch) {
        let outs = work(&batch, &self.file, self.screen);
        self.waiting.insert(batch.seq, outs);
        self.spares.push(batch.spare());
    }

    /// A batch waiting in the workers' queue, unless a worker holds the queue (it is empty).
    fn queued(&self) -> Option<Batch> {
        self.job_rx.try_lock().ok()?.try_recv().ok()
    }
}

impl<V, F> Exec<V> for Threads<'_, V, F>
where
    F: Fn(&EventHead) -> Option<V>,
{
    fn submit(&mut self, batch: Batch) {
        let Some(jobs) = &self.jobs else { return };
        match jobs.try_send(batch) {
            Ok(()) => self.in_flight += 1,
            // The workers are behind: the caller takes this one.
            Err(mpsc::TrySendError::Full(batch)) => {
                self.in_flight += 1;
                self.work_here(batch);
            }
            Err(mpsc::TrySendError::Disconnected(_)) => {}
        }
    }

    fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn next_in_order(&mut self) -> Option<(u64, Vec<Out<V>>)> {
        if self.in_flight == 0 {
            return None;
        }
        let outs = loop {
            if let Some(outs) = self.waiting.remove(&self.next) {
                break outs;
            }
            let (seq, outs, spare) = match self.results.try_recv() {
                Ok(done) => done,
                Err(mpsc::TryRecvError::Empty) => {
                    // Rather than wait, parse a batch still queued (perhaps the oldest).
                    if let Some(batch) = self.queued() {
                        self.work_here(batch);
                        continue;
                    }
                    // Every worker gone with batches in flight: a worker panicked; what it held
                    // is lost, so the read ends here rather than hand out lines out of order.
                    self.results.recv().ok()?
                }
                Err(mpsc::TryRecvError::Disconnected) => return None,
            };
            self.waiting.insert(seq, outs);
            self.spares.push(spare);
        };
        let seq = self.next;
        self.next += 1;
        self.in_flight -= 1;
        Some((seq, outs))
    }

    fn spare(&mut self) -> Option<Spare> {
        self.spares.pop()
    }
}

/// Parses a batch as the iterator would parse each of its lines.
fn work<V, F>(batch: &Batch, file: &str, screen: &F) -> Vec<Out<V>>
where
    F: Fn(&EventHead) -> Option<V>,
{
    // The batched formats never read the clock (only conntrack lines without a time do).
    let now = || Timestamp::UNIX_EPOCH;
    let mut outs = Vec::with_capacity(batch.ends.len());
    // The batch checked as UTF-8 at once, not line by line: a line of it whose ends are
    // character boundaries is text. Any other line (one in a batch that is not all text, or one
    // that ends inside a character) is checked on its own.
    let text = std::str::from_utf8(&batch.buf).ok();
    let mut start = 0;
    for (i, (end, kind)) in batch.ends.iter().enumerate() {
        let bytes = batch.buf.get(start..*end).unwrap_or_default();
        let checked = text.and_then(|text| text.get(start..*end));
        start = *end;
        let ctx = LineCtx {
            file,
            line: batch.first_line + i as u64,
            now: &now,
        };
        let error = |problem| {
            Out::Error(Box::new(IngestError::Line {
                file: file.to_owned(),
                line: ctx.line,
                problem,
            }))
        };
        if batch.parser.is_json() && opens_multi_line_json(bytes) {
            outs.push(Out::Fatal(Box::new(IngestError::MultiLineJson {
                file: file.to_owned(),
                line: ctx.line,
            })));
            break;
        }
        if *kind == Next::TooLong {
            outs.push(error(LineProblem::TooLong { limit: batch.limit }));
            continue;
        }
        let Some(line) = checked.or_else(|| std::str::from_utf8(bytes).ok()) else {
            outs.push(error(LineProblem::malformed("not UTF-8 text")));
            continue;
        };
        let parsed = match &*batch.parser {
            Parser::ZeekTsv(p) => {
                if line.is_empty() {
                    Ok(Line::Nothing)
                } else if ZeekTsv::changes_layout(bytes) {
                    // Cut out of every batch before it gets here.
                    outs.push(Out::Sequential(ctx.line, bytes.to_vec()));
                    continue;
                } else if let Some(head) = p.head(line)
                    && let Some(verdict) = screen(&head)
                {
                    outs.push(Out::Head(head.ts, verdict));
                    continue;
                } else {
                    match p.row(line) {
                        Ok(row) => {
                            let head = EventHead {
                                ts: row.ts,
                                src: row.src,
                                dst: row.dst,
                                dst_port: row.dst_port,
                                proto: row.proto,
                            };
                            outs.push(match screen(&head) {
                                Some(verdict) => Out::Head(row.ts, verdict),
                                None => Out::Event(Box::new(row.event(&ctx))),
                            });
                            continue;
                        }
                        Err(problem) => Err(problem),
                    }
                }
            }
            Parser::Suricata(_) | Parser::ZeekJson
                if let Some(head) = quick_head(&batch.parser, line)
                    && let Some(verdict) = screen(&head) =>
            {
                outs.push(Out::Head(head.ts, verdict));
                continue;
            }
            Parser::Suricata(_) => match Suricata::parse_stateless(line, &ctx) {
                Some(parsed) => parsed,
                None => {
                    outs.push(Out::Sequential(ctx.line, bytes.to_vec()));
                    continue;
                }
            },
            Parser::ZeekJson => zeek_json::parse(line, &ctx),
            Parser::Ndjson => ndjson::parse(line, &ctx),
            Parser::VpcFlow(_) | Parser::Conntrack => {
                outs.push(Out::Sequential(ctx.line, bytes.to_vec()));
                continue;
            }
        };
        outs.push(out(parsed, screen, error));
    }
    outs
}

/// The head of a JSON line's event when a quick read is sure of it (see `zeek_json::head`).
fn quick_head(parser: &Parser, line: &str) -> Option<EventHead> {
    match parser {
        Parser::ZeekJson => zeek_json::head(line),
        Parser::Suricata(_) => suricata::flow_head(line),
        _ => None,
    }
}

fn out<V, F>(parsed: LineResult, screen: &F, error: impl Fn(LineProblem) -> Out<V>) -> Out<V>
where
    F: Fn(&EventHead) -> Option<V>,
{
    match parsed {
        Ok(Line::Event(ev)) => match screen(&EventHead::of(&ev)) {
            Some(verdict) => Out::Head(ev.ts, verdict),
            None => Out::Event(Box::new(ev)),
        },
        Ok(Line::Nothing) => Out::Nothing,
        Ok(Line::Other(kind)) => Out::Other(kind),
        Err(problem) => error(problem),
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use proptest::prelude::*;

    use super::*;
    use crate::Input;

    const HEADER: &str =
        "#separator \\x09\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n";

    /// Lines of a Zeek TSV log: rows, bad rows, header lines mid-file, CR LF, blank lines.
    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => (0u32..1000, 0u8..4, 0u16..100).prop_map(|(t, c, p)| format!("{t}.5\t198.51.100.{c}\t4000\t10.0.0.5\t{p}\ttcp\n")),
            1 => (0u32..1000).prop_map(|t| format!("{t}.5\t198.51.100.1\t4000\t10.0.0.5\tabc\ttcp\r\n")),
            // A bad source port: no business of a screen (see below).
            1 => (0u32..1000, 0u16..100).prop_map(|(t, p)| format!("{t}.5\t198.51.100.1\tx\t10.0.0.5\t{p}\ttcp\n")),
            1 => Just("#fields\tid.orig_h\tts\tid.resp_h\tid.resp_p\tproto\tid.orig_p\n".to_owned()),
            1 => Just("1.5\tshort\n".to_owned()),
            1 => Just("\n".to_owned()),
            1 => Just("\u{fffd}\t\n".to_owned()),
        ]
    }

    /// [`line`]s, and lines that are not UTF-8: a stray byte, and a character cut in two
    /// lines (together they are text, each on its own is not).
    fn line_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            12 => line().prop_map(String::into_bytes),
            1 => Just(b"1.5\t\xff\n".to_vec()),
            1 => Just(b"\xe6\n".to_vec()),
            1 => Just(b"\x97\xa5\n".to_vec()),
        ]
    }

    fn one_at_a_time(
        log: &[u8],
        cap: usize,
    ) -> (Vec<Result<ConnEvent, IngestError>>, crate::Stats) {
        let mut r = EventReader::new(
            BufReader::with_capacity(cap, log),
            "x",
            Some(Input::ZeekTsv),
        );
        let items = r.by_ref().collect();
        (items, r.stats())
    }

    proptest! {
        #[test]
        fn batches_cut_at_any_buffer_size_read_as_one_line_at_a_time(
            lines in prop::collection::vec(line_bytes(), 0..60),
            cap in 1usize..256,
            threads in 1usize..4,
            batch in 1usize..6,
            last_newline in any::<bool>(),
        ) {
            let mut log = [HEADER.as_bytes().to_vec(), lines.concat()].concat();
            if !last_newline {
                log.pop();
            }
            let (want, mut want_stats) = one_at_a_time(&log, cap);
            let mut r = EventReader::new(
                BufReader::with_capacity(cap, log.as_slice()),
                "x",
                Some(Input::ZeekTsv),
            );
            let mut got = Vec::new();
            let screen = |h: &EventHead| (h.dst_port.unwrap_or(0) % 2 == 1).then_some(*h);
            r.read_screened(Batching { threads, lines: batch }, &screen, &mut |item| {
                got.push(item);
                ControlFlow::Continue(())
            });
            prop_assert_eq!(got.len(), want.len());
            for (got, want) in got.iter().zip(&want) {
                match (got, want) {
                    (Screened::Event(ev), Ok(w)) => prop_assert_eq!(&**ev, w),
                    (Screened::Head { verdict, .. }, Ok(w)) => prop_assert_eq!(*verdict, EventHead::of(w)),
                    (Screened::Error(e), Err(w)) => prop_assert_eq!(e.to_string(), w.to_string()),
                    // Turned down on its head (the screen turns down odd ports).
                    (Screened::Head { verdict, .. }, Err(w)) if w.is_outside_zeek_tsv_head() => {
                        prop_assert_eq!(verdict.dst_port.map(|p| p % 2), Some(1));
                        want_stats.errors -= 1;
                        want_stats.events += 1;
                    }
                    _ => prop_assert!(false, "{:?} where one at a time read {:?}", got, want),
                }
            }
            prop_assert_eq!(r.stats(), want_stats);
        }
    }
}
