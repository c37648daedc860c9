//! `notify`, lifecycle hooks and the outbox views. Notifications are outbox rows: lifecycle
//! rows are written in the same transaction as the change that caused them; the dispatcher
//! (spawned by `serve` and `watch`, or `notify --drain`) delivers them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::{
    domain::{
        DomainError, IncidentId, Status,
        audit::{AuditKind, NewAuditEntry},
    },
    notify::{Dispatcher, HookEvent, config::WebhookConfig, outbox::RetryPolicy},
    store::{DetectHooks, NewOutboxRow, OutboxRow, OutboxStatus, RegisteredHook},
};

/// A notification request: which incident, which service, what message.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyRequest {
    /// Incident id, e.g. INC-000001.
    pub id: IncidentId,
    /// A configured target's name: `jira`, `pagerduty`, `slack` or a webhook's; not a URL.
    #[schemars(length(min = 1, max = 64))]
    pub service: String,
    /// A plain-text note to include.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2000))]
    pub message: Option<String>,
}

/// A queued notification: it waits in the outbox for delivery.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NotifyReport {
    /// Outbox row id; receivers see it as the `Idempotency-Key`.
    pub outbox_id: i64,
    /// Incident the notification is about.
    pub incident: IncidentId,
    /// Target name.
    pub service: String,
    /// `pending`, `sent` or `dead` at the time of the answer.
    pub status: String,
    /// One-line summary.
    pub summary: String,
}

/// Which outbox rows to list.
#[derive(Debug, Clone, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboxListRequest {
    /// Only rows moved to the dead letters.
    #[serde(default)]
    pub dead: Option<bool>,
    /// Rows returned, 1-1000 (default 50), newest first.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// Only rows with a smaller id: the previous page's `next_before`.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub before: Option<i64>,
}

/// Outbox rows (dead letters or all), newest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OutboxList {
    pub rows: Vec<OutboxRow>,
    pub count: usize,
    /// The next page: pass it as `before` (absent on the last page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// Stops the background dispatcher when dropped.
pub struct DispatcherGuard(CancellationToken);

impl Drop for DispatcherGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// `scheme://host[:port]` of a hook's URL: what audit entries and views show (a URL's path
/// and query may carry a token).
pub fn origin(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| "(invalid URL)".into())
}

/// The hook event of a lifecycle move.
fn event_of(to: Status) -> HookEvent {
    match to {
        Status::Open => HookEvent::Detect,
        Status::Acknowledged => HookEvent::Acknowledge,
        Status::Contained => HookEvent::Contain,
        Status::Recovered => HookEvent::Recover,
        Status::Resolved => HookEvent::Resolve,
    }
}

impl IncidentService {
    /// Targets subscribed to `event`: the config's and the registered webhooks.
    async fn subscribers(&self, event: HookEvent) -> Result<Vec<String>, ServiceError> {
        let mut out = self.config.notify.subscribers(event);
        for h in self.store.webhooks().await? {
            if h.events.iter().any(|e| e == event.as_str()) && !out.contains(&h.name) {
                out.push(h.name);
            }
        }
        Ok(out)
    }

    /// Outbox rows for `event` on `id`, one per subscribed target.
    pub async fn hook_rows(
        &self,
        event: HookEvent,
        id: IncidentId,
        actor: &str,
        note: Option<&str>,
    ) -> Result<Vec<NewOutboxRow>, ServiceError> {
        Ok(self
            .subscribers(event)
            .await?
            .into_iter()
            .map(|target| NewOutboxRow {
                target,
                event: event.as_str().into(),
                incident: Some(id),
                payload: serde_json::json!({ "event": event, "incident": id, "actor": actor, "note": note }),
            })
            .collect())
    }

    /// Rows for a lifecycle move to `to` (committed with the move by the store).
    pub(super) async fn lifecycle_rows(
        &self,
        id: IncidentId,
        to: Status,
        actor: &str,
        note: Option<&str>,
    ) -> Result<Vec<NewOutboxRow>, ServiceError> {
        self.hook_rows(event_of(to), id, actor, note).await
    }

