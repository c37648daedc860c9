//! Issue 10, acceptance 1: a client holding only the agent's key gets nothing applied without a
//! human acting on a human channel. The MCP dialog asks for a one-time code that only an
//! approver gets (approval page, Slack, a terminal); whatever the agent can read or guess (the
//! target's name printed in the dialog, a made-up code, a code for another plan, a spent code,
//! a human-looking client name) approves nothing, and every attempt is audited.

use crate::common;
use crate::recording_backend;
use crate::respond;

use common::{Harness, HttpServer, Proto, call, ok, secret};
use incident_mcp::mcp::ToolPolicy;
use respond::{DialogClient, Human, NamedClient, POLICY, audit, backends, config, contain_args, detect, refusals};
use secrecy::SecretString;
use serde_json::json;

async fn keyed() -> (Harness, HttpServer, std::sync::Arc<recording_backend::RecordingBackend>) {
    let mut cfg = config(POLICY);
    cfg.api_key = Some(SecretString::from(secret("agent-key")));
    let mut h = Harness::with_config(cfg).await;
    let backend = recording_backend::RecordingBackend::new();
    h.svc = h.svc.clone().with_backends(backends(&backend));
    detect(&h).await;
    let server = h.http_server(ToolPolicy::default()).await;
    (h, server, backend)
}

#[tokio::test]
async fn over_http_the_agent_answering_its_own_dialog_approves_nothing_on_either_revision() {
    let (h, server, b) = keyed().await;
    let agent = secret("agent-key");
    let mut n = 0;
    for proto in [Proto::Legacy, Proto::Modern] {
        for typed in ["web-1", "ABCD-EFGH", ""] {
            let dialog = DialogClient::new(Human::Types(typed.into()));
            let asked = dialog.asked.clone();
            let client = server.client(Some(&agent), proto, dialog).await;
            // One plan each (a plan takes five wrong codes, then locks).
            n += 1;
            let r = ok(&call(&client, "incident_contain", contain_args(&format!("web-{n}"), "shop")).await);
            assert_eq!(r["status"], "not_applied", "{proto:?} {typed}: {r}");
            let text = serde_json::to_string(&r).unwrap();
            assert!(text.contains("pending"), "{text}");
            assert_eq!(
                refusals(&h).await.last().map(String::as_str),
                Some("wrong_code"),
                "{proto:?} {typed}"
            );
            let question = asked.lock().unwrap().concat();
            assert!(question.contains("one-time code"), "{question}");
            // Applying afterwards: no approval exists.
            let id = r["plan_id"].as_str().unwrap();
            let e = common::err_text(&call(&client, "incident_apply", json!({"plan_id": id})).await);
            assert!(e.contains("no approval"), "{e}");
            client.cancel().await.unwrap();
        }
    }
    assert_eq!(b.apply_count(), 0);
    assert!(audit(&h).await.iter().all(|e| e.kind != "approval"));
}

#[tokio::test]
async fn over_http_a_code_an_approver_got_out_of_band_approves_as_that_human_on_either_revision() {
    let (h, server, b) = keyed().await;
    let agent = secret("agent-key");
    let mut codes = Vec::new();
    for (n, proto) in [Proto::Legacy, Proto::Modern].into_iter().enumerate() {
        let human = Human::gets_code(&h);
        let Human::GetsCode(desk) = &human else { unreachable!() };
        let issued = desk.2.clone();
        let client = server.client(Some(&agent), proto, DialogClient::new(human)).await;
        let pod = format!("web-{}", n + 1);
        let r = ok(&call(&client, "incident_contain", contain_args(&pod, "shop")).await);
        assert_eq!(r["status"], "applied", "{proto:?}: {r}");
        let code = issued.lock().unwrap().pop().expect("the approver got a code");
        assert!(
            !serde_json::to_string(&r).unwrap().contains(&code),
            "a code in a tool result"
        );
        codes.push(code);
        client.cancel().await.unwrap();
    }
    // No log line kept a code (the client's dialog answer is logged at debug level, redacted).
    let path = std::env::var("INCIDENT_MCP_LOG_FILE").expect("the suite's log file (scripts/test)");
    let log = std::fs::read_to_string(path).unwrap();
    for c in &codes {
        assert!(!log.contains(c.as_str()), "a one-time code in the log");
    }
    assert_eq!(b.apply_count(), 2);
    let log = audit(&h).await;
    let approvers: Vec<&str> = log
        .iter()
        .filter(|e| e.kind == "approval")
        .map(|e| e.actor.as_str())
        .collect();
    assert_eq!(approvers, ["human:alice", "human:alice"]);
}

#[tokio::test]
async fn a_human_looking_client_name_is_still_an_agent() {
    let (h, server, b) = keyed().await;
    let agent = secret("agent-key");
    for proto in [Proto::Legacy, Proto::Modern] {
        let client = server
            .client(Some(&agent), proto, NamedClient("human:alice", proto))
            .await;
        let r = ok(&call(&client, "incident_contain", contain_args("web-1", "shop")).await);
        let id = r["plan_id"].as_str().unwrap().to_owned();
        let view = h.svc.plan_view(&id).await.unwrap();
        assert_eq!(view.principal, "mcp:humanalice", "the name is filtered, never `human:`");
        let e = common::err_text(&call(&client, "incident_apply", json!({"plan_id": id})).await);
        assert!(e.contains("no approval"), "{e}");
        client.cancel().await.unwrap();
    }
    assert_eq!(b.apply_count(), 0);
}

