//! Approve / Deny buttons pressed in Slack (`POST /api/slack/interactions`).
//!
//! A press counts only if Slack's request signature holds (HMAC-SHA256 with the app's signing
//! secret, timestamp within five minutes), the same request was not seen before (its key is
//! kept in the store for the window, so a replay is refused across restarts and replicas), and
//! the Slack user is a configured approver (`[[approvers]] slack_user_id`): the approval or
//! denial is then recorded as `human:<name>`, exactly as on the other human channels. The
//! message is updated with the outcome (`chat.update`, buttons removed). Every refusal is
//! audited with a `slack_*` reason.
//!
//! Answers (Slack needs one within 3 s and shows nothing of a 200's body for `block_actions`):
//! 401 for a bad signature, a stale timestamp or a replay (these are not Slack's requests, or
//! not any more); 400 for a signed but malformed payload; 200 for everything Slack really sent
//! on behalf of a user, refusals included, with the reason told to that user alone
//! (`chat.postEphemeral`); 404 when interactivity is not configured; 503 when the signing
//! secret or the store is unavailable.

mod payload;
mod signature;

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::json;

pub use signature::{MAX_SKEW_SECS, sign as slack_signature};

use super::{ErrorClass, IncidentService, PlanStatus, ServiceError, human};
use crate::{
    domain::clip,
    notify::{
        process_env,
        slack_api::SlackWebApi,
        slack_blocks::{self, APPROVE_ACTION, CODE_ACTION, DENY_ACTION, OPEN_PAGE_ACTION, PlanFacts},
    },
};
use payload::BlockAction;
use signature::SignatureRefusal;

/// How long an approval given in Slack stays valid (single-use either way).
pub const SLACK_APPROVAL_TTL_SECS: u64 = 300;
/// How long the answer waits for Slack's Web API (message update) before answering anyway.
const FOLLOW_UP_WAIT: Duration = Duration::from_millis(2000);

/// What Slack posted: the two signature headers and the raw body.
pub struct SlackRequest<'a> {
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub body: &'a [u8],
}

/// The answer to Slack.
#[derive(Debug, Clone, Serialize)]
pub struct SlackAnswer {
    /// HTTP status.
    #[serde(skip)]
    pub status: u16,
    /// `approved`, `denied`, `code_sent`, `ignored` (a link button) or `refused`.
    pub outcome: &'static str,
    /// What happened, also told to the user in Slack.
    pub message: String,
    /// Whether Slack's Web API confirmed the message update or the note to the user in time.
    pub slack_told: bool,
}

impl SlackAnswer {
    fn new(status: u16, outcome: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            outcome,
            message: message.into(),
            slack_told: false,
        }
    }
}

/// What to tell Slack after deciding.
enum FollowUp {
    Update {
        channel: String,
        ts: String,
        text: String,
        blocks: serde_json::Value,
    },
    Ephemeral {
        channel: String,
        user: String,
        text: String,
    },
}

