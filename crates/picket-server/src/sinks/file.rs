//! The NDJSON file sink: each record appended as one line, flushed after every batch and synced
//! when the service stops. It must never rewrite or truncate what the file already holds.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::{SinkContext, drain};

const BATCH: usize = 1000;

pub struct NdjsonFile {
    out: BufWriter<File>,
}

impl NdjsonFile {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            out: BufWriter::new(file),
        })
    }

    pub(super) fn run(mut self, ctx: &SinkContext) {
        while let Ok(first) = ctx.records.recv() {
            let batch = drain(first, &ctx.records, BATCH);
            match self.write(&batch) {
                Ok(()) => ctx.delivered(batch.len()),
                Err(e) => {
                    ctx.failed();
                    ctx.dead_lettered(batch.len());
                    tracing::error!(sink = %ctx.label, error = %e, "cannot append to the file");
                }
            }
        }
        if let Err(e) = self.out.get_ref().sync_all() {
            tracing::error!(sink = %ctx.label, error = %e, "cannot sync the file");
        }
    }

    fn write(&mut self, batch: &[super::Record]) -> std::io::Result<()> {
        for record in batch {
            self.out.write_all(record.json.as_bytes())?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }
}
