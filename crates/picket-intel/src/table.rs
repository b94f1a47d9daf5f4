//! The lookup table: every indicator that covers an address, from every feed.
//!
//! Prefixes are cut into disjoint elementary intervals: the address space splits at every prefix
//! start and end, and each piece carries the list of indicators covering all of it. A lookup is
//! then one binary search, narrowed by an index on the address's top 16 bits, and a slice. Zeek
//! Intel returns every covering indicator too; a longest-prefix radix tree (Suricata iprep) would
//! hide the wider entries of other feeds.
//!
//! Because prefixes nest or are disjoint, a sweep in (start, widest first) order keeps the
//! covering indicators on a stack, so building is a sort and one pass. The table is immutable:
//! a new feed set builds a new table, which the caller swaps in.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use picket_model::{Indicator, IntelHit, Timestamp};

use crate::{IntelError, LoadedFeed};

mod encoding;

#[cfg(fuzzing)]
pub use encoding::decode_unchecked_body;

/// An immutable index from addresses to every indicator covering them.
///
/// Indicators are kept in columns, not as [`Indicator`] values: the network and one index into
/// the distinct (feed, category) labels for every entry, and the fields most entries lack
/// (score, first and last seen, comment) beside it for the entries that have them. A lookup
/// hands out [`IndicatorRef`]s, views assembled from the columns.
#[derive(Debug, Clone)]
pub struct IntelTable {
    entries: Entries,
    v4: Segments<u32>,
    v6: Segments<u128>,
}

/// Sizes of a built table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableStats {
    pub indicators: usize,
    pub prefixes_v4: usize,
    pub prefixes_v6: usize,
    /// Elementary intervals, covered or not.
    pub segments_v4: usize,
    pub segments_v6: usize,
    /// Indicator ids stored across all intervals (an indicator is stored once per interval it
    /// covers).
    pub stored_ids: usize,
    /// Bytes the table holds on the heap (its columns and both interval indexes).
    pub heap_bytes: usize,
}

impl IntelTable {
    /// Builds the table of these feeds' indicators.
    pub fn from_feeds(feeds: impl IntoIterator<Item = LoadedFeed>) -> Result<Self, IntelError> {
        let mut builder = TableBuilder::default();
        for feed in feeds {
            for indicator in feed.indicators {
                builder.push(indicator)?;
            }
        }
        builder.finish()
    }

    /// Builds the table; an indicator's id is its position in `indicators`.
    pub fn build(indicators: Vec<Indicator>) -> Result<Self, IntelError> {
        let mut builder = TableBuilder::default();
        for indicator in indicators {
            builder.push(indicator)?;
        }
        builder.finish()
    }

    /// A builder taking indicators one at a time (ids in the order pushed), so that a caller
    /// streaming them from storage never holds them all as [`Indicator`] values.
    pub fn builder() -> TableBuilder {
        TableBuilder::default()
    }

    /// Every indicator covering `addr`, widest network first. IPv4-mapped IPv6 addresses
    /// (`::ffff:192.0.2.1`) are looked up as IPv4.
    pub fn lookup(&self, addr: IpAddr) -> Matches<'_> {
        Matches {
            table: self,
            ids: self.lookup_ids(addr).iter(),
        }
    }

    /// The ids (positions in the order built) of the indicators covering `addr`.
    pub fn lookup_ids(&self, addr: IpAddr) -> &[u32] {
        match addr.to_canonical() {
            IpAddr::V4(a) => self.v4.find(u32::from(a)),
            IpAddr::V6(a) => self.v6.find(u128::from(a)),
        }
    }

    /// How many distinct feeds list `addr` (what [`IntelTable::lookup`] would name), without
    /// assembling the indicators.
    pub fn feed_count(&self, addr: IpAddr) -> usize {
        let feed = |id: &u32| {
            let label = self.entries.label.get(*id as usize).copied().unwrap_or(0);
            self.entries
                .labels
                .get(label as usize)
                .map_or("", |(feed, _)| &**feed)
        };
        match self.lookup_ids(addr) {
            [] => 0,
            [_] => 1,
            ids => {
                let mut feeds: Vec<&str> = ids.iter().map(feed).collect();
                feeds.sort_unstable();
                feeds.dedup();
                feeds.len()
            }
        }
    }

    /// Whether any indicator covers `addr`.
    pub fn contains(&self, addr: IpAddr) -> bool {
        !self.lookup_ids(addr).is_empty()
    }

    /// Every indicator, in id order.
    pub fn iter(&self) -> impl Iterator<Item = IndicatorRef<'_>> {
        (0..self.entries.nets.len()).map(|i| self.entries.get(i as u32))
    }

    pub fn indicator(&self, id: u32) -> Option<IndicatorRef<'_>> {
        ((id as usize) < self.entries.nets.len()).then(|| self.entries.get(id))
    }

    pub fn len(&self) -> usize {
        self.entries.nets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.nets.is_empty()
    }

    pub fn stats(&self) -> TableStats {
        let nets = &self.entries.nets;
        let v4 = nets.iter().filter(|n| n.addr().is_ipv4()).count();
        TableStats {
            indicators: nets.len(),
            prefixes_v4: v4,
            prefixes_v6: nets.len() - v4,
            segments_v4: self.v4.starts.len(),
            segments_v6: self.v6.starts.len(),
            stored_ids: self.v4.ids.len() + self.v6.ids.len(),
            heap_bytes: self.entries.heap_bytes() + self.v4.heap_bytes() + self.v6.heap_bytes(),
        }
    }
}

