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

use std::net::IpAddr;

use ipnet::IpNet;
use picket_model::Indicator;

use crate::{IntelError, LoadedFeed};

/// An immutable index from addresses to every indicator covering them.
#[derive(Debug, Clone)]
pub struct IntelTable {
    indicators: Vec<Indicator>,
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
}

impl IntelTable {
    /// Builds the table of these feeds' indicators.
    pub fn from_feeds(feeds: impl IntoIterator<Item = LoadedFeed>) -> Result<Self, IntelError> {
        Self::build(feeds.into_iter().flat_map(|f| f.indicators).collect())
    }

    /// Builds the table; an indicator's id is its position in `indicators`.
    pub fn build(indicators: Vec<Indicator>) -> Result<Self, IntelError> {
        let too_many = || IntelError::TooManyIndicators {
            count: indicators.len(),
            max: u32::MAX,
        };
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (id, ind) in indicators.iter().enumerate() {
            let id = u32::try_from(id).map_err(|_| too_many())?;
            match ind.network {
                IpNet::V4(n) => v4.push(Span {
                    start: u128::from(u32::from(n.network())),
                    end: u128::from(u32::from(n.broadcast())),
                    id,
                }),
                IpNet::V6(n) => v6.push(Span {
                    start: u128::from(n.network()),
                    end: u128::from(n.broadcast()),
                    id,
                }),
            }
        }
        let v4 = Segments::<u32>::build(v4).ok_or_else(too_many)?;
        let v6 = Segments::<u128>::build(v6).ok_or_else(too_many)?;
        Ok(Self { indicators, v4, v6 })
    }

    /// Every indicator covering `addr`, widest network first. IPv4-mapped IPv6 addresses
    /// (`::ffff:192.0.2.1`) are looked up as IPv4.
    pub fn lookup(&self, addr: IpAddr) -> Matches<'_> {
        Matches {
            table: self,
            ids: self.lookup_ids(addr).iter(),
        }
    }

    /// The ids (positions in [`IntelTable::indicators`]) of the indicators covering `addr`.
    pub fn lookup_ids(&self, addr: IpAddr) -> &[u32] {
        match addr.to_canonical() {
            IpAddr::V4(a) => self.v4.find(u32::from(a)),
            IpAddr::V6(a) => self.v6.find(u128::from(a)),
        }
    }

    /// Whether any indicator covers `addr`.
    pub fn contains(&self, addr: IpAddr) -> bool {
        !self.lookup_ids(addr).is_empty()
    }

    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }

    pub fn indicator(&self, id: u32) -> Option<&Indicator> {
        self.indicators.get(id as usize)
    }

    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    pub fn stats(&self) -> TableStats {
        let v4 = self
            .indicators
            .iter()
            .filter(|i| i.network.addr().is_ipv4())
            .count();
        TableStats {
            indicators: self.indicators.len(),
            prefixes_v4: v4,
            prefixes_v6: self.indicators.len() - v4,
            segments_v4: self.v4.starts.len(),
            segments_v6: self.v6.starts.len(),
            stored_ids: self.v4.ids.len() + self.v6.ids.len(),
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
    type Item = &'a Indicator;

    fn next(&mut self) -> Option<&'a Indicator> {
        // Ids come from the table's own build, so they are always in range.
        self.ids
            .find_map(|id| self.table.indicators.get(*id as usize))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ids.size_hint()
    }
}

struct Span {
    start: u128,
    end: u128,
    id: u32,
}

/// The address width of a table half: `u32` for IPv4, `u128` for IPv6.
trait Key: Copy + Ord + std::fmt::Debug {
    /// The last address of the family.
    const MAX: u128;
    /// Only called with values that fit (they come from addresses of this width).
    fn from_u128(v: u128) -> Self;
    fn top16(self) -> usize;
}

impl Key for u32 {
    const MAX: u128 = u32::MAX as u128;
    fn from_u128(v: u128) -> Self {
        v as u32
    }
    fn top16(self) -> usize {
        (self >> 16) as usize
    }
}

