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
    store::{SqliteStore, ports::*},
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

/// Rebuilds the chain from `from` on with a forged payload and consistent hashes, and moves the
/// head along: what someone with write access to the file and this project's source could do.
async fn rewrite_from(db: &Path, store: &SqliteStore, from: i64) {
    let mut entries = store.audit_page(0, 100).await.unwrap();
    let mut sql = vec!["DROP TRIGGER audit_log_no_update".to_owned()];
    for i in (from as usize - 1)..entries.len() {
        if i + 1 == from as usize {
            entries[i].payload = json!({"step": "forged"});
        } else {
            entries[i].prev_hash = entries[i - 1].hash.clone();
        }
        entries[i].hash = entries[i].compute_hash();
        let e = &entries[i];
        sql.push(format!(
            "UPDATE audit_log SET payload = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {}",
            e.payload, e.prev_hash, e.hash, e.seq
        ));
    }
    let last = entries.last().unwrap();
    sql.push(format!(
        "UPDATE audit_head SET seq = {}, hash = '{}'",
        last.seq, last.hash
    ));
    tamper(db, &sql.iter().map(String::as_str).collect::<Vec<_>>()).await;
}

#[tokio::test]
async fn a_full_rewrite_passes_the_chain_but_not_an_anchor_kept_outside() {
    let (_dir, db, store) = store_with_entries(5).await;
    // Anchors taken before the rewrite: the head (`audit anchor`) and entry 1 (`audit list`).
    let (code, head, err) = audit_cli(&db, &["anchor", "--format", "table"]);
    assert_eq!(code, 0, "{err}");
    let head = head.trim().to_owned();
    assert!(head.starts_with("5:") && head.len() == 2 + 64, "{head}");
    let (_, json_head, _) = audit_cli(&db, &["anchor", "--format", "json"]);
    let j: Value = serde_json::from_str(&json_head).unwrap();
    assert_eq!(format!("{}:{}", j["seq"], j["hash"].as_str().unwrap()), head);
    let first = store.audit_page(0, 1).await.unwrap().remove(0);
    let first = format!("1:{}", first.hash);
    let (code, out, _) = audit_cli(
        &db,
        &["verify", "--anchor", &head, "--anchor", &first, "--format", "table"],
    );
    assert_eq!(code, 0);
    assert!(
        out.starts_with("5 entries, chain intact, matches its 2 anchors\nhead 5:"),
        "{out}"
    );

    rewrite_from(&db, &store, 3).await;
    // The chain and its head are self-consistent again: without an anchor nothing shows.
    let (code, out, _) = audit_cli(&db, &["verify", "--format", "table"]);
    assert_eq!(code, 0, "the documented limit of a chain alone: {out}");
    assert!(!out.contains(&head), "the head moved: {out}");
    // The anchor kept outside catches it; an anchor before the rewrite still matches.
    let (code, out, err) = audit_cli(&db, &["verify", "--anchor", &head, "--format", "table"]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("broken at seq 5") && err.contains("anchor"), "{err}");
    let (code, out, _) = audit_cli(&db, &["verify", "--anchor", &first, "--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (code, v["intact"].clone(), v["anchors"].clone()),
        (0, json!(true), json!(1))
    );
}

#[tokio::test]
async fn a_truncation_below_an_anchor_is_detected() {
    let (_dir, db, store) = store_with_entries(4).await;
    let (_, head, _) = audit_cli(&db, &["anchor", "--format", "table"]);
    let second = store.audit_page(1, 1).await.unwrap().remove(0);
    tamper(
        &db,
        &[
            "DROP TRIGGER audit_log_no_delete",
            "DELETE FROM audit_log WHERE seq > 2",
            &format!("UPDATE audit_head SET seq = 2, hash = '{}'", second.hash),
        ],
    )
    .await;
    assert_eq!(
        audit_cli(&db, &["verify", "--format", "table"]).0,
        0,
        "consistent without the anchor"
    );
    let (code, _, err) = audit_cli(&db, &["verify", "--anchor", head.trim()]);
    assert_eq!(code, 1);
    assert!(err.contains("broken at seq 4") && err.contains("ends before"), "{err}");
}

#[tokio::test]
async fn malformed_or_conflicting_anchors_and_an_empty_log_are_input_errors() {
    let (_dir, db, _store) = store_with_entries(0).await;
    let (code, _, err) = audit_cli(&db, &["anchor"]);
    assert_eq!(code, 1);
    assert!(err.contains("empty") && err.contains("nothing to anchor"), "{err}");
    let (code, _, err) = audit_cli(&db, &["verify", "--anchor", "5:not-a-hash"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("SEQ:HASH") && err.contains("--anchor"), "{err}");
    let (_dir, db, _store) = store_with_entries(2).await;
    let (a, b) = (format!("2:{}", "a".repeat(64)), format!("2:{}", "b".repeat(64)));
    let (code, _, err) = audit_cli(&db, &["verify", "--anchor", &a, "--anchor", &b]);
    assert_eq!(code, 1);
    assert!(
        err.contains("different hashes") && err.contains("nothing was verified"),
        "{err}"
    );
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