/// One indicator of a table, assembled from its columns: the fields of [`Indicator`], with
/// the text borrowed from the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndicatorRef<'a> {
    pub network: IpNet,
    pub feed: &'a str,
    pub score: Option<f64>,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    pub category: Option<&'a str>,
    pub comment: Option<&'a str>,
}

impl IndicatorRef<'_> {
    /// The indicator as it was pushed.
    pub fn to_indicator(&self) -> Indicator {
        Indicator {
            network: self.network,
            feed: self.feed.to_owned(),
            score: self.score,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            category: self.category.map(str::to_owned),
            comment: self.comment.map(str::to_owned),
        }
    }

    /// What an alert says about this entry (as `IntelHit::from(&Indicator)`).
    pub fn hit(&self) -> IntelHit {
        IntelHit {
            feed: self.feed.to_owned(),
            network: self.network,
            score: self.score,
            category: self.category.map(str::to_owned),
            first_seen: self.first_seen,
            last_seen: self.last_seen,
        }
    }
}

/// The indicators covering one address, widest first.
#[derive(Debug, Clone)]
pub struct Matches<'a> {
    table: &'a IntelTable,
    ids: std::slice::Iter<'a, u32>,
}

impl<'a> Iterator for Matches<'a> {
    type Item = IndicatorRef<'a>;

    fn next(&mut self) -> Option<IndicatorRef<'a>> {
        // Ids come from the table's own build, so they are always in range.
        self.ids.find_map(|id| self.table.indicator(*id))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ids.size_hint()
    }
}

/// Builds an [`IntelTable`] from indicators pushed one at a time.
#[derive(Debug, Default)]
pub struct TableBuilder {
    entries: Entries,
    /// The label index of each (feed, category) pair seen.
    label_ids: HashMap<(Box<str>, Option<Box<str>>), u32>,
}

