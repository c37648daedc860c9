//! `outbox retry`: dead notifications put back in the queue, one by id or all of them. One
//! method for the CLI, `POST /api/outbox/{id}/retry` / `POST /api/outbox/retry-dead` and the
//! retry tool; audited (`outbox` entries naming the requeued rows).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;
use crate::{
    domain::{
        DomainError,
        audit::{AuditKind, NewAuditEntry},
    },
    store::OutboxStatus,
};

/// Which dead notifications to queue again: exactly one of `id` and `all_dead`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboxRetryRequest {
    /// A dead outbox row (incident://outbox/dead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub id: Option<i64>,
    /// true: queue every dead row again.
    #[serde(default)]
    pub all_dead: bool,
}

/// Which dead rows to requeue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryTarget {
    Row(i64),
    AllDead,
}

impl OutboxRetryRequest {
    pub fn target(&self) -> Result<RetryTarget, ServiceError> {
        match (self.id, self.all_dead) {
            (Some(id), false) => Ok(RetryTarget::Row(id)),
            (None, true) => Ok(RetryTarget::AllDead),
            _ => {
                Err(DomainError::invalid("id", "name one dead row by `id`, or pass `all_dead: true` (not both)").into())
            }
        }
    }
}

/// Result of a retry: the rows queued again, due now.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OutboxRetry {
    /// Ids of the rows queued again, ascending.
    pub requeued: Vec<i64>,
    pub count: usize,
    pub summary: String,
}

impl IncidentService {
    /// Puts dead rows back in the queue (due now, attempts kept); the dispatcher of a process
    /// that can deliver (`serve`, `watch`, `notify --drain`) sends them. Row `id` must exist
    /// (404) and be dead (409); `AllDead` with none dead requeues nothing (and audits nothing).
    pub async fn retry_outbox(&self, which: RetryTarget, caller: Caller) -> Result<OutboxRetry, ServiceError> {
        let id = match which {
            RetryTarget::Row(id) => {
                let row = self
                    .store
                    .outbox_row(id)
                    .await?
                    .ok_or(ServiceError::UnknownOutboxRow(id))?;
                if row.status != OutboxStatus::Dead {
                    return Err(not_dead(id, row.status));
                }
                Some(id)
            }
            RetryTarget::AllDead => None,
        };
        let audit = NewAuditEntry::new(
            caller.actor,
            AuditKind::Outbox,
            serde_json::json!({"op": "retry", "requested": id.map_or(serde_json::json!("all_dead"), Into::into)}),
        );
        let requeued = self.store.requeue_dead_outbox(id, chrono::Utc::now(), audit).await?;
        if let (Some(id), true) = (id, requeued.is_empty()) {
            // Another process requeued (or delivered) it between the read and the write.
            let status = self
                .store
                .outbox_row(id)
                .await?
                .map_or(OutboxStatus::Pending, |r| r.status);
            return Err(not_dead(id, status));
        }
        let summary = match requeued.len() {
            0 => "no dead notifications: nothing was requeued".to_owned(),
            n => format!(
                "{n} dead notification{} queued again, due now: {}",
                if n == 1 { "" } else { "s" },
                requeued.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
            ),
        };
        Ok(OutboxRetry {
            count: requeued.len(),
            requeued,
            summary,
        })
    }
}

fn not_dead(id: i64, status: OutboxStatus) -> ServiceError {
    ServiceError::Conflict(format!(
        "outbox row {id} is {}, not dead: only dead rows are retried; nothing was changed",
        status.as_str()
    ))
}
