//! Integration tests for picket-ingest: one test binary, one module per concern.

mod fixtures;
mod follow;
mod never_panic;
mod screened;

use picket_model::Timestamp;

/// The clock the tests inject for lines without a time of their own.
pub fn fixed_clock() -> Timestamp {
    Timestamp::from_second(1_704_067_200).unwrap()
}
