//! End-to-end tests of the `picket` binary: against loopback listeners, and inside a
//! network-namespace lab (picket-lab) where targets drop, reject, lose, rate-limit, ban, flap
//! and go down. Lab tests print "skipped: ..." and pass when not run as root.

mod cli;
mod exposure;
mod formats;
mod names;
mod queue;
mod serve;
mod services;
mod support;
mod threat;
