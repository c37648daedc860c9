//! One-time approval codes: how a human approves a plan inside an agent's MCP dialog.
//!
//! An MCP client answering a dialog is not a human by itself (the agent may run the client),
//! so the dialog asks for a code that only a named approver can get, on a channel the agent
//! cannot operate: the approval page (signed in), a Slack button answered to that user alone,
//! or `incident-mcp code` at a terminal. A code is issued to one approver for one plan hash,
//! shown once and stored only as an argon2id hash (in the `code` audit entry that records its
//! issue), single-use, and expires with the approval it would give. Five wrong codes lock the
//! plan's dialog approvals (audited); the human channels still work. The approver is the
//! human the code was issued to.
//!
//! The audit history is readable by the agent (plan views, `incident://audit`), so the stored
//! hash must not let it find the code offline: a code has about 40 bits, which a fast hash
//! would give up in minutes; argon2id (memory-hard, ~19 MiB per guess) makes that infeasible
//! within the code's five minutes.

use argon2::{
    Argon2, PasswordHash, PasswordVerifier,
    password_hash::rand_core::{OsRng, RngCore},
};
use chrono::{DateTime, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::{ApprovalReport, IncidentService, PlanStatus, ServiceError, hash_password, is_human};
use crate::domain::{
    audit::{AuditEntry, AuditKind, NewAuditEntry},
    plan::DEFAULT_APPROVAL_TTL,
};

/// Wrong codes after which a plan takes no more codes.
pub const MAX_CODE_FAILURES: usize = 5;
/// Code symbols: no 0/O, 1/I/L, so a code read aloud or off a phone is typed right.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Symbols per code (about 40 bits).
const CODE_LEN: usize = 8;

/// A code as issued: shown once to the approver it was issued to, never stored.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct IssuedCode {
    pub plan_id: String,
    /// `XXXX-XXXX`; type it into the agent's approval dialog.
    pub code: String,
    /// The approver the code approves as.
    pub approver: String,
    pub expires_at: DateTime<Utc>,
}

/// The canonical form of a typed code: symbols only, upper case.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .take(64)
        .collect()
}

/// The argon2id PHC string of a code (its own random salt inside).
fn code_hash(code: &str) -> Result<String, ServiceError> {
    hash_password(&normalise(code)).map_err(ServiceError::Backend)
}

/// Whether `code` is the one `phc` was made from.
fn code_matches(phc: &str, code: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(normalise(code).as_bytes(), &h)
            .is_ok()
    })
}

fn new_code() -> String {
    let mut raw = [0u8; CODE_LEN];
    OsRng.fill_bytes(&mut raw);
    // 256 is not a multiple of the alphabet's 31 symbols: a slight bias, well under a bit.
    let code: String = raw
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &code[..4], &code[4..])
}

/// The issued, unspent, unexpired codes of a plan's history as (approver, hash), newest last.
fn live_codes(history: &[AuditEntry], plan_hash: &str, now: DateTime<Utc>) -> Vec<(String, String)> {
    let spent: Vec<&str> = history
        .iter()
        .filter(|e| e.kind == "code" && e.payload["event"] == "used")
        .filter_map(|e| e.payload["code_hash"].as_str())
        .collect();
    history
        .iter()
        .filter(|e| e.kind == "code" && e.payload["event"] == "issued")
        .filter(|e| e.payload["plan_hash"] == plan_hash)
        .filter(|e| {
            e.payload["expires_at"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| now < t)
        })
        .filter_map(|e| {
            let hash = e.payload["code_hash"].as_str()?;
            (!spent.contains(&hash)).then(|| (e.actor.clone(), hash.to_owned()))
        })
        .collect()
}

/// Wrong codes entered for a plan so far.
fn failures(history: &[AuditEntry]) -> usize {
    history
        .iter()
        .filter(|e| e.kind == "refusal" && e.payload["reason"] == "wrong_code")
        .count()
}

