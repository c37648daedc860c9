//! Shared set-up of the contain/recover tests: the built-in `dev` environment with a policy,
//! one detected incident, a [`RecordingBackend`] as its cluster, and MCP clients with and
//! without a confirmation dialog (elicitation).
#![allow(dead_code)]

use std::{path::Path, sync::Arc};

use incident_mcp::{
    config::{Config, EXAMPLE_TOML},
    domain::audit::AuditEntry,
    service::{Backends, Caller, DetectRequest},
    store::ports::*,
};
use rmcp::{
    ClientHandler, ErrorData as McpError, RoleClient,
    model::{
        ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult, ElicitationAction, Implementation,
        ProtocolVersion,
    },
    service::RequestContext,
};
use serde_json::json;
use sqlx::{Connection, SqliteConnection};

use crate::common::Harness;
use crate::recording_backend::RecordingBackend;

pub const POLICY: &str = r#"
[environments.dev.policy]
allowed_actions = ["isolate", "pause", "rollback", "restore", "revert"]
allowed_namespaces = ["shop"]
resource_patterns = ["web-*"]
max_destructive_per_incident = 2
"#;

/// The built-in config with `extra` TOML appended (e.g. [`POLICY`]).
pub fn config(extra: &str) -> Config {
    Config::parse_str(&format!("{EXAMPLE_TOML}\n{extra}"), "toml", "<built-in>").expect("test config")
}

/// A harness whose `dev` environment acts through a fresh recording backend, with INC-000001 detected.
pub async fn setup() -> (Harness, Arc<RecordingBackend>) {
    setup_with(RecordingBackend::new()).await
}

pub async fn setup_with(backend: Arc<RecordingBackend>) -> (Harness, Arc<RecordingBackend>) {
    let mut h = Harness::with_config(config(POLICY)).await;
    h.svc = h.svc.clone().with_backends(backends(&backend));
    detect(&h).await;
    (h, backend)
}

pub fn backends(b: &Arc<RecordingBackend>) -> Backends {
    let mut backends = Backends::default();
    backends.cluster.insert("dev".into(), b.clone());
    backends
}

pub async fn detect(h: &Harness) {
    let req: DetectRequest = serde_json::from_value(json!({"env": "dev"})).unwrap();
    let report = h.svc.detect(req, Caller::CLI).await.expect("detect");
    assert!(!report.incidents.is_empty(), "the sample data opens incidents");
}

/// The arguments of a containment of `resource` in `ns` for INC-000001.
pub fn contain_args(resource: &str, ns: &str) -> serde_json::Value {
    json!({"id": "INC-000001", "action": "isolate", "resource": resource, "namespace": ns})
}

/// The audit log, oldest first.
pub async fn audit(h: &Harness) -> Vec<AuditEntry> {
    let mut log = h.store.audit_recent(1000).await.unwrap();
    log.reverse();
    log
}

/// Refusal reasons in the audit log, oldest first.
pub async fn refusals(h: &Harness) -> Vec<String> {
    audit(h)
        .await
        .iter()
        .filter(|e| e.kind == "refusal")
        .map(|e| e.payload["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Raw SQL on the database file, as someone with write access to it could run.
pub async fn tamper(db: &Path, statement: &str) {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(statement).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// What the human does in the confirmation dialog.
#[derive(Debug, Clone)]
pub enum Human {
    /// Types this text into the dialog's field (a name, or a guessed code).
    Types(String),
    /// An approver gets a one-time code for the plan the dialog names on a human channel
    /// (`IncidentService::issue_code`, what the approval page and `incident-mcp code` call) and
    /// types it.
    GetsCode(CodeDesk),
    Declines,
}

impl Human {
    /// `human:alice` gets a code from `h`'s service and types it.
    pub fn gets_code(h: &Harness) -> Self {
        Human::GetsCode(CodeDesk(h.svc.clone(), "human:alice", Arc::default()))
    }
}

/// Where an approver gets codes: the service and who they are.
#[derive(Clone)]
pub struct CodeDesk(
    pub incident_mcp::service::IncidentService,
    pub &'static str,
    /// Every code issued through this desk.
    pub Arc<std::sync::Mutex<Vec<String>>>,
);

impl std::fmt::Debug for CodeDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CodeDesk({})", self.1)
    }
}

/// The plan id a dialog message names.
pub fn plan_in(message: &str) -> String {
    let re = regex::Regex::new(r"plan-[0-9a-f]{16}").unwrap();
    re.find(message).expect("the dialog names the plan").as_str().to_owned()
}

/// A 2025-11-25 client that declares elicitation and answers as `Human` says.
#[derive(Debug, Clone)]
pub struct DialogClient {
    pub human: Human,
    pub asked: Arc<std::sync::Mutex<Vec<String>>>,
}

impl DialogClient {
    pub fn new(human: Human) -> Self {
        Self {
            human,
            asked: Arc::default(),
        }
    }
}

impl ClientHandler for DialogClient {
    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &request {
            self.asked.lock().unwrap().push(message.clone());
        }
        let message = match &request {
            ElicitRequestParams::FormElicitationParams { message, .. } => message.clone(),
            _ => String::new(),
        };
        Ok(match &self.human {
            Human::Types(text) => {
                ElicitResult::new(ElicitationAction::Accept).with_content(json!({"name": text, "code": text}))
            }
            Human::GetsCode(CodeDesk(svc, who, issued)) => {
                let code = svc.issue_code(&plan_in(&message), who).await.expect("a code").code;
                issued.lock().unwrap().push(code.clone());
                ElicitResult::new(ElicitationAction::Accept).with_content(json!({"code": code}))
            }
            Human::Declines => ElicitResult::new(ElicitationAction::Decline),
        })
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            Implementation::new("dialog-client", "1.0"),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }
}

/// An MCP client over duplex (default tool policy) whose dialog a human approver answers with a
/// one-time code they got for the plan (the plan's target is `_target`).
pub async fn confirming_client(
    h: &Harness,
    proto: crate::common::Proto,
    _target: &str,
) -> rmcp::service::RunningService<RoleClient, DialogClient> {
    let dialog = DialogClient::new(Human::gets_code(h));
    h.duplex_client(incident_mcp::mcp::ToolPolicy::default(), proto, dialog)
        .await
}

/// A client without elicitation that declares `name` as its identity, speaking `proto`.
#[derive(Debug, Clone)]
pub struct NamedClient(pub &'static str, pub crate::common::Proto);

impl ClientHandler for NamedClient {
    fn get_info(&self) -> ClientConfig {
        let base = match self.1 {
            crate::common::Proto::Legacy => crate::common::legacy_client(),
            crate::common::Proto::Modern => crate::common::modern_client(),
        };
        ClientConfig::new(base.capabilities, Implementation::new(self.0, "1.0"))
            .with_protocol_version(base.protocol_version)
    }
}

/// A 2025-11-25 client without elicitation.
#[derive(Debug, Clone, Default)]
pub struct PlainClient;

impl ClientHandler for PlainClient {
    fn get_info(&self) -> ClientConfig {
        crate::common::legacy_client()
    }
}