impl IncidentService {
    /// Handles one interaction request from Slack.
    pub async fn slack_interaction(&self, req: SlackRequest<'_>, now: DateTime<Utc>) -> SlackAnswer {
        match self.slack_interaction_inner(req, now).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "slack interaction failed");
                SlackAnswer::new(503, "refused", format!("{e}; nothing was done"))
            }
        }
    }

    async fn slack_interaction_inner(
        &self,
        req: SlackRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<SlackAnswer, ServiceError> {
        let var = self
            .config
            .notify
            .slack
            .as_ref()
            .and_then(|s| s.signing_secret_env.as_deref());
        let Some(var) = var else {
            return Ok(SlackAnswer::new(
                404,
                "refused",
                "Slack interactivity is not configured ([notify.slack] signing_secret_env)",
            ));
        };
        let Some(secret) = process_env()(var).map(SecretString::from) else {
            tracing::error!(signing_secret_env = %var, "the Slack signing secret variable is not set");
            return Ok(SlackAnswer::new(
                503,
                "refused",
                "the Slack signing secret is not available; nothing was done",
            ));
        };
        let verified = signature::verify(
            secret.expose_secret().as_bytes(),
            req.timestamp,
            req.signature,
            req.body,
            now.timestamp(),
        );
        let ts = match verified {
            Ok(ts) => ts,
            Err(SignatureRefusal::Bad(why)) => return self.slack_refuse(401, "slack_bad_signature", why, None).await,
            Err(SignatureRefusal::Stale { skew_secs }) => {
                let why = format!(
                    "the request's timestamp is {skew_secs}s from this server's clock; Slack's requests are accepted \
                     within {MAX_SKEW_SECS}s"
                );
                return self.slack_refuse(401, "slack_stale", &why, None).await;
            }
        };
        let key = signature::replay_key(ts, req.signature.unwrap_or_default());
        let keep_until = DateTime::<Utc>::from_timestamp(ts + MAX_SKEW_SECS + 1, 0).unwrap_or(now);
        if !self.store.remember_request(&key, keep_until, now).await? {
            let why = "this signed request was already received; a replay changes nothing";
            return self.slack_refuse(401, "slack_replay", why, None).await;
        }
        let action = match payload::parse(req.body) {
            Ok(a) => a,
            Err(why) => return self.slack_refuse(400, "slack_malformed", &why, None).await,
        };
        match action.action_id.as_str() {
            APPROVE_ACTION | DENY_ACTION => self.slack_decide(action).await,
            CODE_ACTION => self.slack_code(action).await,
            OPEN_PAGE_ACTION => Ok(SlackAnswer::new(200, "ignored", "a link button; nothing to do")),
            other => {
                let why = format!("unknown action `{}`", clip(other, 60));
                self.slack_refuse(400, "slack_unknown_action", &why, Some(&action))
                    .await
            }
        }
    }

    /// Approve or Deny by a verified Slack user.
    async fn slack_decide(&self, action: BlockAction) -> Result<SlackAnswer, ServiceError> {
        let Some(name) = self.approvers.by_slack_user(&action.user_id).map(str::to_owned) else {
            let why = format!(
                "Slack user {} is not an approver of incident-mcp ([[approvers]] slack_user_id); nothing was done",
                action.user_id
            );
            return self.slack_refuse(200, "slack_unknown_user", &why, Some(&action)).await;
        };
        let plan_id = action.value.clone().unwrap_or_default();
        let Some(stored) = self.store.get_plan(&plan_id).await? else {
            let why = format!("no plan `{}`; nothing was done", clip(&plan_id, 40));
            return self.slack_refuse(200, "slack_unknown_plan", &why, Some(&action)).await;
        };
        // Read before deciding: after a decision, a failure must not answer "nothing was done".
        let incident = match stored.plan.incident_id {
            Some(id) => self.store.get_incident(id).await?,
            None => None,
        };
        let runbooks = match &incident {
            Some(i) => self.runbooks(i).await?,
            None => Default::default(),
        };
        let facts = PlanFacts::of(&stored, incident.as_ref()).with_runbooks(runbooks);
        let approver = human(&name);
        let approve = action.action_id == APPROVE_ACTION;
        let decided = if approve {
            self.via(crate::metrics::Channel::Slack)
                .approve_plan(&plan_id, &approver, SLACK_APPROVAL_TTL_SECS)
                .await
                .map(|r| {
                    format!(
                        "Approved by {name}, valid until {} (single use): {} may apply it now",
                        r.expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
                        r.principal
                    )
                })
        } else {
            self.via(crate::metrics::Channel::Slack)
                .deny_plan(&plan_id, &approver, &format!("denied in Slack by {name}"))
                .await
                .map(|_| format!("Denied by {name}"))
        };
        let (outcome, mut answer) = match decided {
            Ok(text) => {
                tracing::info!(plan = %plan_id, approver = %approver, approve, "decided in Slack");
                (
                    text.clone(),
                    SlackAnswer::new(200, if approve { "approved" } else { "denied" }, text),
                )
            }
            Err(e) if e.class() == ErrorClass::Backend => return Err(e),
            Err(e) => {
                let verb = if approve { "approve" } else { "deny" };
                let why = format!("could not {verb}: {e}");
                // While the plan can still be approved, another approver may decide: only this
                // user is told (ephemeral). A decided plan keeps no buttons.
                let open = |s: PlanStatus| matches!(s, PlanStatus::Pending | PlanStatus::NotApplied);
                if self.plan_view(&plan_id).await.map_or(true, |v| open(v.plan.status)) {
                    return self.slack_refuse(200, "slack_plan_refused", &why, Some(&action)).await;
                }
                self.slack_audit("slack_plan_refused", &why, Some(&action)).await?;
                (why.clone(), SlackAnswer::new(200, "refused", why))
            }
        };
        let (text, blocks) = slack_blocks::decided_message(&facts, &outcome);
        answer.slack_told = self
            .tell_slack(FollowUp::Update {
                channel: action.channel_id,
                ts: action.message_ts,
                text,
                blocks,
            })
            .await;
        Ok(answer)
    }

    /// Sends the approver who pressed "Code for the agent's dialog" a one-time code for the plan,
    /// visible to them alone (`chat.postEphemeral`); the answer to Slack never carries it.
    async fn slack_code(&self, action: BlockAction) -> Result<SlackAnswer, ServiceError> {
        let Some(name) = self.approvers.by_slack_user(&action.user_id).map(str::to_owned) else {
            let why = format!(
                "Slack user {} is not an approver of incident-mcp ([[approvers]] slack_user_id); no code was issued",
                action.user_id
            );
            return self.slack_refuse(200, "slack_unknown_user", &why, Some(&action)).await;
        };
        let plan_id = action.value.clone().unwrap_or_default();
        let issued = match self.issue_code(&plan_id, &human(&name)).await {
            Ok(c) => c,
            Err(e) if e.class() == ErrorClass::Backend => return Err(e),
            Err(e) => {
                let why = format!("no code issued: {e}");
                return self.slack_refuse(200, "slack_plan_refused", &why, Some(&action)).await;
            }
        };
        let text = format!(
            "Your one-time code for {plan_id}: *{}*. Type it into the agent's approval dialog to approve the plan \
             as {name}. Single use, valid until {}. Never paste it into a chat.",
            issued.code,
            issued.expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
        );
        let mut answer = SlackAnswer::new(200, "code_sent", "a one-time code was sent to the approver privately");
        answer.slack_told = self
            .tell_slack(FollowUp::Ephemeral {
                channel: action.channel_id,
                user: action.user_id,
                text,
            })
            .await;
        Ok(answer)
    }

    /// Audits a refusal (`reason`), tells the Slack user when there is one, answers `status`.
    async fn slack_refuse(
        &self,
        status: u16,
        reason: &'static str,
        why: &str,
        action: Option<&BlockAction>,
    ) -> Result<SlackAnswer, ServiceError> {
        self.slack_audit(reason, why, action).await?;
        tracing::info!(reason, status, "slack interaction refused");
        let mut answer = SlackAnswer::new(status, "refused", why);
        if let (200, Some(a)) = (status, action) {
            answer.slack_told = self
                .tell_slack(FollowUp::Ephemeral {
                    channel: a.channel_id.clone(),
                    user: a.user_id.clone(),
                    text: slack_blocks::escape(why),
                })
                .await;
        }
        Ok(answer)
    }

    /// The refusal's audit entry: by the approver the Slack user maps to, else `slack:<user id>`
    /// (or `slack` before the request is verified); on the plan when the button names one.
    async fn slack_audit(
        &self,
        reason: &'static str,
        why: &str,
        action: Option<&BlockAction>,
    ) -> Result<(), ServiceError> {
        let mut payload = json!({ "by": "slack_interaction", "reason": reason, "message": why });
        let mut actor = "slack".to_owned();
        let mut plan = None;
        if let Some(a) = action {
            payload["slack_user"] = json!(a.user_id);
            actor = match self.approvers.by_slack_user(&a.user_id) {
                Some(name) => human(name),
                None => format!("slack:{}", a.user_id),
            };
            let value = a.value.as_deref().unwrap_or_default();
            let stored = match value.len() == 21 && value.starts_with("plan-") {
                true => self.store.get_plan(value).await?,
                false => None,
            };
            match stored {
                Some(s) => plan = Some((s.id, s.plan.incident_id)),
                None if !value.is_empty() => {
                    payload["value"] = json!(clip(&crate::domain::sanitize_untrusted(value), 80));
                }
                None => {}
            }
        }
        let (plan, incident) = plan.map_or((None, None), |(p, i)| (Some(p), i));
        self.audit_refusal(&actor, incident, plan.as_deref(), payload).await
    }

    /// Calls Slack's Web API in a task of its own and waits for it at most `FOLLOW_UP_WAIT`, so
    /// Slack gets its answer in time even when its API is slow; true if Slack confirmed.
    async fn tell_slack(&self, f: FollowUp) -> bool {
        let api = match SlackWebApi::from_config(&self.config.notify, &process_env()) {
            Ok(api) => api,
            Err(e) => {
                tracing::warn!(error = %e, "cannot answer in Slack");
                return false;
            }
        };
        let task = tokio::spawn(async move {
            let (what, result) = match f {
                FollowUp::Update {
                    channel,
                    ts,
                    text,
                    blocks,
                } => ("chat.update", api.update(&channel, &ts, &text, &blocks).await),
                FollowUp::Ephemeral { channel, user, text } => {
                    ("chat.postEphemeral", api.ephemeral(&channel, &user, &text).await)
                }
            };
            if let Err(e) = &result {
                tracing::warn!(error = %e, call = what, "slack answer failed");
            }
            result.is_ok()
        });
        matches!(tokio::time::timeout(FOLLOW_UP_WAIT, task).await, Ok(Ok(true)))
    }
}
