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

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use picket_app::Shutdown;

    use super::*;
    use crate::metrics::Metrics;

    /// A receiver that fails the first `failures` POSTs with a 503; the bodies it got.
    fn receiver(failures: usize) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let got = bodies.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                got.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
                let status = if n < failures { "503 Busy" } else { "200 OK" };
                let _ = stream.write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
            }
        });
        (url, bodies)
    }

    fn deliver(url: &str, retries: u32, records: usize) -> Arc<Metrics> {
        let (queue, rx) = std::sync::mpsc::sync_channel(16);
        let metrics = Arc::new(Metrics::new());
        let ctx = SinkContext {
            label: "webhook#0".into(),
            records: rx,
            metrics: metrics.clone(),
            shutdown: Shutdown::new(),
        };
        for i in 0..records {
            queue
                .send(Record {
                    severity: None,
                    kind: "finding",
                    json: format!("{{\"n\":{i}}}").into(),
                })
                .unwrap();
        }
        drop(queue);
        let hook = Webhook::new(
            url,
            10,
            retries,
            Duration::from_millis(20),
            Duration::from_secs(5),
        );
        hook.run(&ctx);
        metrics
    }

    fn count(metrics: &Metrics, name: &str) -> String {
        let text = metrics.render(&picket_store::open("sqlite::memory:").unwrap());
        text.lines()
            .find(|l| l.starts_with(&format!("picket_{name}_total{{sink=\"webhook#0\"}}")))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap_or("0")
            .to_owned()
    }

    #[test]
    fn a_batch_is_posted_as_one_array_and_retried_until_it_is_taken() {
        let (url, bodies) = receiver(2);
        let metrics = deliver(&url, 3, 3);
        let bodies = bodies.lock().unwrap().clone();
        assert_eq!(bodies.len(), 3, "two failures and the success");
        assert!(
            bodies.iter().all(|b| b == r#"[{"n":0},{"n":1},{"n":2}]"#),
            "{bodies:?}"
        );
        assert_eq!(count(&metrics, "sink_deliveries"), "3");
        assert_eq!(count(&metrics, "sink_failures"), "2");
        assert_eq!(count(&metrics, "sink_dead_letters"), "0");
    }

    #[test]
    fn a_batch_still_refused_after_the_last_retry_is_a_dead_letter() {
        let (url, bodies) = receiver(usize::MAX);
        let metrics = deliver(&url, 2, 2);
        assert_eq!(
            bodies.lock().unwrap().len(),
            3,
            "the first attempt and two retries"
        );
        assert_eq!(count(&metrics, "sink_deliveries"), "0");
        assert_eq!(count(&metrics, "sink_failures"), "3");
        assert_eq!(count(&metrics, "sink_dead_letters"), "2");
    }
}