    /// Targets of detection hooks, and of recovery hooks for alert-driven recovery (committed
    /// with the findings by the store).
    pub(super) async fn detect_hooks(&self) -> Result<DetectHooks, ServiceError> {
        Ok(DetectHooks {
            targets: self.subscribers(HookEvent::Detect).await?,
            recover_targets: self.subscribers(HookEvent::Recover).await?,
        })
    }

    /// Tells the `approval` subscribers that `plan` awaits a human's approval, and how to give it;
    /// the rows carry the incident's runbooks (`runbooks`, as `incident_get` shows them) when
    /// it has any. Called by the adapters whose plans stay pending (REST, the CLI, MCP without a
    /// confirmation dialog); a failure is logged, never fatal: the plan itself is stored.
    pub async fn announce_pending(&self, plan: &crate::service::PlanReport, actor: &str) {
        let Some(id) = plan.incident_id else { return };
        let p = &plan.plan_id;
        let note = format!(
            "{}. Awaiting a human's approval: review with `incident-mcp plan {p}`, approve on the approval page \
             (/ui/plans/{p}), with `incident-mcp approve {p}` or POST /api/plans/{p}/approve (an approver's own key); \
             an agent's dialog takes a one-time code an approver gets there or with `incident-mcp code {p}`",
            plan.summary
        );
        let result = async {
            let mut rows = self.hook_rows(HookEvent::Approval, id, actor, Some(&note)).await?;
            if rows.is_empty() {
                return Ok(());
            }
            // Where the approver decides, the incident's runbooks are at hand (data).
            let runbooks = match self.store.get_incident(id).await? {
                Some(incident) => self.runbooks(&incident).await?,
                None => Default::default(),
            };
            for row in &mut rows {
                row.payload["plan_id"] = serde_json::json!(p);
                if !runbooks.is_empty() {
                    row.payload["runbooks"] = serde_json::to_value(&runbooks).unwrap_or_default();
                }
            }
            self.store.enqueue_outbox(rows, chrono::Utc::now()).await?;
            Ok::<_, ServiceError>(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(plan = %p, error = %e, "could not queue the approval notification");
        }
    }

    /// `action_failed` rows for the subscribers: `plan_id` failed (`reason` `apply_failed` or
    /// `revert_failed`) and may still be in place. A failure to read the subscribers is logged
    /// and notifies nobody: the failure itself is still recorded.
    pub(super) async fn action_failed_rows(
        &self,
        incident: Option<IncidentId>,
        plan_id: &str,
        reason: &str,
        actor: &str,
        error: &str,
        note: &str,
    ) -> Vec<NewOutboxRow> {
        let targets = self.subscribers(HookEvent::ActionFailed).await.unwrap_or_else(|e| {
            tracing::error!(plan = %plan_id, error = %e, "cannot read the webhooks; action_failed not queued");
            Vec::new()
        });
        targets
            .into_iter()
            .map(|target| NewOutboxRow {
                target,
                event: HookEvent::ActionFailed.as_str().into(),
                incident,
                payload: serde_json::json!({
                    "event": HookEvent::ActionFailed, "incident": incident, "actor": actor, "plan_id": plan_id,
                    "reason": reason, "error": crate::domain::clip(error, 500), "note": note,
                }),
            })
            .collect()
    }

    /// Enqueues `event` hooks for an incident whose change was committed elsewhere (analysis
    /// and callers without a transition of their own).
    pub async fn enqueue_hooks(&self, event: HookEvent, id: IncidentId, actor: &str) -> Result<(), ServiceError> {
        let rows = self.hook_rows(event, id, actor, None).await?;
        if !rows.is_empty() {
            self.store.enqueue_outbox(rows, chrono::Utc::now()).await?;
        }
        Ok(())
    }

    /// Every target name: the config's, then the registered webhooks.
    async fn target_names(&self) -> Result<Vec<String>, ServiceError> {
        let mut names: Vec<String> = self
            .config
            .notify
            .target_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        for h in self.store.webhooks().await? {
            if !names.contains(&h.name) {
                names.push(h.name);
            }
        }
        Ok(names)
    }

    /// Registers (or replaces) a webhook at run time for `caller` (the CLI, or REST with the
    /// agent's key). The URL passes the same SSRF guard as the config; the secret is an
    /// environment variable name the config allows (`hook_secret_env_prefix`). Only the
    /// principal that added a hook, or a human at the server's shell, may replace it. Audited.
    pub async fn register_hook(
        &self,
        mut hook: RegisteredHook,
        caller: Caller,
    ) -> Result<RegisteredHook, ServiceError> {
        let mut events = Vec::new();
        for e in &hook.events {
            let ev: HookEvent = e.parse().map_err(|m: String| DomainError::invalid("event", m))?;
            events.push(ev);
        }
        if events.is_empty() {
            return Err(DomainError::invalid(
                "event",
                "name at least one event: detect, analyze, acknowledge, contain, recover, resolve, approval, action_failed",
            )
            .into());
        }
        let ok_name = !hook.name.is_empty()
            && hook.name.len() <= 64
            && hook
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok_name || crate::notify::config::VENDORS.contains(&hook.name.as_str()) {
            return Err(DomainError::invalid(
                "name",
                "1-64 letters, digits, - or _, other than jira, pagerduty, slack",
            )
            .into());
        }
        crate::notify::config::check_url(&hook.url, self.config.notify.allow_insecure_loopback)
            .map_err(|why| DomainError::invalid("url", why))?;
        self.config
            .notify
            .check_hook_secret_env(&hook.secret_env)
            .map_err(|m| DomainError::invalid("secret_env", m))?;
        if self.config.notify.target_names().contains(&hook.name.as_str()) {
            return Err(
                DomainError::invalid("name", format!("`{}` is configured in the config file", hook.name)).into(),
            );
        }
        let mut check = self.config.notify.clone();
        check.webhooks = vec![WebhookConfig {
            name: hook.name.clone(),
            url: hook.url.clone(),
            secret_env: hook.secret_env.clone(),
            events,
        }];
        check.validate().map_err(|m| DomainError::invalid("hook", m))?;
        let existing = self.store.webhooks().await?.into_iter().find(|h| h.name == hook.name);
        if let Some(old) = &existing {
            self.check_hook_owner(old, caller, "replace").await?;
        }
        hook.added_by = Some(caller.actor.to_owned());
        let audit = NewAuditEntry::new(
            caller.actor,
            AuditKind::Hook,
            serde_json::json!({"op": "add", "name": hook.name, "origin": origin(&hook.url),
                               "secret_env": hook.secret_env, "events": hook.events,
                               "replaced": existing.is_some()}),
        );
        self.store.save_webhook(&hook, audit).await?;
        Ok(hook)
    }

    /// Removes a registered webhook for `caller`; false if there was none. The agent's key
    /// removes only hooks it added (a refusal is audited); a human at the server's shell any.
    pub async fn remove_hook(&self, name: &str, caller: Caller) -> Result<bool, ServiceError> {
        let Some(hook) = self.store.webhooks().await?.into_iter().find(|h| h.name == name) else {
            return Ok(false);
        };
        self.check_hook_owner(&hook, caller, "remove").await?;
        let audit = NewAuditEntry::new(
            caller.actor,
            AuditKind::Hook,
            serde_json::json!({"op": "remove", "name": name, "origin": origin(&hook.url), "added_by": hook.added_by}),
        );
        Ok(self.store.delete_webhook(name, audit).await?)
    }

    /// Refuses (and audits) `op` on a hook `caller` did not add, unless `caller` is a human at
    /// the server's shell.
    async fn check_hook_owner(&self, hook: &RegisteredHook, caller: Caller, op: &str) -> Result<(), ServiceError> {
        if caller.at_server_shell() || hook.added_by.as_deref() == Some(caller.actor) {
            return Ok(());
        }
        let by = hook.added_by.as_deref().unwrap_or("an earlier version (unrecorded)");
        let message = format!(
            "webhook `{}` was added by {by}, not by {}: only the principal that added a hook may {op} it; a human at \
             the server's shell may (`incident-mcp hook remove --name {}`); nothing was changed",
            hook.name, caller.actor, hook.name
        );
        let payload = serde_json::json!({"by": "hook_owner", "reason": "not_hook_owner", "op": op,
                                         "hook": hook.name, "added_by": hook.added_by, "message": message});
        self.audit_refusal(caller.actor, None, None, payload).await?;
        Err(ServiceError::Forbidden(message))
    }

    /// Registered webhooks, by name.
    pub async fn registered_hooks(&self) -> Result<Vec<RegisteredHook>, ServiceError> {
        Ok(self.store.webhooks().await?)
    }

    /// Queues a notification about an incident to a configured target.
    pub async fn notify(&self, req: NotifyRequest, caller: Caller) -> Result<NotifyReport, ServiceError> {
        let names = self.target_names().await?;
        if !names.contains(&req.service) {
            let known = if names.is_empty() {
                "none (configure [notify])".to_owned()
            } else {
                names.join(", ")
            };
            return Err(DomainError::invalid(
                "service",
                format!(
                    "no notification target named `{}`; configured targets: {known}",
                    crate::domain::clip(&req.service, 64)
                ),
            )
            .into());
        }
        let message = req.message.as_deref().map(str::trim).filter(|m| !m.is_empty());
        if message.is_some_and(|m| m.chars().count() > 2000) {
            return Err(DomainError::invalid("message", "longer than 2000 characters").into());
        }
        let incident = self
            .store
            .get_incident(req.id)
            .await?
            .ok_or(ServiceError::NotFound(req.id))?;
        let row = NewOutboxRow {
            target: req.service.clone(),
            event: HookEvent::Notify.as_str().into(),
            incident: Some(incident.id),
            payload: serde_json::json!({
                "event": "notify", "incident": incident.id, "actor": caller.actor, "message": message,
            }),
        };
        let ids = self.store.enqueue_outbox(vec![row], chrono::Utc::now()).await?;
        let outbox_id = ids.first().copied().unwrap_or_default();
        Ok(NotifyReport {
            outbox_id,
            incident: incident.id,
            service: req.service.clone(),
            status: "pending".into(),
            summary: format!(
                "notification about {} queued for {} (outbox row {outbox_id}); it is delivered at least once, retried on 429/5xx",
                incident.id, req.service
            ),
        })
    }

    /// The status of one outbox row.
    pub async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>, ServiceError> {
        Ok(self.store.outbox_row(id).await?)
    }

    /// Outbox rows with `id < before`, newest first: dead letters only, or all.
    pub async fn outbox_list(
        &self,
        dead_only: bool,
        limit: u32,
        before: Option<i64>,
    ) -> Result<OutboxList, ServiceError> {
        let status = dead_only.then_some(OutboxStatus::Dead);
        super::audit::page_bounds(limit, before)?;
        let mut rows = self
            .store
            .outbox_rows_before(status, before.unwrap_or(i64::MAX), limit + 1)
            .await?;
        let next_before = super::audit::page_end(&mut rows, limit, |r| r.id);
        Ok(OutboxList {
            count: rows.len(),
            rows,
            next_before,
        })
    }

    /// A dispatcher over this service's store and `[notify]` targets.
    pub fn dispatcher(&self) -> Result<Dispatcher, ServiceError> {
        let policy = RetryPolicy::from_config(&self.config.notify);
        let Some((notifier, clock)) = self.notifier.clone() else {
            return Err(ServiceError::Backend(
                "no notifier is wired into this process; notifications stay queued".into(),
            ));
        };
        Ok(Dispatcher::new(self.store.clone(), notifier, clock, policy))
    }

    /// Delivers the outbox in the background until the guard is dropped (it polls with a read
    /// and writes only when a row is due).
    pub fn spawn_dispatcher(&self) -> Result<Option<DispatcherGuard>, ServiceError> {
        let d = self.dispatcher()?;
        let stop = CancellationToken::new();
        tokio::spawn(d.run(stop.clone()));
        Ok(Some(DispatcherGuard(stop)))
    }
}