impl TableBuilder {
    /// Adds an indicator; its id is the number pushed before it.
    pub fn push(&mut self, indicator: Indicator) -> Result<(), IntelError> {
        let too_many = || too_many(&self.entries);
        let id = u32::try_from(self.entries.nets.len()).map_err(|_| too_many())?;
        let comment_at = match &indicator.comment {
            Some(_) => Some(u32::try_from(self.entries.text.len()).map_err(|_| too_many())?),
            None => None,
        };
        let e = &mut self.entries;
        // A feed's indicators come one after another, most of them with the same category: the
        // label of the indicator before is checked first, without building a key.
        let same_as_last = e
            .label
            .last()
            .and_then(|&last| e.labels.get(last as usize))
            .is_some_and(|(feed, category)| {
                **feed == *indicator.feed && category.as_deref() == indicator.category.as_deref()
            });
        let label = match e.label.last() {
            Some(&last) if same_as_last => last,
            _ => {
                let key = (
                    Box::<str>::from(indicator.feed),
                    indicator.category.map(Box::<str>::from),
                );
                label_of(&mut self.label_ids, &mut e.labels, key, e.nets.len())?
            }
        };
        e.nets.push(indicator.network);
        e.label.push(label);
        if let Some(score) = indicator.score {
            e.scores.push((id, score));
        }
        if let Some(t) = indicator.first_seen {
            e.first_seen.push((id, t));
        }
        if let Some(t) = indicator.last_seen {
            e.last_seen.push((id, t));
        }
        if let (Some(comment), Some(at)) = (indicator.comment, comment_at) {
            e.text.push_str(&comment);
            e.comments.push((id, at));
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.nets.len()
    }

    /// Adds every indicator of `other` after those of this builder, in `other`'s order: the
    /// table is the one pushing them all here would build. So the indicators of a long list
    /// can be pushed into several builders at once, one slice each, and joined in order.
    pub fn append(&mut self, other: TableBuilder) -> Result<(), IntelError> {
        let o = other.entries;
        let total = self.entries.nets.len() + o.nets.len();
        let offset = u32::try_from(self.entries.nets.len()).map_err(|_| too_many_of(total))?;
        let text_offset = u32::try_from(self.entries.text.len()).map_err(|_| too_many_of(total))?;
        if u32::try_from(total).is_err()
            || u32::try_from(self.entries.text.len() + o.text.len()).is_err()
        {
            return Err(too_many_of(total));
        }
        let e = &mut self.entries;
        // Where each of `other`'s labels is among this builder's.
        let mut remap = Vec::with_capacity(o.labels.len());
        for key in o.labels {
            remap.push(label_of(&mut self.label_ids, &mut e.labels, key, total)?);
        }
        e.nets.extend(o.nets);
        // `other`'s labels index its own list, which `remap` covers whole.
        e.label.extend(
            o.label
                .iter()
                .filter_map(|l| remap.get(*l as usize).copied()),
        );
        e.scores
            .extend(o.scores.iter().map(|(id, v)| (id + offset, *v)));
        e.first_seen
            .extend(o.first_seen.iter().map(|(id, t)| (id + offset, *t)));
        e.last_seen
            .extend(o.last_seen.iter().map(|(id, t)| (id + offset, *t)));
        e.comments.extend(
            o.comments
                .iter()
                .map(|(id, at)| (id + offset, at + text_offset)),
        );
        e.text.push_str(&o.text);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.nets.is_empty()
    }

    pub fn finish(self) -> Result<IntelTable, IntelError> {
        let mut entries = self.entries;
        entries.shrink();
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (id, net) in entries.nets.iter().enumerate() {
            // At most u32::MAX entries were pushed.
            let id = id as u32;
            match net {
                IpNet::V4(n) => v4.push(Span {
                    start: u32::from(n.network()),
                    end: u32::from(n.broadcast()),
                    id,
                }),
                IpNet::V6(n) => v6.push(Span {
                    start: u128::from(n.network()),
                    end: u128::from(n.broadcast()),
                    id,
                }),
            }
        }
        let v4 = Segments::<u32>::build(v4).ok_or_else(|| too_many(&entries))?;
        let v6 = Segments::<u128>::build(v6).ok_or_else(|| too_many(&entries))?;
        Ok(IntelTable { entries, v4, v6 })
    }
}

/// The index of the (feed, category) pair `key` in `labels`, added when new.
fn label_of(
    ids: &mut HashMap<(Box<str>, Option<Box<str>>), u32>,
    labels: &mut Vec<(Box<str>, Option<Box<str>>)>,
    key: (Box<str>, Option<Box<str>>),
    count: usize,
) -> Result<u32, IntelError> {
    if let Some(label) = ids.get(&key) {
        return Ok(*label);
    }
    let label = u32::try_from(labels.len()).map_err(|_| too_many_of(count))?;
    labels.push(key.clone());
    ids.insert(key, label);
    Ok(label)
}

fn too_many(entries: &Entries) -> IntelError {
    too_many_of(entries.nets.len())
}

fn too_many_of(count: usize) -> IntelError {
    IntelError::TooManyIndicators {
        count,
        max: u32::MAX,
    }
}

/// The indicators in columns, by id.
#[derive(Debug, Clone, Default)]
#[cfg_attr(test, derive(PartialEq))]
struct Entries {
    nets: Vec<IpNet>,
    /// Each entry's index into `labels`.
    label: Vec<u32>,
    /// The distinct (feed, category) pairs.
    labels: Vec<(Box<str>, Option<Box<str>>)>,
    /// The optional fields, as (id, value) for the entries that have them, in id order.
    scores: Vec<(u32, f64)>,
    first_seen: Vec<(u32, Timestamp)>,
    last_seen: Vec<(u32, Timestamp)>,
    /// (id, start in `text`): a comment runs to the next one's start, or to the end of `text`.
    comments: Vec<(u32, u32)>,
    text: String,
}

impl Entries {
    /// Only called with ids below `nets.len()`.
    fn get(&self, id: u32) -> IndicatorRef<'_> {
        let i = id as usize;
        let (feed, category) = &self.labels[self.label[i] as usize];
        let comment = sparse(&self.comments, id).map(|at| {
            let start = self.comments[at].1 as usize;
            let end = self
                .comments
                .get(at + 1)
                .map_or(self.text.len(), |(_, s)| *s as usize);
            self.text.get(start..end).unwrap_or_default()
        });
        IndicatorRef {
            network: self.nets[i],
            feed,
            score: sparse(&self.scores, id).map(|at| self.scores[at].1),
            first_seen: sparse(&self.first_seen, id).map(|at| self.first_seen[at].1),
            last_seen: sparse(&self.last_seen, id).map(|at| self.last_seen[at].1),
            category: category.as_deref(),
            comment,
        }
    }

