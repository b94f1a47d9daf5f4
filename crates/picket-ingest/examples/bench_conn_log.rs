//! Throughput of the Zeek TSV reader: writes a conn.log of generated rows (1,000,000 unless a
//! count is given) to a temporary file, reads it back through `EventReader` one event at a time,
//! then in screened batches on every core, and prints events/s of each.
//!
//! `cargo run --release -p picket-ingest --example bench_conn_log [ROWS]`

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::time::Instant;

use picket_ingest::{Batching, EventHead, EventReader, Input, Screened};

const HEADER: &str = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#open\t2024-05-01-12-00-00
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]
";

const STATES: [&str; 6] = ["SF", "S0", "REJ", "RSTO", "SH", "OTH"];
const PROTOS: [&str; 3] = ["tcp", "udp", "icmp"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: u64 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 1_000_000,
    };
    let file = tempfile::NamedTempFile::new()?;
    let started = Instant::now();
    {
        let mut w = BufWriter::new(File::create(file.path())?);
        w.write_all(HEADER.as_bytes())?;
        // A fixed linear congruential sequence: varied rows, the same file every run.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..rows {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let b = x.to_le_bytes();
            writeln!(
                w,
                "{}.{:06}\tC{:016x}\t{}.{}.{}.{}\t{}\t10.0.{}.{}\t{}\t{}\t-\t{}.{:06}\t{}\t{}\t{}\tF\tT\t0\tShADadFf\t{}\t{}\t{}\t{}\t-",
                1_714_564_800 + i / 100,
                (x >> 8) % 1_000_000,
                x,
                b[0],
                b[1],
                b[2],
                b[3],
                1024 + u16::from_le_bytes([b[4], b[5]]) % 60_000,
                b[6],
                b[7],
                [22, 80, 443, 3389, 8080][(x >> 40) as usize % 5],
                PROTOS[(x >> 44) as usize % 3],
                (x >> 48) % 10,
                (x >> 12) % 1_000_000,
                (x >> 20) % 100_000,
                (x >> 28) % 100_000,
                STATES[(x >> 52) as usize % STATES.len()],
                (x >> 36) % 500,
                (x >> 36) % 500 * 60,
                (x >> 38) % 500,
                (x >> 38) % 500 * 60,
            )?;
        }
        w.flush()?;
    }
    let size = std::fs::metadata(file.path())?.len();
    println!(
        "generated {rows} rows, {:.1} MiB, in {:.2?}",
        size as f64 / (1024.0 * 1024.0),
        started.elapsed()
    );

    let started = Instant::now();
    let mut reader = EventReader::open(file.path(), Some(Input::ZeekTsv))?;
    let mut bytes_out = 0u64;
    for item in reader.by_ref() {
        // Touch each event so that the work cannot be skipped.
        bytes_out = bytes_out.wrapping_add(item?.bytes_out.unwrap_or(0));
    }
    let elapsed = started.elapsed();
    let stats = reader.stats();
    println!(
        "parsed {} events ({} errors) in {:.2?}: {:.0} events/s, {:.1} MiB/s (checksum {bytes_out})",
        stats.events,
        stats.errors,
        elapsed,
        stats.events as f64 / elapsed.as_secs_f64(),
        size as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64(),
    );

    // The same file read in batches on every core, each event's head screened and turned down
    // (what the pipeline does with events that cannot raise an alert): no event is built.
    let how = Batching::available();
    let started = Instant::now();
    let mut reader = EventReader::open(file.path(), Some(Input::ZeekTsv))?;
    let mut latest = 0i64;
    let screen = |head: &EventHead| Some(head.ts.as_second());
    reader.read_screened(how, &screen, &mut |item| {
        if let Screened::Head { verdict, .. } = item {
            latest = latest.max(verdict);
        }
        ControlFlow::Continue(())
    });
    let elapsed = started.elapsed();
    let stats = reader.stats();
    println!(
        "screened {} event heads on {} threads in {:.2?}: {:.0} events/s, {:.1} MiB/s (latest {latest})",
        stats.events,
        how.threads,
        elapsed,
        stats.events as f64 / elapsed.as_secs_f64(),
        size as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64(),
    );
    Ok(())
}
