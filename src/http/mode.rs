//! `serve --read-only` and `--disable-destructive` for the REST API, as `ToolPolicy` does for
//! MCP tools: under `--read-only` every request that could change something (any method but
//! GET/HEAD/OPTIONS under `/api/`) answers 403; under `--disable-destructive` contain, recover,
//! apply, approve and approve-and-apply do. Refusals of destructive routes are audited. The check runs after the
//! bearer check (an unauthenticated caller cannot write audit entries); `approve`, which
//! authenticates approvers itself, calls [`refusal`] after identifying the approver.

use axum::{
    extract::{Request, State},
    http::{Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{respond::REST_PRINCIPAL, rest::RestError};
use crate::{
    domain::{IncidentId, clip},
    mcp::ToolPolicy,
    service::IncidentService,
};

/// Why the server's mode refuses a request.
pub(super) struct ModeRefusal {
    /// `read_only` or `destructive_disabled`.
    reason: &'static str,
    /// The flag, for the message.
    flag: &'static str,
    destructive: bool,
}

/// Whether `method path` is one of the destructive routes (contain, recover, apply, approve).
fn is_destructive(method: &Method, path: &str) -> bool {
    let seg: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    matches!(
        (method, seg.as_slice()),
        (&Method::PUT, ["", "api", "incident", "contain", _])
            | (&Method::POST, ["", "api", "incident", "recover", _])
            | (
                &Method::POST,
                ["", "api", "plans", _, "apply" | "approve" | "approve-and-apply"]
            )
    )
}

/// What `policy` refuses of `method path`, if anything.
pub(super) fn refusal(policy: ToolPolicy, method: &Method, path: &str) -> Option<ModeRefusal> {
    if !path.starts_with("/api/") || matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let destructive = is_destructive(method, path);
    if policy.read_only {
        Some(ModeRefusal {
            reason: "read_only",
            flag: "--read-only",
            destructive,
        })
    } else if policy.disable_destructive && destructive {
        Some(ModeRefusal {
            reason: "destructive_disabled",
            flag: "--disable-destructive",
            destructive,
        })
    } else {
        None
    }
}

impl ModeRefusal {
    /// Audits the refusal of a destructive route as `actor`, and answers 403.
    pub(super) async fn answer(self, svc: &IncidentService, actor: &str, method: &Method, path: &str) -> Response {
        if self.destructive {
            let seg: Vec<&str> = path.split('/').collect();
            let incident = match seg.as_slice() {
                ["", "api", "incident", _, id] => id.parse::<IncidentId>().ok(),
                _ => None,
            };
            let plan = match seg.as_slice() {
                ["", "api", "plans", id, _] => Some(clip(id, 40)),
                _ => None,
            };
            let payload = json!({"by": "server_mode", "reason": self.reason,
                                 "route": clip(&format!("{method} {path}"), 120),
                                 "message": format!("the server runs with {}", self.flag)});
            if let Err(e) = svc.audit_refusal(actor, incident, plan.as_deref(), payload).await {
                return RestError::from(e).into_response();
            }
        } else {
            // Not audited (nothing destructive was asked), still counted.
            crate::metrics::global().refusal(self.reason);
        }
        let what = if self.destructive {
            "containment, recovery, applying and approving plans are refused"
        } else {
            "requests that change anything are refused"
        };
        RestError::new(
            StatusCode::FORBIDDEN,
            &format!("the server runs with {}: {what}; nothing was changed", self.flag),
            None,
        )
        .into_response()
    }
}

/// The middleware of the agent's routes (behind the bearer check).
pub(super) async fn enforce(
    State((svc, policy)): State<(IncidentService, ToolPolicy)>,
    req: Request,
    next: Next,
) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    match refusal(policy, &method, &path) {
        Some(r) => r.answer(&svc, REST_PRINCIPAL, &method, &path).await,
        None => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classified() {
        let ro = ToolPolicy {
            read_only: true,
            disable_destructive: false,
        };
        let nd = ToolPolicy {
            read_only: false,
            disable_destructive: true,
        };
        let refused = |p, m: Method, path| refusal(p, &m, path).map(|r| (r.reason, r.destructive));
        assert_eq!(
            refused(ro, Method::PUT, "/api/incident/contain/INC-000001"),
            Some(("read_only", true))
        );
        assert_eq!(refused(ro, Method::POST, "/api/hooks"), Some(("read_only", false)));
        assert_eq!(refused(ro, Method::DELETE, "/api/hooks/x"), Some(("read_only", false)));
        assert_eq!(refused(ro, Method::GET, "/api/incidents"), None);
        assert_eq!(refused(ro, Method::POST, "/mcp"), None, "MCP has its own policy");
        assert_eq!(
            refused(nd, Method::POST, "/api/plans/plan-0123456789abcdef/approve"),
            Some(("destructive_disabled", true))
        );
        assert_eq!(
            refused(nd, Method::POST, "/api/incident/recover/INC-000001"),
            Some(("destructive_disabled", true))
        );
        assert_eq!(refused(nd, Method::POST, "/api/incident/ack/INC-000001"), None);
        assert_eq!(
            refused(ToolPolicy::default(), Method::PUT, "/api/incident/contain/INC-1"),
            None
        );
    }
}