    fn shrink(&mut self) {
        self.nets.shrink_to_fit();
        self.label.shrink_to_fit();
        self.labels.shrink_to_fit();
        self.scores.shrink_to_fit();
        self.first_seen.shrink_to_fit();
        self.last_seen.shrink_to_fit();
        self.comments.shrink_to_fit();
        self.text.shrink_to_fit();
    }

    fn heap_bytes(&self) -> usize {
        use std::mem::size_of_val;
        let labels: usize = self
            .labels
            .iter()
            .map(|(f, c)| f.len() + c.as_ref().map_or(0, |c| c.len()))
            .sum();
        size_of_val(self.nets.as_slice())
            + size_of_val(self.label.as_slice())
            + size_of_val(self.labels.as_slice())
            + labels
            + size_of_val(self.scores.as_slice())
            + size_of_val(self.first_seen.as_slice())
            + size_of_val(self.last_seen.as_slice())
            + size_of_val(self.comments.as_slice())
            + self.text.len()
    }
}

/// Where `id` sits in a column of (id, value) pairs sorted by id.
fn sparse<T>(column: &[(u32, T)], id: u32) -> Option<usize> {
    column.binary_search_by_key(&id, |(i, _)| *i).ok()
}

struct Span<K> {
    start: K,
    end: K,
    id: u32,
}

/// The address width of a table half: `u32` for IPv4, `u128` for IPv6.
trait Key: Copy + Ord + std::fmt::Debug {
    /// The last address of the family.
    const MAX: u128;
    /// Bytes in an address of the family.
    const BYTES: usize;
    /// Only called with values that fit (they come from addresses of this width).
    fn from_u128(v: u128) -> Self;
    fn to_u128(self) -> u128;
    fn top16(self) -> usize;
}

impl Key for u32 {
    const MAX: u128 = u32::MAX as u128;
    const BYTES: usize = 4;
    fn from_u128(v: u128) -> Self {
        v as u32
    }
    fn to_u128(self) -> u128 {
        u128::from(self)
    }
    fn top16(self) -> usize {
        (self >> 16) as usize
    }
}

impl Key for u128 {
    const MAX: u128 = u128::MAX;
    const BYTES: usize = 16;
    fn from_u128(v: u128) -> Self {
        v
    }
    fn to_u128(self) -> u128 {
        self
    }
    fn top16(self) -> usize {
        (self >> 112) as usize
    }
}

/// Disjoint intervals covering the whole address space: interval `i` runs from `starts[i]` to
/// `starts[i + 1] - 1` and is covered by `ids[sets[i]..sets[i + 1]]`.
#[derive(Debug, Clone)]
#[cfg_attr(test, derive(PartialEq))]
struct Segments<K> {
    starts: Vec<K>,
    sets: Vec<u32>,
    ids: Vec<u32>,
    /// `index[h]`: the first interval whose start has `h` as its top 16 bits or more;
    /// `index[65536]` is the number of intervals.
    index: Vec<u32>,
    /// IPv4 only: a bit for each /20, set where an indicator covers an address of it. Most
    /// addresses looked up are listed by nothing, and most of those fall in a /20 that no
    /// indicator touches: one read of this 128 KiB map, which stays in the processor's cache,
    /// answers them, where the search takes three or four dependent reads across the table.
    /// Empty for IPv6, and when nothing is covered.
    covered: Vec<u64>,
}

/// Addresses a bit of [`Segments::covered`] stands for: a /20. A map of /24s (2 MiB) saved
/// nothing: its one read missed the cache as often as the search it spared.
const COVERED_SHIFT: u32 = 12;

