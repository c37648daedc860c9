//! Every refused contain/recover/apply request is audited, whatever input made it fail. The
//! use-cases return [`Refusal`]s: those already in the audit log (policy, dry run, the
//! approval check, a backend outcome) pass through, every other one is appended here as a
//! `refusal` entry with a reason code and the offending field's value (sanitised, clipped)
//! before the error goes back to the adapter.

use serde_json::{Value, json};

use crate::service::{IncidentService, ServiceError};
use crate::{
    cluster::BackendError,
    domain::{DomainError, IncidentId, clip, sanitize_untrusted},
    store::StoreError,
};

/// Characters of an offending value kept in the audit entry.
const VALUE_CHARS: usize = 80;

/// Why a contain/recover/apply request failed, and whether the audit log says so already.
pub(in crate::service) enum Refusal {
    /// Already in the audit log (policy, dry run, approval check, backend outcome).
    Audited(ServiceError),
    /// Not audited yet; `reason` overrides the code derived from the error.
    Unaudited {
        error: ServiceError,
        reason: Option<&'static str>,
    },
}

impl From<ServiceError> for Refusal {
    fn from(error: ServiceError) -> Self {
        Refusal::Unaudited { error, reason: None }
    }
}

impl From<DomainError> for Refusal {
    fn from(e: DomainError) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        ServiceError::from(e).into()
    }
}

/// A refusal with its own reason code.
pub(in crate::service) fn coded(reason: &'static str) -> impl FnOnce(ServiceError) -> Refusal {
    move |error| Refusal::Unaudited {
        error,
        reason: Some(reason),
    }
}

/// A backend's refusal to plan: a script's bad arguments are `invalid_args`, an unknown
/// script or object `unknown_target`.
pub(in crate::service) fn plan_refusal(e: BackendError, script: bool) -> Refusal {
    match e {
        BackendError::Invalid(m) if script => ServiceError::from(DomainError::invalid("args", m)).into(),
        e @ BackendError::NotFound { .. } => coded("unknown_target")(crate::service::respond::backend_error(e)),
        e @ BackendError::Changed { .. } => coded("target_changed")(crate::service::respond::backend_error(e)),
        e @ BackendError::Refused(_) => coded("backend_refused")(crate::service::respond::backend_error(e)),
        e @ BackendError::Conflict(_) => coded("target_conflict")(crate::service::respond::backend_error(e)),
        e => crate::service::respond::backend_error(e).into(),
    }
}

/// What a refused request was.
pub(in crate::service) struct Request<'a> {
    /// `contain`, `recover` or `apply`.
    pub op: &'a str,
    pub actor: &'a str,
    pub incident: Option<IncidentId>,
    pub plan: Option<&'a str>,
    /// The request's arguments, where the offending field's value is read.
    pub args: &'a Value,
}

/// An untrusted value as the audit log shows it.
fn shown(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    clip(&sanitize_untrusted(&s), VALUE_CHARS)
}

impl IncidentService {
    /// Passes a result through, appending an unaudited refusal to the audit log first. A
    /// storage failure is returned as is: there is nothing to append to.
    pub(in crate::service) async fn settle<T>(
        &self,
        r: Result<T, Refusal>,
        req: Request<'_>,
    ) -> Result<T, ServiceError> {
        let (error, reason) = match r {
            Ok(v) => return Ok(v),
            Err(Refusal::Audited(e)) => return Err(e),
            Err(Refusal::Unaudited { error, reason }) => (error, reason),
        };
        if matches!(error, ServiceError::Store(_)) {
            return Err(error);
        }
        let reason = reason.map_or_else(|| error.reason_code(), str::to_owned);
        let field = error.field().map(str::to_owned);
        let value = field.as_deref().and_then(|f| req.args.get(f)).map(shown);
        let incident = match error {
            ServiceError::NotFound(_) => None,
            _ => req.incident,
        };
        let payload = json!({"by": "request", "request": req.op, "reason": reason, "field": field, "value": value,
                             "message": clip(&error.to_string(), 300)});
        let plan = req.plan.map(|p| clip(p, 40));
        self.audit_refusal(req.actor, incident, plan.as_deref(), payload)
            .await?;
        Err(error)
    }

    /// Audits a destructive request an adapter could not even parse (an unknown field such as
    /// `confirm`, an action that does not exist, a malformed id): `reason` `invalid_request`.
    pub async fn audit_rejected_request(&self, actor: &str, tool: &str, message: &str) -> Result<(), ServiceError> {
        let payload = json!({"by": "request", "tool": tool, "reason": "invalid_request",
                             "message": clip(&sanitize_untrusted(message), 300)});
        self.audit_refusal(actor, None, None, payload).await
    }
}
