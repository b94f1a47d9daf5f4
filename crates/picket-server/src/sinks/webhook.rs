//! The webhook sink: records POSTed as a JSON array, in batches (what is queued when a POST
//! starts, up to `batch`), each batch retried with exponential backoff (`backoff`, doubled per
//! attempt, at most a minute apart) and counted as dead letters after the last retry.
//!
//! Once the service is stopping, a failing batch gets one more attempt and no more waits, so a
//! receiver that is down cannot hold the shutdown up. It must never send a record twice on
//! purpose: a batch that got a 2xx answer is done.

use std::time::Duration;

use super::{Record, SinkContext, drain};

const MAX_BACKOFF: Duration = Duration::from_secs(60);

pub struct Webhook {
    url: String,
    batch: usize,
    retries: u32,
    backoff: Duration,
    agent: ureq::Agent,
}

impl Webhook {
    pub fn new(
        url: &str,
        batch: usize,
        retries: u32,
        backoff: Duration,
        timeout: Duration,
    ) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(concat!("picket/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self {
            url: url.to_owned(),
            batch,
            retries,
            backoff,
            agent,
        }
    }

    pub(super) fn run(&self, ctx: &SinkContext) {
        while let Ok(first) = ctx.records.recv() {
            let batch = drain(first, &ctx.records, self.batch);
            self.deliver(&batch, ctx);
        }
    }

    fn deliver(&self, batch: &[Record], ctx: &SinkContext) {
        let mut body =
            String::with_capacity(batch.iter().map(|r| r.json.len() + 1).sum::<usize>() + 2);
        body.push('[');
        for (i, record) in batch.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&record.json);
        }
        body.push(']');
        let mut wait = self.backoff;
        for attempt in 0..=self.retries {
            match self.post(&body) {
                Ok(()) => {
                    ctx.delivered(batch.len());
                    return;
                }
                Err(why) => {
                    ctx.failed();
                    tracing::warn!(sink = %ctx.label, attempt = attempt + 1, %why, "webhook delivery failed");
                }
            }
            if attempt == self.retries {
                break;
            }
            if ctx.shutdown.is_triggered() {
                // One last try without waiting, then give up: the service is stopping.
                if self.post(&body).is_ok() {
                    ctx.delivered(batch.len());
                    return;
                }
                ctx.failed();
                break;
            }
            ctx.shutdown.sleep(wait);
            wait = (wait * 2).min(MAX_BACKOFF);
        }
        ctx.dead_lettered(batch.len());
        tracing::error!(sink = %ctx.label, records = batch.len(), "webhook batch given up after the last retry");
    }

    fn post(&self, body: &str) -> Result<(), String> {
        let response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body.as_bytes())
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {status}"))
        }
    }
}