impl IncidentService {
    /// Issues a one-time code for `approver` (`human:NAME`) to approve `plan_id` in an agent's
    /// dialog. Only human channels call this (approval page, Slack, terminal).
    pub async fn issue_code(&self, plan_id: &str, approver: &str) -> Result<IssuedCode, ServiceError> {
        if !is_human(approver) {
            return Err(ServiceError::Conflict(format!(
                "{} is not a human approver; no code was issued",
                crate::domain::clip(approver, 80)
            )));
        }
        let view = self.plan_view(plan_id).await?;
        if !matches!(view.plan.status, PlanStatus::Pending | PlanStatus::NotApplied) {
            return Err(ServiceError::Conflict(format!(
                "plan {plan_id} is not pending; no code was issued"
            )));
        }
        if view.principal == approver {
            return Err(ServiceError::Conflict(format!(
                "{approver} cannot approve its own plan"
            )));
        }
        if failures(&view.history) >= MAX_CODE_FAILURES {
            return Err(ServiceError::Conflict(format!(
                "plan {plan_id} is locked after {MAX_CODE_FAILURES} wrong codes; approve it on the approval page, in \
                 Slack or at a terminal instead"
            )));
        }
        let stored = self
            .store
            .get_plan(plan_id)
            .await?
            .ok_or_else(|| ServiceError::UnknownPlan(crate::domain::clip(plan_id, 40)))?;
        let code = new_code();
        let hash = code_hash(&code)?;
        let expires_at = Utc::now() + DEFAULT_APPROVAL_TTL;
        let mut entry = NewAuditEntry::new(
            approver,
            AuditKind::Code,
            json!({"event": "issued", "plan_hash": stored.hash, "code_hash": hash,
                   "expires_at": expires_at.to_rfc3339()}),
        )
        .plan(plan_id);
        if let Some(id) = stored.plan.incident_id {
            entry = entry.incident(id);
        }
        self.store.append_audit(entry).await?;
        Ok(IssuedCode {
            plan_id: plan_id.to_owned(),
            code,
            approver: approver.to_owned(),
            expires_at,
        })
    }

    /// Approves `plan_id` as the human a live code was issued to, when `code` is that code;
    /// `caller` is the dialog's principal (recorded on refusals). A wrong code is audited, and
    /// the fifth locks the plan's dialog approvals.
    pub async fn approve_with_code(
        &self,
        plan_id: &str,
        code: &str,
        caller: &str,
    ) -> Result<ApprovalReport, ServiceError> {
        let stored = self
            .store
            .get_plan(plan_id)
            .await?
            .ok_or_else(|| ServiceError::UnknownPlan(crate::domain::clip(plan_id, 40)))?;
        let incident = stored.plan.incident_id;
        let history = self.store.plan_audit(plan_id, 500).await?;
        let refuse = |reason: &str, message: String| {
            (
                json!({"env": stored.plan.env, "by": "dialog_code", "reason": reason, "message": message}),
                ServiceError::Conflict(format!("{message}; nothing was approved")),
            )
        };
        let failed = failures(&history);
        if failed >= MAX_CODE_FAILURES {
            let (p, e) = refuse(
                "plan_locked",
                format!("plan {plan_id} takes no more codes after {MAX_CODE_FAILURES} wrong ones"),
            );
            self.audit_refusal(caller, incident, Some(plan_id), p).await?;
            return Err(e);
        }
        let now = Utc::now();
        let live = live_codes(&history, &stored.hash, now);
        // argon2 is deliberately slow: verify off the async threads.
        let typed = code.to_owned();
        let found = tokio::task::spawn_blocking(move || live.into_iter().find(|(_, hash)| code_matches(hash, &typed)))
            .await
            .map_err(|e| ServiceError::Backend(format!("code check failed: {e}")))?;
        let Some((approver, hash)) = found else {
            let left = MAX_CODE_FAILURES - failed - 1;
            let (p, e) = refuse(
                "wrong_code",
                format!("that is not a live one-time code for plan {plan_id} ({left} attempt(s) left)"),
            );
            self.audit_refusal(caller, incident, Some(plan_id), p).await?;
            if left == 0 {
                let (p, _) = refuse(
                    "plan_locked",
                    format!("plan {plan_id} locked after {MAX_CODE_FAILURES} wrong codes"),
                );
                self.audit_refusal(caller, incident, Some(plan_id), p).await?;
            }
            return Err(e);
        };
        let mut used = NewAuditEntry::new(
            approver.as_str(),
            AuditKind::Code,
            json!({"event": "used", "code_hash": hash, "dialog_of": caller}),
        )
        .plan(plan_id);
        if let Some(id) = incident {
            used = used.incident(id);
        }
        if !self.store.spend_code(used, &hash).await? {
            let (p, e) = refuse("code_spent", format!("that code for plan {plan_id} was used already"));
            self.audit_refusal(caller, incident, Some(plan_id), p).await?;
            return Err(e);
        }
        let ttl = TimeDelta::minutes(2).num_seconds() as u64;
        self.via(crate::metrics::Channel::Code)
            .approve_plan(plan_id, &approver, ttl)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_readable_and_compare_in_canonical_form() {
        let code = new_code();
        assert_eq!(code.len(), 9, "{code}");
        assert!(
            code.chars().all(|c| c == '-' || ALPHABET.contains(&(c as u8))),
            "{code}"
        );
        let h = code_hash(&code).unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(code_matches(&h, &code.to_lowercase().replace('-', " ")));
        assert!(!code_matches(&h, "ZZZZ-ZZZZ"));
        assert_ne!(h, code_hash(&code).unwrap(), "salted");
        assert_ne!(code, new_code());
    }
}
