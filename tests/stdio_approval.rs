//! Issue 10, acceptance 1 over stdio: the real binary spawned as a host app spawns it (or as an
//! agent with a shell would). By default its dialog takes only an approver's one-time code: the
//! target's name approves nothing. A host app that shows the dialog to its own user may opt in to
//! the name (`[server] stdio_dialog_confirms_by_name`): that is recorded as `client:<name>`, never
//! as a human, and the opt-in never applies over HTTP.

use std::{path::Path, sync::Arc};

use crate::common;
use crate::respond;

use common::{Proto, call, ok};
use incident_mcp::{
    config::{Config, DEFAULT_TOML},
    mcp::ToolPolicy,
    service::IncidentService,
    store::SqliteStore,
};
use respond::{CodeDesk, DialogClient, Human, contain_args};
use rmcp::{RoleClient, ServiceExt, service::RunningService, transport::TokioChildProcess};
use serde_json::json;

const OPT_IN: &str = "stdio_dialog_confirms_by_name = true";

async fn stdio_client(db: &Path, config: Option<&Path>, human: Human) -> RunningService<RoleClient, DialogClient> {
    let mut cmd = tokio::process::Command::new(common::bin());
    cmd.arg("--db").arg(db);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.arg("serve")
        .env_remove("OPENCLAW_API_KEY")
        .env_remove("INCIDENT_MCP_CONFIG");
    let transport = TokioChildProcess::new(cmd).expect("spawn incident-mcp serve");
    DialogClient::new(human).serve(transport).await.expect("stdio client")
}

/// The service a human channel (approval page, `incident-mcp code`) uses on the same database.
async fn desk(db: &Path) -> IncidentService {
    let store = Arc::new(SqliteStore::open(db).await.unwrap());
    IncidentService::new(store, Arc::new(Config::builtin()))
}

fn isolate(pod: &str) -> serde_json::Value {
    let mut a = contain_args(pod, "shop");
    a["id"] = json!("INC-000001");
    a
}

async fn approvers(svc: &IncidentService, plan: &str) -> Vec<String> {
    svc.plan_view(plan)
        .await
        .unwrap()
        .history
        .iter()
        .filter(|e| e.kind == "approval")
        .map(|e| e.actor.clone())
        .collect()
}

#[tokio::test]
async fn over_stdio_the_name_approves_nothing_and_an_approvers_code_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    let client = stdio_client(&db, None, Human::Types("web-7".into())).await;
    ok(&call(&client, "incident_detect", json!({"env": "dev"})).await);
    let r = ok(&call(&client, "incident_contain", isolate("web-7")).await);
    assert_eq!(r["status"], "not_applied", "{r}");
    client.cancel().await.unwrap();
    let svc = desk(&db).await;
    let plan = r["plan_id"].as_str().unwrap().to_owned();
    assert!(approvers(&svc, &plan).await.is_empty());
    let refusal = svc.plan_view(&plan).await.unwrap().history;
    assert!(
        refusal
            .iter()
            .any(|e| e.kind == "refusal" && e.payload["reason"] == "wrong_code"),
        "audited"
    );

    // An approver gets a code on a human channel and types it into the host app's dialog.
    let human = Human::GetsCode(CodeDesk(svc.clone(), "human:alice", Arc::default()));
    let client = stdio_client(&db, None, human).await;
    let r = ok(&call(&client, "incident_contain", isolate("web-7")).await);
    assert_eq!(r["status"], "applied", "{r}");
    assert_eq!(r["plan_id"], json!(plan), "the same plan");
    client.cancel().await.unwrap();
    assert_eq!(approvers(&svc, &plan).await, ["human:alice"]);
}

#[tokio::test]
async fn the_stdio_name_opt_in_is_recorded_as_the_client_and_never_applies_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (db, cfg_path) = (dir.path().join("incidents.db"), dir.path().join("config.toml"));
    let text = DEFAULT_TOML.replace("stdio_dialog_confirms_by_name = false", OPT_IN);
    assert!(text.contains(OPT_IN), "the built-in config spells the option");
    std::fs::write(&cfg_path, &text).unwrap();
    let client = stdio_client(&db, Some(&cfg_path), Human::Types("web-7".into())).await;
    ok(&call(&client, "incident_detect", json!({"env": "dev"})).await);
    let r = ok(&call(&client, "incident_contain", isolate("web-7")).await);
    assert_eq!(r["status"], "applied", "{r}");
    client.cancel().await.unwrap();
    let svc = desk(&db).await;
    let plan = r["plan_id"].as_str().unwrap();
    assert_eq!(approvers(&svc, plan).await, ["client:dialog-client"]);

    // The same configuration over streamable HTTP: the name is not a code.
    let cfg = Config::parse_str(&text, "toml", "opt-in").unwrap();
    let h = common::Harness::with_config(cfg).await;
    let store: Arc<dyn incident_mcp::store::Store> = h.store.clone();
    let backends = incident_mcp::service::Backends::from_config(h.svc.config(), &store);
    let h = common::Harness {
        svc: h.svc.clone().with_backends(backends),
        ..h
    };
    let server = h.http_server(ToolPolicy::default()).await;
    let client = server
        .client(None, Proto::Legacy, DialogClient::new(Human::Types("web-7".into())))
        .await;
    ok(&call(&client, "incident_detect", json!({"env": "dev"})).await);
    let r = ok(&call(&client, "incident_contain", isolate("web-7")).await);
    assert_eq!(r["status"], "not_applied", "{r}");
    client.cancel().await.unwrap();
    assert!(approvers(&h.svc, r["plan_id"].as_str().unwrap()).await.is_empty());
}
