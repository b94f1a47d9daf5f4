//! Fuzz the batched, screened read against reading one line at a time: for any bytes and any
//! format (chosen by the first byte), `EventReader::read_screened` on two threads in small
//! batches must yield the iterator's events, errors and stats in the same order.
#![no_main]

use std::ops::ControlFlow;

use libfuzzer_sys::fuzz_target;
use picket_ingest::{Batching, EventHead, EventReader, Input, Screened};
use picket_model::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    let input = Input::ALL.get(usize::from(first) % (Input::ALL.len() + 1)).copied();
    let reader = || EventReader::new(data, "fuzz", input).with_clock(|| Timestamp::UNIX_EPOCH);

    let mut one = reader();
    let expected: Vec<Result<picket_model::ConnEvent, String>> =
        one.by_ref().map(|item| item.map_err(|e| e.to_string())).collect();

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
            (Screened::Event(ev), Ok(want)) => assert_eq!(ev, want),
            (Screened::Head { verdict, .. }, Ok(want)) => {
                assert_eq!(*verdict, EventHead::of(want))
            }
            (Screened::Error(e), Err(want)) => assert_eq!(&e.to_string(), want),
            _ => panic!("{got:?} where one at a time read {expected:?}"),
        }
    }
    assert_eq!(batched.stats(), one.stats());
});
