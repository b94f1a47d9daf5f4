//! picket-app's workflows end to end, without the CLI: exposure runs on loopback and in a
//! network-namespace lab, threat pipelines over fixture files and followed logs (with knowledge
//! swapped in while running), and the one cancellation signal.

mod distributed;
mod exposure;
mod support;
mod threat;