#[tokio::test]
async fn guessed_replayed_and_foreign_codes_approve_nothing_and_five_wrong_ones_lock_the_plan() {
    let (h, _server, b) = keyed().await;
    let svc = &h.svc;
    let agent = "mcp:agent";
    let req = |pod: &str| serde_json::from_value(contain_args(pod, "shop")).unwrap();
    let a = svc.propose_contain(&req("web-1"), agent).await.unwrap().plan_id;
    let other = svc.propose_contain(&req("web-2"), agent).await.unwrap().plan_id;

    // A code issued for another plan does not approve this one.
    let foreign = svc.issue_code(&other, "human:alice").await.unwrap();
    let e = svc.approve_with_code(&a, &foreign.code, agent).await.unwrap_err();
    assert!(e.to_string().contains("not a live one-time code"), "{e}");

    // An approver's own plan gets no code from them; agents get none at all.
    assert!(svc.issue_code(&a, "mcp:agent").await.is_err());

    // A real code approves as the human it was issued to, once.
    let code = svc.issue_code(&a, "human:bob").await.unwrap();
    let granted = svc.approve_with_code(&a, &code.code, agent).await.unwrap();
    assert_eq!(granted.approver, "human:bob");
    svc.apply_plan(&a, agent).await.unwrap();
    assert_eq!(b.apply_count(), 1);
    // Replayed: spent.
    let e = svc.approve_with_code(&a, &code.code, agent).await.unwrap_err();
    assert!(e.to_string().contains("not a live one-time code"), "{e}");
    // The history the agent can read holds only an argon2id hash of the code (memory-hard: a
    // 40-bit code is not found offline within its five minutes).
    let issued = audit(&h).await.into_iter().find(|e| e.kind == "code").unwrap();
    assert!(
        issued.payload["code_hash"].as_str().unwrap().starts_with("$argon2id$"),
        "{:?}",
        issued.payload
    );
    // The code never reached the database in clear.
    let mut db_text = Vec::new();
    for f in std::fs::read_dir(h.dir.path()).unwrap() {
        db_text.extend(std::fs::read(f.unwrap().path()).unwrap());
    }
    let db_text = String::from_utf8_lossy(&db_text);
    for form in [code.code.clone(), code.code.replace('-', "")] {
        assert!(!db_text.contains(&form), "a code in the database");
    }

    // Guessing: the fourth wrong guess still leaves a try, the fifth locks the plan, and then
    // even the right code is refused (the human channels still approve).
    let live = svc.issue_code(&other, "human:carol").await.unwrap();
    for n in 1..=4 {
        let e = svc.approve_with_code(&other, "ZZZZ-ZZZZ", agent).await.unwrap_err();
        assert!(e.to_string().contains(&format!("{} attempt(s) left", 5 - n)), "{e}");
    }
    svc.approve_with_code(&other, "ZZZZ-ZZZ2", agent).await.unwrap_err();
    let e = svc.approve_with_code(&other, &live.code, agent).await.unwrap_err();
    assert!(e.to_string().contains("no more codes"), "{e}");
    assert!(svc.issue_code(&other, "human:carol").await.is_err());
    let reasons = refusals(&h).await;
    assert_eq!(reasons.iter().filter(|r| *r == "wrong_code").count(), 1 + 1 + 5);
    assert_eq!(reasons.iter().filter(|r| *r == "plan_locked").count(), 2);
    assert_eq!(b.apply_count(), 1);
    // A human channel still approves the locked plan.
    svc.approve_plan(&other, "human:carol", 60).await.unwrap();
}

/// Two dialogs typing one code at once (a replay racing the real answer) approve once: the
/// code is spent in the same transaction that checks it is unspent, and the loser is refused
/// and audited.
#[tokio::test]
async fn one_code_typed_in_two_dialogs_at_once_approves_once() {
    let (h, _server, _b) = keyed().await;
    let svc = &h.svc;
    let req = serde_json::from_value(contain_args("web-1", "shop")).unwrap();
    let plan = svc.propose_contain(&req, "mcp:agent").await.unwrap().plan_id;
    let code = svc.issue_code(&plan, "human:bob").await.unwrap().code;
    let (a, b) = tokio::join!(
        svc.approve_with_code(&plan, &code, "mcp:agent"),
        svc.approve_with_code(&plan, &code, "mcp:agent-2"),
    );
    let (won, lost): (Vec<_>, Vec<_>) = [a, b].into_iter().partition(Result::is_ok);
    assert_eq!((won.len(), lost.len()), (1, 1), "exactly one dialog approves");
    let e = lost.into_iter().next().unwrap().unwrap_err().to_string();
    assert!(
        e.contains("was used already") || e.contains("not a live one-time code"),
        "{e}"
    );
    let used = audit(&h)
        .await
        .into_iter()
        .filter(|e| e.kind == "code" && e.payload["event"] == "used")
        .count();
    assert_eq!(used, 1, "the code is spent once");
    let approvals = audit(&h).await.into_iter().filter(|e| e.kind == "approval").count();
    assert_eq!(approvals, 1);
}
