//! Fuzz the batched, screened read against reading one line at a time: for any bytes and any
//! format (chosen by the first byte), `EventReader::read_screened` on two threads in small
//! batches must yield the iterator's events, errors and stats in the same order, but for one
//! thing: a Zeek TSV row whose only fault is a bad value in a field the screen does not read
//! is, when the screen turns it down, the event it stands for (its head), not an error.
#![no_main]

use std::ops::ControlFlow;

use libfuzzer_sys::fuzz_target;
use picket_ingest::{Batching, EventHead, EventReader, IngestError, Input, Screened};
use picket_model::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    let input = Input::ALL
        .get(usize::from(first) % (Input::ALL.len() + 1))
        .copied();
    let reader = || EventReader::new(data, "fuzz", input).with_clock(|| Timestamp::UNIX_EPOCH);

    let mut one = reader();
    let expected: Vec<Result<picket_model::ConnEvent, IngestError>> = one.by_ref().collect();
    let tsv = one.input() == Some(Input::ZeekTsv);
    let mut want_stats = one.stats();

    let mut batched = reader();
    let mut got = Vec::new();
    // Events to an odd port are screened out: what stands for them is their head.
    let screen = |head: &EventHead| (head.dst_port.unwrap_or(0) % 2 == 1).then_some(*head);
    let how = Batching {
        threads: 2,
        lines: 1 + usize::from(first % 4),
    };
    batched.read_screened(how, &screen, &mut |item| {
        got.push(item);
        ControlFlow::Continue(())
    });
    assert_eq!(got.len(), expected.len());
    for (got, expected) in got.iter().zip(&expected) {
        match (got, expected) {
            (Screened::Event(ev), Ok(want)) => assert_eq!(&**ev, want),
            (Screened::Head { verdict, .. }, Ok(want)) => {
                assert_eq!(*verdict, EventHead::of(want))
            }
            (Screened::Error(e), Err(want)) => assert_eq!(e.to_string(), want.to_string()),
            (Screened::Head { verdict, .. }, Err(want))
                if tsv && want.is_outside_zeek_tsv_head() =>
            {
                assert_eq!(verdict.dst_port.map(|p| p % 2), Some(1));
                want_stats.errors -= 1;
                want_stats.events += 1;
            }
            _ => panic!("{got:?} where one at a time read {expected:?}"),
        }
    }
    assert_eq!(batched.stats(), want_stats);
});
