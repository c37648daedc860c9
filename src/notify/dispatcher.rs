//! The outbox dispatcher: claims due rows with a lease, delivers them, and records each
//! attempt as sent, retry (backoff, `Retry-After`) or dead. At least once: a row is marked
//! sent only after the receiver accepted it; a sender that dies leaves the row leased, and
//! it is claimed again when the lease runs out.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{Notifier, NotifyError, outbox::RetryPolicy};
use crate::{
    metrics::Delivery,
    store::{AttemptOutcome, Store, StoreError},
};

/// The dispatcher's notion of now (tests drive it by hand).
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What one pass delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DrainReport {
    pub attempted: usize,
    pub sent: usize,
    pub retrying: usize,
    pub dead: usize,
}

/// Longest sleep between passes, so rows written by other processes are noticed.
const POLL: Duration = Duration::from_millis(500);

pub struct Dispatcher {
    store: Arc<dyn Store>,
    notifier: Arc<dyn Notifier>,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
}

impl Dispatcher {
    pub fn new(store: Arc<dyn Store>, notifier: Arc<dyn Notifier>, clock: Arc<dyn Clock>, policy: RetryPolicy) -> Self {
        Self {
            store,
            notifier,
            clock,
            policy,
        }
    }

    /// One pass: claims the rows due now and attempts each once.
    pub async fn run_once(&self) -> Result<DrainReport, StoreError> {
        let now = self.clock.now();
        let rows = self
            .store
            .claim_outbox(now, self.policy.lease_secs, self.policy.claim_batch)
            .await?;
        let mut report = DrainReport::default();
        for row in rows {
            report.attempted += 1;
            let started = self.clock.now();
            let result = self.notifier.deliver(&row).await;
            let attempts = u32::try_from(row.attempts + 1).unwrap_or(u32::MAX);
            let outcome = match result {
                Ok(d) => {
                    report.sent += 1;
                    tracing::info!(outbox = row.id, target = %row.target, event = %row.event, attempts, "notification delivered");
                    AttemptOutcome::Sent {
                        http_status: d.http_status,
                    }
                }
                Err(NotifyError::Retryable {
                    http_status,
                    retry_after,
                    message,
                }) if attempts < self.policy.max_attempts => {
                    report.retrying += 1;
                    let next_at = self.policy.next_at(self.clock.now(), attempts, retry_after);
                    tracing::warn!(outbox = row.id, target = %row.target, attempts, error = %message, next = %next_at, "notification failed; will retry");
                    AttemptOutcome::Retry {
                        http_status,
                        error: message,
                        next_at,
                    }
                }
                // Not the row's fault: queued again soon (the base delay, however many attempts
                // were made), for a process that has what this one lacks.
                Err(NotifyError::NotHere { message }) => {
                    report.retrying += 1;
                    let next_at = self.policy.next_at(self.clock.now(), 1, None);
                    tracing::warn!(outbox = row.id, target = %row.target, attempts, error = %message, next = %next_at, "this process cannot deliver the notification; it stays queued");
                    AttemptOutcome::Retry {
                        http_status: None,
                        error: message,
                        next_at,
                    }
                }
                Err(e) => {
                    report.dead += 1;
                    let (http_status, error) = match e {
                        NotifyError::Permanent { http_status, message } => (http_status, message),
                        NotifyError::Retryable {
                            http_status, message, ..
                        } => (http_status, format!("gave up after {attempts} attempts: {message}")),
                        NotifyError::NotHere { message } => (None, message),
                    };
                    tracing::warn!(outbox = row.id, target = %row.target, attempts, error = %error, "notification moved to the dead letters");
                    AttemptOutcome::Dead { http_status, error }
                }
            };
            let delivery = match &outcome {
                AttemptOutcome::Sent { .. } => Delivery::Sent,
                AttemptOutcome::Retry { .. } => Delivery::Retry,
                AttemptOutcome::Dead { .. } => Delivery::Dead,
            };
            self.store.finish_outbox(row.id, started, outcome).await?;
            crate::metrics::global().delivery(&row.target, delivery);
        }
        Ok(report)
    }

    /// Passes until nothing is due now (rows scheduled later stay queued).
    pub async fn drain(&self) -> Result<DrainReport, StoreError> {
        let mut total = DrainReport::default();
        loop {
            let r = self.run_once().await?;
            if r.attempted == 0 {
                return Ok(total);
            }
            total.attempted += r.attempted;
            total.sent += r.sent;
            total.retrying += r.retrying;
            total.dead += r.dead;
        }
    }

    /// Delivers until `stop` is cancelled, sleeping until the next row is due (at most `POLL`).
    pub async fn run(self, stop: CancellationToken) {
        while !stop.is_cancelled() {
            // A read first: the claim is a write transaction, taken only when a row is due.
            let wait = match self.store.outbox_next_due().await {
                Ok(Some(t)) if t <= self.clock.now() => {
                    if let Err(e) = self.run_once().await {
                        tracing::error!(error = %e, "outbox pass failed");
                    }
                    Duration::ZERO
                }
                Ok(Some(t)) => (t - self.clock.now()).to_std().unwrap_or(Duration::ZERO).min(POLL),
                Ok(None) => POLL,
                Err(e) => {
                    tracing::error!(error = %e, "outbox read failed");
                    POLL
                }
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(wait.max(Duration::from_millis(20))) => {}
            }
        }
    }
}