impl<K: Key> Segments<K> {
    /// `None` when the ids stored would overflow the `u32` offsets.
    fn build(mut spans: Vec<Span<K>>) -> Option<Self> {
        // Widest first at equal starts, so that a prefix is on the stack before those inside it.
        spans.sort_unstable_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(b.end.cmp(&a.end))
                .then(a.id.cmp(&b.id))
        });
        let mut out = Builder::<K>::default();
        // The stack of (end, id) covering the sweep position; ends never increase upward.
        let mut stack: Vec<(u128, u32)> = Vec::new();
        // The first address not yet given an interval; `None` once the whole space is done.
        let mut cursor: Option<u128> = Some(0);
        for span in &spans {
            let (start, end) = (span.start.to_u128(), span.end.to_u128());
            while let Some(&(top, _)) = stack.last() {
                if top >= start {
                    break;
                }
                out.close_through(&mut cursor, top, &stack)?;
                stack.pop();
            }
            if let Some(c) = cursor
                && c < start
            {
                out.push(c, &stack)?;
                cursor = Some(start);
            }
            stack.push((end, span.id));
        }
        drop(spans);
        while let Some(&(end, _)) = stack.last() {
            out.close_through(&mut cursor, end, &stack)?;
            stack.pop();
        }
        if let Some(c) = cursor {
            out.push(c, &stack)?;
        }
        out.finish()
    }

    /// The intervals of `starts` (rising, the first at 0), covered by `ids[sets[i]..sets[i + 1]]`,
    /// with their top-16-bit index; `None` when there are more than `u32` offsets can count.
    fn from_parts(mut starts: Vec<K>, mut sets: Vec<u32>, mut ids: Vec<u32>) -> Option<Self> {
        starts.shrink_to_fit();
        sets.shrink_to_fit();
        ids.shrink_to_fit();
        let count = u32::try_from(starts.len()).ok()?;
        let mut index = Vec::with_capacity(65537);
        let mut i = 0usize;
        for h in 0..65536usize {
            while i < starts.len() && starts[i].top16() < h {
                i += 1;
            }
            // i <= starts.len(), which fits in u32 (checked above).
            index.push(i as u32);
        }
        index.push(count);
        let covered = covered_blocks(&starts, &sets);
        Some(Segments {
            starts,
            sets,
            ids,
            index,
            covered,
        })
    }

    fn find(&self, key: K) -> &[u32] {
        if !self.covered.is_empty() {
            let block = (key.to_u128() >> COVERED_SHIFT) as usize;
            let word = self.covered.get(block / 64).copied().unwrap_or(u64::MAX);
            if word & (1 << (block % 64)) == 0 {
                return &[];
            }
        }
        let h = key.top16();
        // The interval holding `key` starts at or before it: it is the last one starting in this
        // top-16-bit block, or the one running into the block from before.
        let lo = (self.index[h] as usize).saturating_sub(1);
        let hi = (self.index[h + 1] as usize).max(lo + 1);
        let i = lo + self.starts[lo..hi].partition_point(|s| *s <= key) - 1;
        let (a, b) = (self.sets[i] as usize, self.sets[i + 1] as usize);
        &self.ids[a..b]
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(self.starts.as_slice())
            + std::mem::size_of_val(self.sets.as_slice())
            + std::mem::size_of_val(self.ids.as_slice())
            + std::mem::size_of_val(self.index.as_slice())
            + std::mem::size_of_val(self.covered.as_slice())
    }
}

/// [`Segments::covered`] for these intervals: IPv4 intervals whose set is not empty mark the
/// /20s they touch. Empty for IPv6 (a map of its space would not fit), and when no interval is
/// covered.
fn covered_blocks<K: Key>(starts: &[K], sets: &[u32]) -> Vec<u64> {
    if K::BYTES != 4 || sets.windows(2).all(|w| w[0] == w[1]) {
        return Vec::new();
    }
    let blocks = (K::MAX >> COVERED_SHIFT) as usize + 1;
    let mut covered = vec![0u64; blocks.div_ceil(64)];
    for (i, (start, set)) in starts.iter().zip(sets.windows(2)).enumerate() {
        if set[0] == set[1] {
            continue;
        }
        // The builder makes rising starts and decoding refuses others: should two not rise,
        // the interval is skipped here rather than panic.
        let end = match starts.get(i + 1) {
            Some(next) => match next.to_u128().checked_sub(1) {
                Some(end) => end,
                None => continue,
            },
            None => K::MAX,
        };
        let first = (start.to_u128() >> COVERED_SHIFT) as usize;
        let last = (end >> COVERED_SHIFT) as usize;
        if first <= last {
            mark(&mut covered, first, last);
        }
    }
    covered
}

