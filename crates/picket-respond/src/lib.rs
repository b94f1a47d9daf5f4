//! Picket's response to a threat: block a client address or network with nftables.
//!
//! [`Nft`] keeps blocked sources in two interval sets with timeouts (`blocked_v4`,
//! `blocked_v6` in table `inet picket`), dropped and counted at the `input` and `forward`
//! hooks. `flags interval` matters: with it a whole CIDR is one element, and a range ban works
//! (CrowdSec's bouncer creates its sets without it, so its range bans break). Every change is
//! one nft script applied as one transaction, and [`Nft::plan`] shows that exact script without
//! applying it (a dry run). How overlapping blocks are resolved is described on [`Nft`].
//!
//! This crate must never lock out our own networks: every block passes the [`AllowList`]
//! first, which always holds loopback and refuses any block that overlaps an allowed network
//! in either direction. It must never touch rules outside its own table, and never build an
//! nft script from unchecked text (networks are typed; the table name must be an identifier).

mod allow;
mod error;
mod json;
mod nft;
mod script;

pub use allow::AllowList;
pub use error::RespondError;
pub use nft::{BlockEntry, DEFAULT_TABLE, Dropped, Nft};
pub use script::{
    COUNTER_V4, COUNTER_V6, Change, MAX_TTL, MIN_TTL, Outcome, Plan, SET_V4, SET_V6, Would,
};
