//! The one cancellation signal of every long-running workflow (tokio mini-redis's `Shutdown`):
//! a cheap, cloneable handle over a `watch` channel. The binary triggers it from its one signal
//! handler (SIGINT and SIGTERM), a server from its own shutdown; workflows poll it between steps
//! or await it. It must never be a second source of truth: once triggered it stays triggered.

use std::sync::Arc;

use tokio::sync::watch;

/// A shared "stop now" flag that can be polled from blocking code and awaited from async code.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        let (sender, _) = watch::channel(false);
        Self {
            sender: Arc::new(sender),
        }
    }

    /// Asks every holder to stop. Idempotent.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.sender.borrow()
    }

    /// Completes once [`Shutdown::trigger`] has been called (at once if it already was).
    pub async fn wait(&self) {
        let mut receiver = self.sender.subscribe();
        // The sender lives as long as `self`, so `wait_for` only ends when the flag is set.
        let _ = receiver.wait_for(|stopped| *stopped).await;
    }

    /// Sleeps for `duration` on a blocking thread, waking early when triggered. Returns whether
    /// the shutdown was triggered.
    pub fn sleep(&self, duration: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + duration;
        // Short naps: a blocking thread has no waker to be woken by the channel.
        while !self.is_triggered() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            std::thread::sleep(left.min(std::time::Duration::from_millis(50)));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_reaches_every_clone_and_stays() {
        let shutdown = Shutdown::new();
        let other = shutdown.clone();
        assert!(!other.is_triggered());
        shutdown.trigger();
        assert!(other.is_triggered());
        shutdown.trigger();
        assert!(other.is_triggered());
        assert!(other.sleep(std::time::Duration::from_secs(60)));
    }

    #[test]
    fn waiting_ends_when_triggered() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let shutdown = Shutdown::new();
        let waiter = shutdown.clone();
        rt.block_on(async move {
            let wait = tokio::spawn(async move { waiter.wait().await });
            shutdown.trigger();
            wait.await.unwrap();
        });
    }
}