impl Key for u128 {
    const MAX: u128 = u128::MAX;
    fn from_u128(v: u128) -> Self {
        v
    }
    fn top16(self) -> usize {
        (self >> 112) as usize
    }
}

/// Disjoint intervals covering the whole address space: interval `i` runs from `starts[i]` to
/// `starts[i + 1] - 1` and is covered by `ids[sets[i]..sets[i + 1]]`.
#[derive(Debug, Clone)]
struct Segments<K> {
    starts: Vec<K>,
    sets: Vec<u32>,
    ids: Vec<u32>,
    /// `index[h]`: the first interval whose start has `h` as its top 16 bits or more;
    /// `index[65536]` is the number of intervals.
    index: Vec<u32>,
}

impl<K: Key> Segments<K> {
    /// `None` when the ids stored would overflow the `u32` offsets.
    fn build(mut spans: Vec<Span>) -> Option<Self> {
        // Widest first at equal starts, so that a prefix is on the stack before those inside it.
        spans.sort_unstable_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(b.end.cmp(&a.end))
                .then(a.id.cmp(&b.id))
        });
        let mut out = Builder::default();
        // The stack of (end, id) covering the sweep position; ends never increase upward.
        let mut stack: Vec<(u128, u32)> = Vec::new();
        // The first address not yet given an interval; `None` once the whole space is done.
        let mut cursor: Option<u128> = Some(0);
        for span in &spans {
            while let Some(&(end, _)) = stack.last() {
                if end >= span.start {
                    break;
                }
                out.close_through::<K>(&mut cursor, end, &stack)?;
                stack.pop();
            }
            if let Some(c) = cursor
                && c < span.start
            {
                out.push(c, &stack)?;
                cursor = Some(span.start);
            }
            stack.push((span.end, span.id));
        }
        while let Some(&(end, _)) = stack.last() {
            out.close_through::<K>(&mut cursor, end, &stack)?;
            stack.pop();
        }
        if let Some(c) = cursor {
            out.push(c, &stack)?;
        }
        out.finish()
    }

    fn find(&self, key: K) -> &[u32] {
        let h = key.top16();
        // The interval holding `key` starts at or before it: it is the last one starting in this
        // top-16-bit block, or the one running into the block from before.
        let lo = (self.index[h] as usize).saturating_sub(1);
        let hi = (self.index[h + 1] as usize).max(lo + 1);
        let i = lo + self.starts[lo..hi].partition_point(|s| *s <= key) - 1;
        let (a, b) = (self.sets[i] as usize, self.sets[i + 1] as usize);
        &self.ids[a..b]
    }
}

#[derive(Default)]
struct Builder {
    starts: Vec<u128>,
    sets: Vec<u32>,
    ids: Vec<u32>,
}

impl Builder {
    /// Starts an interval at `start` covered by the stack's ids, unless it repeats the previous
    /// interval's set (then the previous one simply runs on).
    fn push(&mut self, start: u128, stack: &[(u128, u32)]) -> Option<()> {
        if let Some(&prev) = self.sets.last() {
            let prev = &self.ids[prev as usize..];
            if prev.len() == stack.len() && prev.iter().zip(stack).all(|(a, (_, b))| a == b) {
                return Some(());
            }
        }
        self.starts.push(start);
        self.sets.push(u32::try_from(self.ids.len()).ok()?);
        self.ids.extend(stack.iter().map(|(_, id)| *id));
        Some(())
    }

    /// Emits the interval from the cursor through `end` (the end of the stack's top), and moves
    /// the cursor past it.
    fn close_through<K: Key>(
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

    fn finish<K: Key>(self) -> Option<Segments<K>> {
        let mut sets = self.sets;
        sets.push(u32::try_from(self.ids.len()).ok()?);
        let starts: Vec<K> = self.starts.into_iter().map(K::from_u128).collect();
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
        Some(Segments {
            starts,
            sets,
            ids: self.ids,
            index,
        })
    }
}