/// Sets bits `first..=last` of `bits`, whole words at a time between the ends.
fn mark(bits: &mut [u64], first: usize, last: usize) {
    let (first_word, last_word) = (first / 64, last / 64);
    let head = u64::MAX << (first % 64);
    let tail = u64::MAX >> (63 - last % 64);
    if first_word == last_word {
        if let Some(word) = bits.get_mut(first_word) {
            *word |= head & tail;
        }
        return;
    }
    if let Some(word) = bits.get_mut(first_word) {
        *word |= head;
    }
    if let Some(words) = bits.get_mut(first_word + 1..last_word) {
        words.fill(u64::MAX);
    }
    if let Some(word) = bits.get_mut(last_word) {
        *word |= tail;
    }
}

struct Builder<K> {
    starts: Vec<K>,
    sets: Vec<u32>,
    ids: Vec<u32>,
}

impl<K> Default for Builder<K> {
    fn default() -> Self {
        Self {
            starts: Vec::new(),
            sets: Vec::new(),
            ids: Vec::new(),
        }
    }
}

impl<K: Key> Builder<K> {
    /// Starts an interval at `start` covered by the stack's ids, unless it repeats the previous
    /// interval's set (then the previous one simply runs on).
    fn push(&mut self, start: u128, stack: &[(u128, u32)]) -> Option<()> {
        if let Some(&prev) = self.sets.last() {
            let prev = &self.ids[prev as usize..];
            if prev.len() == stack.len() && prev.iter().zip(stack).all(|(a, (_, b))| a == b) {
                return Some(());
            }
        }
        self.starts.push(K::from_u128(start));
        self.sets.push(u32::try_from(self.ids.len()).ok()?);
        self.ids.extend(stack.iter().map(|(_, id)| *id));
        Some(())
    }

    /// Emits the interval from the cursor through `end` (the end of the stack's top), and moves
    /// the cursor past it.
    fn close_through(
        &mut self,
        cursor: &mut Option<u128>,
        end: u128,
        stack: &[(u128, u32)],
    ) -> Option<()> {
        if let Some(c) = *cursor
            && c <= end
        {
            self.push(c, stack)?;
            *cursor = (end < K::MAX).then(|| end + 1);
        }
        Some(())
    }

    fn finish(self) -> Option<Segments<K>> {
        let mut sets = self.sets;
        sets.push(u32::try_from(self.ids.len()).ok()?);
        Segments::from_parts(self.starts, sets, self.ids)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Marking a range sets exactly its bits, within a word and across several.
        #[test]
        fn mark_sets_exactly_the_range(first in 0usize..256, len in 0usize..256) {
            let last = (first + len).min(255);
            let mut bits = [0u64; 4];
            mark(&mut bits, first, last);
            for bit in 0..256 {
                let set = bits[bit / 64] & (1 << (bit % 64)) != 0;
                prop_assert_eq!(set, (first..=last).contains(&bit), "bit {}", bit);
            }
        }
    }

    /// The /20 map marks what the IPv4 indicators touch and nothing else; IPv6 has none.
    #[test]
    fn the_covered_map_marks_the_blocks_of_listed_networks() {
        let table = IntelTable::build(vec![
            Indicator::new("192.0.2.128/25".parse().unwrap(), "a"),
            Indicator::new("198.51.100.7/32".parse().unwrap(), "b"),
            Indicator::new("2001:db8::/32".parse().unwrap(), "c"),
        ])
        .unwrap();
        let block = |a: [u8; 4]| (u32::from_be_bytes(a) >> COVERED_SHIFT) as usize;
        let marked = |b: usize| table.v4.covered[b / 64] & (1 << (b % 64)) != 0;
        assert!(marked(block([192, 0, 2, 0])));
        assert!(marked(block([198, 51, 100, 0])));
        assert!(!marked(block([192, 0, 16, 0])));
        assert!(!marked(block([198, 51, 112, 0])));
        let count: u32 = table.v4.covered.iter().map(|w| w.count_ones()).sum();
        assert_eq!(count, 2);
        assert!(table.v6.covered.is_empty());
        assert!(IntelTable::build(vec![]).unwrap().v4.covered.is_empty());
        assert_eq!(table.lookup_ids("192.0.2.200".parse().unwrap()).len(), 1);
        assert!(table.lookup_ids("192.0.2.100".parse().unwrap()).is_empty());
    }
}
