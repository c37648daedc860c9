//! The tamper-evident audit log at its boundaries: the SQLite store, the real binary's
//! `audit verify` / `audit list`, raw-SQL tampering of the file, the `incident://audit`
//! resource over MCP. Plans and approvals: tests/approvals.rs.

use crate::common;

use std::path::Path;

use assert_cmd::Command as Cmd;
use common::*;
use incident_mcp::{
    domain::audit::{AuditKind, NewAuditEntry},
    mcp::ToolPolicy,
    store::{SqliteStore, Store},
};
use rmcp::model::{ReadResourceRequestParams, ResourceContents};
use serde_json::{Value, json};
use sqlx::{Connection, SqliteConnection};

async fn store_with_entries(n: usize) -> (tempfile::TempDir, std::path::PathBuf, SqliteStore) {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    let store = SqliteStore::open(&db).await.unwrap();
    for i in 1..=n {
        let e = store
            .append_audit(NewAuditEntry::new("cli", AuditKind::Proposal, json!({"step": i})))
            .await
            .unwrap();
        assert_eq!(e.seq, i as i64);
    }
    (dir, db, store)
}

/// Runs `incident-mcp audit ARGS` against `db`: (exit code, stdout, stderr).
fn audit_cli(db: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Cmd::new(bin())
        .env_remove("INCIDENT_MCP_CONFIG")
        .env("INCIDENT_MCP_DB", db)
        .arg("audit")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Raw SQL on the database file, as someone with write access to it could run.
async fn tamper(db: &Path, statements: &[&str]) {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    for s in statements {
        sqlx::query(s).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
}

#[tokio::test]
async fn an_intact_chain_verifies_and_lists() {
    let (_dir, db, _store) = store_with_entries(5).await;
    let (code, out, err) = audit_cli(&db, &["verify", "--format", "table"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("5 entries, chain intact\nhead "), "{out}");
    let (code, out, _) = audit_cli(&db, &["list", "--limit", "2", "--format", "json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["count"], 2);
    assert_eq!(v["entries"][0]["seq"], 5, "newest first");
    assert_eq!(v["entries"][0]["payload"]["step"], 5);
    assert_eq!(v["entries"][0]["prev_hash"], v["entries"][1]["hash"]);
}

#[tokio::test]
async fn an_empty_log_verifies() {
    let (_dir, db, _store) = store_with_entries(0).await;
    let (code, out, _) = audit_cli(&db, &["verify", "--format", "table"]);
    assert_eq!((code, out.trim()), (0, "0 entries, chain intact"));
}

#[tokio::test]
async fn updates_and_deletes_are_refused_by_the_table() {
    let (_dir, db, _store) = store_with_entries(2).await;
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    for s in [
        "UPDATE audit_log SET actor = 'x' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 2",
    ] {
        let e = sqlx::query(s).execute(&mut conn).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
    }
}

#[tokio::test]
async fn an_edited_payload_is_detected_at_its_seq() {
    let (_dir, db, _store) = store_with_entries(5).await;
    tamper(
        &db,
        &[
            "DROP TRIGGER audit_log_no_update",
            r#"UPDATE audit_log SET payload = '{"step":33}' WHERE seq = 3"#,
        ],
    )
    .await;
    let (code, out, err) = audit_cli(&db, &["verify", "--format", "table"]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("broken at seq 3") && err.contains("edited"), "{err}");
    // The JSON report names it too.
    let (code, out, _) = audit_cli(&db, &["verify", "--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (code, v["intact"].clone(), v["first_bad_seq"].clone()),
        (1, json!(false), json!(3))
    );
    assert_eq!(v["entries"], 2, "entries before the break");
}

#[tokio::test]
async fn an_edited_actor_or_time_is_detected() {
    let (_dir, db, _store) = store_with_entries(3).await;
    tamper(
        &db,
        &[
            "DROP TRIGGER audit_log_no_update",
            "UPDATE audit_log SET at = at + 1 WHERE seq = 2",
        ],
    )
    .await;
    let (code, _, err) = audit_cli(&db, &["verify"]);
    assert_eq!(code, 1);
    assert!(err.contains("seq 2"), "{err}");
}

#[tokio::test]
async fn a_deleted_middle_row_is_detected() {
    let (_dir, db, _store) = store_with_entries(5).await;
    tamper(
        &db,
        &[
            "DROP TRIGGER audit_log_no_delete",
            "DELETE FROM audit_log WHERE seq = 2",
        ],
    )
    .await;
    let (code, _, err) = audit_cli(&db, &["verify"]);
    assert_eq!(code, 1);
    assert!(err.contains("seq 2") && err.contains("missing"), "{err}");
}

#[tokio::test]
async fn a_deleted_last_row_is_detected_through_the_head() {
    let (_dir, db, _store) = store_with_entries(5).await;
    tamper(
        &db,
        &[
            "DROP TRIGGER audit_log_no_delete",
            "DELETE FROM audit_log WHERE seq = 5",
        ],
    )
    .await;
    let (code, _, err) = audit_cli(&db, &["verify"]);
    assert_eq!(code, 1);
    assert!(err.contains("seq 5") && err.contains("head records 5"), "{err}");
}

#[tokio::test]
async fn reordered_rows_are_detected() {
    let (_dir, db, _store) = store_with_entries(4).await;
    // Swap rows 2 and 3 by renumbering them.
    tamper(
        &db,
        &[
            "DROP TRIGGER audit_log_no_update",
            "UPDATE audit_log SET seq = 100 WHERE seq = 2",
            "UPDATE audit_log SET seq = 2 WHERE seq = 3",
            "UPDATE audit_log SET seq = 3 WHERE seq = 100",
        ],
    )
    .await;
    let (code, _, err) = audit_cli(&db, &["verify"]);
    assert_eq!(code, 1);
    assert!(err.contains("seq 2"), "{err}");
}

#[tokio::test]
async fn concurrent_appends_from_two_connections_never_fork() {
    let (_dir, db, a) = store_with_entries(0).await;
    let b = SqliteStore::open(&db).await.unwrap();
    let stores = [std::sync::Arc::new(a), std::sync::Arc::new(b)];
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = stores[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            s.append_audit(NewAuditEntry::new("mcp", AuditKind::Intent, json!({"task": i})))
                .await
                .unwrap()
                .seq
        }));
    }
    let mut seqs: Vec<i64> = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    let (code, out, err) = audit_cli(&db, &["verify", "--format", "table"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("40 entries, chain intact"), "{out}");
}

#[tokio::test]
async fn secrets_are_redacted_before_they_are_stored() {
    let (_dir, db, store) = store_with_entries(0).await;
    store
        .append_audit(NewAuditEntry::new(
            "cli",
            AuditKind::Application,
            json!({"script": "restart", "env": {"DB_PASSWORD": "hunter2"}, "argv": ["token=abc123xyz"]}),
        ))
        .await
        .unwrap();
    let raw = std::fs::read(&db).unwrap();
    let wal = std::fs::read(db.with_extension("db-wal")).unwrap_or_default();
    for bytes in [raw, wal] {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("hunter2") && !text.contains("abc123xyz"));
    }
    let (_, out, _) = audit_cli(&db, &["list", "--format", "json"]);
    assert!(out.contains("[REDACTED]") && out.contains("restart"), "{out}");
}

#[tokio::test]
async fn the_audit_resource_lists_recent_entries() {
    let h = Harness::new().await;
    let store = SqliteStore::open(&h.db).await.unwrap();
    for kind in [AuditKind::Proposal, AuditKind::Refusal] {
        store
            .append_audit(NewAuditEntry::new("mcp", kind, json!({"k": kind.as_str()})).plan("plan-1"))
            .await
            .unwrap();
    }
    let client = h
        .duplex_client(ToolPolicy::default(), Proto::Legacy, legacy_client())
        .await;
    let listed = client.list_all_resources().await.unwrap();
    assert!(listed.iter().any(|r| r.uri == "incident://audit"), "{listed:?}");
    let r = client
        .read_resource(ReadResourceRequestParams::new("incident://audit"))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &r.contents[0] else {
        panic!("text contents expected");
    };
    let v: Value = serde_json::from_str(text).unwrap();
    assert_eq!(v["count"], 2);
    assert_eq!(v["entries"][0]["kind"], "refusal");
    assert_eq!(v["entries"][0]["plan_id"], "plan-1");
    assert_eq!(v["entries"][1]["seq"], 1);
    let _ = client.cancel().await;
}
