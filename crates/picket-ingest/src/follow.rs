//! Following a growing log file from a checkpoint, across rotation and truncation.

use std::fs::{self, File};
use std::io::{self, BufReader, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use picket_model::{ConnEvent, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::IngestError;
use crate::input::{DETECT_LINES, Input, LineCtx, Parser, opens_multi_line_json};
use crate::lines::{LineBuf, MAX_LINE, Next};
use crate::reader::{Clock, Stats, process};

/// How much of a file's beginning identifies it. The first line alone would not do: every Zeek
/// log starts with the same `#separator \x09`, while its `#open` line a few lines later holds
/// the time the log was opened.
const HEAD_MAX: u64 = 4096;

/// How much of what was read last identifies the place where reading stopped.
const MARK_MAX: u64 = 4096;

/// Where a follower stands in a file, to persist and resume from.
///
/// `offset` is the byte just after the last line consumed (the line of the last event handed
/// out, or a later skipped line): resuming there repeats and loses nothing. `dev`/`inode`,
/// the hash of the file's first `head_len` bytes (at most 4 KiB, all already read) and the hash
/// of up to 4 KiB read before `mark_end` tell whether the path still names the same file with
/// the same content: a log truncated and written again to beyond the offset keeps its inode
/// and its size, often its first lines, but not the bytes where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub path: PathBuf,
    /// The format; `None` until detected.
    pub input: Option<Input>,
    pub offset: u64,
    /// Lines consumed, so that resumed events keep their line numbers.
    pub line: u64,
    pub dev: u64,
    pub inode: u64,
    pub head_len: u64,
    /// xxh3-64 of the first `head_len` bytes.
    pub head_hash: u64,
    /// xxh3-64 of the `mark_len` bytes that end at `mark_end` (at most `offset`): the last bytes
    /// read when the follower last reached the end of the file.
    #[serde(default)]
    pub mark_end: u64,
    #[serde(default)]
    pub mark_len: u64,
    #[serde(default = "empty_hash")]
    pub mark_hash: u64,
    /// The header lines in force at `offset` (Zeek `#fields`, a VPC header), replayed into the
    /// parser on resume instead of re-reading the file from the start.
    pub header: Vec<String>,
}

impl Checkpoint {
    /// The beginning of a file not read yet.
    pub fn start(path: impl Into<PathBuf>, input: Option<Input>) -> Self {
        Self {
            path: path.into(),
            input,
            offset: 0,
            line: 0,
            dev: 0,
            inode: 0,
            head_len: 0,
            head_hash: hash(&[]),
            mark_end: 0,
            mark_len: 0,
            mark_hash: hash(&[]),
            header: Vec::new(),
        }
    }
}

fn hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

fn empty_hash() -> u64 {
    hash(&[])
}

/// Reads a growing file line by line, yielding events for complete lines only: a last line
/// still being written waits for its newline.
///
/// [`Follower::next_event`] returns `None` when nothing more is available yet; the caller
/// waits (how long is its choice) and asks again. After each item, [`Follower::checkpoint`]
/// says where to resume. When the path is renamed away and a new file takes its place
/// (rotation), the follower reads what was left in the old file, then starts the new one from
/// its beginning. When the file shrinks below the offset, or its beginning or the bytes where
/// reading last stopped change (truncation, also when written again past the offset before the
/// follower looks; in-place rewrite), it starts again from the beginning.
pub struct Follower {
    cp: Checkpoint,
    label: String,
    file: Option<BufReader<File>>,
    parser: Option<Parser>,
    lines: LineBuf,
    stats: Stats,
    clock: Clock,
    /// The path named another file at the last end of input: read the old one once more for
    /// lines written just before the rename, then switch.
    rotation_seen: bool,
    /// The end of the file was reached: before the next line is consumed, make sure the file
    /// was not truncated and written again meanwhile (to beyond the offset, so that its size
    /// alone does not say).
    verify_next: bool,
    /// The format could not be detected: nothing more will be read.
    failed: bool,
}

impl Follower {
    /// Follows `path` from its beginning.
    pub fn new(path: impl Into<PathBuf>, input: Option<Input>) -> Self {
        Self::resume(Checkpoint::start(path, input))
    }

    /// Follows from a saved checkpoint. If the path no longer names the same file, or the file
    /// was truncated or rewritten, reading starts at the beginning of what is there now.
    pub fn resume(cp: Checkpoint) -> Self {
        Self {
            label: cp.path.display().to_string(),
            cp,
            file: None,
            parser: None,
            lines: LineBuf::new(MAX_LINE),
            stats: Stats::default(),
            clock: Box::new(Timestamp::now),
            rotation_seen: false,
            verify_next: false,
            failed: false,
        }
    }

    /// Replaces the wall clock used for lines without a time of their own.
    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// Where to resume after the last item handed out.
    pub fn checkpoint(&self) -> Checkpoint {
        let mut cp = self.cp.clone();
        if let Some(p) = &self.parser {
            cp.header = p.header();
        }
        cp
    }

    pub fn stats(&self) -> Stats {
        self.stats.clone()
    }

    pub fn path(&self) -> &Path {
        &self.cp.path
    }

    /// The next event or line error, or `None` when no complete line is available now.
    pub fn next_event(&mut self) -> Option<Result<ConnEvent, IngestError>> {
        if self.failed {
            return None;
        }
        loop {
            if self.file.is_none() {
                match self.open() {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => return Some(Err(e)),
                }
            }
            if self.parser.is_none() {
                match self.detect() {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => return Some(Err(e)),
                }
            }
            let reader = self.file.as_mut()?;
            let kind = match self.lines.next(reader) {
                Ok(kind) => kind,
                Err(e) => return Some(Err(self.io(e))),
            };
            if kind == Next::Eof {
                match self.check_file() {
                    Ok(true) => continue,
                    Ok(false) => return None,
                    Err(e) => return Some(Err(e)),
                }
            }
            if std::mem::take(&mut self.verify_next) {
                match self.rewritten() {
                    Ok(true) => {
                        if let Err(e) = self.restart() {
                            return Some(Err(e));
                        }
                        continue;
                    }
                    Ok(false) => {}
                    Err(e) => return Some(Err(e)),
                }
            }
            self.rotation_seen = false;
            self.cp.offset += self.lines.taken();
            self.cp.line += 1;
            if let Err(e) = self.extend_head() {
                return Some(Err(e));
            }
            let ctx = LineCtx {
                file: &self.label,
                line: self.cp.line,
                now: &self.clock,
            };
            let parser = self.parser.as_mut()?;
            if let Some(item) = process(
                parser,
                &mut self.stats,
                &ctx,
                kind,
                self.lines.line(),
                self.lines.limit(),
            ) {
                self.failed = item.as_ref().is_err_and(|e| !e.is_line_error());
                return Some(item);
            }
        }
    }

    fn io(&self, source: io::Error) -> IngestError {
        IngestError::Io {
            file: self.label.clone(),
            line: self.cp.line,
            source,
        }
    }

    /// Opens the path; `false` if there is no file there (yet).
    fn open(&mut self) -> Result<bool, IngestError> {
        let f = match File::open(&self.cp.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.io(e)),
        };
        let meta = f.metadata().map_err(|e| self.io(e))?;
        let same = meta.dev() == self.cp.dev
            && meta.ino() == self.cp.inode
            && meta.len() >= self.cp.offset
            && same_content(&f, &self.cp).map_err(|e| self.io(e))?;
        if same {
            self.parser = self.cp.input.map(|input| {
                let mut p = Parser::new(input);
                let now = || Timestamp::UNIX_EPOCH;
                for (i, line) in self.cp.header.iter().enumerate() {
                    let ctx = LineCtx {
                        file: &self.label,
                        line: i as u64,
                        now: &now,
                    };
                    // The header was accepted when first read; a problem then was reported then.
                    let _ = p.parse(line, &ctx);
                }
                p
            });
        } else {
            self.cp = Checkpoint {
                dev: meta.dev(),
                inode: meta.ino(),
                ..Checkpoint::start(self.cp.path.clone(), self.cp.input)
            };
            self.parser = self.cp.input.map(Parser::new);
        }
        let mut reader = BufReader::with_capacity(1 << 16, f);
        reader
            .seek(SeekFrom::Start(self.cp.offset))
            .map_err(|e| self.io(e))?;
        self.file = Some(reader);
        self.lines.reset();
        self.rotation_seen = false;
        Ok(true)
    }

    /// At the end of the input: has the file been rotated, truncated or replaced? `true` means
    /// reading should go on (from the old file once more, or from a new beginning).
    fn check_file(&mut self) -> Result<bool, IngestError> {
        match fs::metadata(&self.cp.path) {
            Ok(m) if (m.dev(), m.ino()) != (self.cp.dev, self.cp.inode) => {
                if !self.rotation_seen {
                    self.rotation_seen = true;
                    return Ok(true);
                }
                // The old file is done; the new one starts from its beginning.
                self.file = None;
                self.cp.dev = 0;
                self.cp.inode = 0;
                return Ok(true);
            }
            Ok(_) => {}
            // Renamed away and not yet replaced: keep reading the old file while we wait.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.io(e)),
        }
        if self.rewritten()? {
            self.restart()?;
            return Ok(true);
        }
        self.set_mark()?;
        self.verify_next = true;
        Ok(false)
    }

    /// Whether the open file no longer holds what was read from it: shorter than what was
    /// consumed, or a different beginning or different bytes where reading last stopped.
    fn rewritten(&self) -> Result<bool, IngestError> {
        let Some(reader) = self.file.as_ref() else {
            return Ok(false);
        };
        let f = reader.get_ref();
        let changed = f.metadata().and_then(|m| {
            let truncated = m.len() < self.cp.offset + self.lines.pending();
            Ok(truncated || !same_content(f, &self.cp)?)
        });
        changed.map_err(|e| self.io(e))
    }

    /// Reads the open file again from its beginning, as a new file.
    fn restart(&mut self) -> Result<(), IngestError> {
        self.cp = Checkpoint {
            dev: self.cp.dev,
            inode: self.cp.inode,
            ..Checkpoint::start(self.cp.path.clone(), self.cp.input)
        };
        self.parser = self.cp.input.map(Parser::new);
        self.lines.reset();
        let rewound = match self.file.as_mut() {
            Some(reader) => reader.seek(SeekFrom::Start(0)).map(drop),
            None => Ok(()),
        };
        rewound.map_err(|e| self.io(e))
    }

    /// Fingerprints the bytes just before the offset, to recognise them later.
    fn set_mark(&mut self) -> Result<(), IngestError> {
        let Some(reader) = self.file.as_ref() else {
            return Ok(());
        };
        let len = self.cp.offset.min(MARK_MAX);
        let mut buf = vec![0; len as usize];
        reader
            .get_ref()
            .read_exact_at(&mut buf, self.cp.offset - len)
            .map_err(|e| self.io(e))?;
        self.cp.mark_end = self.cp.offset;
        self.cp.mark_len = len;
        self.cp.mark_hash = hash(&buf);
        Ok(())
    }

    /// Hashes more of the file's beginning while the offset is still within [`HEAD_MAX`].
    fn extend_head(&mut self) -> Result<(), IngestError> {
        let want = self.cp.offset.min(HEAD_MAX);
        if want <= self.cp.head_len {
            return Ok(());
        }
        let Some(reader) = self.file.as_ref() else {
            return Ok(());
        };
        let mut buf = vec![0; want as usize];
        reader
            .get_ref()
            .read_exact_at(&mut buf, 0)
            .map_err(|e| self.io(e))?;
        self.cp.head_len = want;
        self.cp.head_hash = hash(&buf);
        Ok(())
    }

    /// Picks the format from the file's first complete lines; `false` while too few are there.
    fn detect(&mut self) -> Result<bool, IngestError> {
        if let Some(input) = self.cp.input {
            self.parser = Some(Parser::new(input));
            return Ok(true);
        }
        let Some(reader) = self.file.as_ref() else {
            return Ok(false);
        };
        let mut buf = vec![0; 1 << 16];
        let n = read_at_most(reader.get_ref(), &mut buf).map_err(|e| self.io(e))?;
        buf.truncate(n);
        let complete = match buf.iter().rposition(|b| *b == b'\n') {
            Some(i) => &buf[..i],
            None => &[][..],
        };
        let lines: Vec<String> = complete
            .split(|b| *b == b'\n')
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .filter(|l| !l.trim().is_empty())
            .take(DETECT_LINES)
            .collect();
        if lines
            .first()
            .is_some_and(|l| opens_multi_line_json(l.as_bytes()))
        {
            self.failed = true;
            self.stats.errors += 1;
            let line = complete
                .split(|b| *b == b'\n')
                .position(|l| !l.trim_ascii().is_empty())
                .map_or(1, |i| i as u64 + 1);
            return Err(IngestError::MultiLineJson {
                file: self.label.clone(),
                line,
            });
        }
        if let Some(input) = Input::detect(&lines) {
            self.cp.input = Some(input);
            self.parser = Some(Parser::new(input));
            return Ok(true);
        }
        if lines.len() < DETECT_LINES && n < buf.capacity() {
            return Ok(false);
        }
        self.failed = true;
        self.stats.errors += 1;
        Err(IngestError::UnknownFormat {
            file: self.label.clone(),
            lines: lines.len(),
        })
    }
}

/// Whether `f` still has the beginning and the bytes before the mark that `cp` recorded.
fn same_content(f: &File, cp: &Checkpoint) -> io::Result<bool> {
    Ok(range_matches(f, 0, cp.head_len, cp.head_hash)?
        && range_matches(
            f,
            cp.mark_end.saturating_sub(cp.mark_len),
            cp.mark_len,
            cp.mark_hash,
        )?)
}

fn range_matches(f: &File, start: u64, len: u64, want: u64) -> io::Result<bool> {
    if len == 0 {
        return Ok(true);
    }
    let mut buf = vec![0; len as usize];
    match f.read_exact_at(&mut buf, start) {
        Ok(()) => Ok(hash(&buf) == want),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

fn read_at_most(f: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
