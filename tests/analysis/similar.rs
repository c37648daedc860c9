//! Acceptance 3, first half: similar past incidents ranked as expected among 50 incidents, with
//! how each was resolved.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, TimeZone, Utc};
use incident_mcp::{
    domain::{IncidentId, IncidentType, Severity, Signal, SignalKind, entity::extract},
    service::{Backends, Caller, ContainRequest, ResolveRequest},
    store::{DetectHooks, DetectionBatch, NewFinding, Store, ports::*},
};
use serde_json::json;

use super::fixture::analyze;
use crate::common::Harness;

struct Past<'a> {
    fingerprint: &'a str,
    rule: &'a str,
    subject: String,
    labels: Vec<(&'a str, String)>,
    at: DateTime<Utc>,
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
}

fn pod(rule: &'static str, ns: &str, pod: &str, deployment: &str, node: &str, when: DateTime<Utc>) -> Past<'static> {
    Past {
        fingerprint: Box::leak(format!("{rule}|{ns}|{pod}").into_boxed_str()),
        rule,
        subject: format!("pod/{ns}/{pod}"),
        labels: vec![
            ("alertname", rule.to_owned()),
            ("namespace", ns.to_owned()),
            ("pod", pod.to_owned()),
            ("deployment", deployment.to_owned()),
            ("node", node.to_owned()),
        ],
        at: when,
    }
}

/// Records one incident as alert intake and detection do: its entities extracted by the
/// configured rules from its labels. `window` 0 opens a new incident for a resolved fingerprint.
async fn record(h: &Harness, p: &Past<'_>, window: u64) -> IncidentId {
    let cfg = h.svc.config();
    let patterns = cfg.analysis.compiled();
    let rules = cfg.analysis.rules(&patterns);
    let labels: BTreeMap<String, String> = p.labels.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    let signal = Signal {
        kind: SignalKind::Alert,
        source: "alertmanager".into(),
        rule: p.rule.into(),
        series: p.fingerprint.into(),
        entity: p.subject.clone(),
        value: 1.0,
        score: 1.0,
        observed_at: p.at,
        message: Some(format!("{} fired", p.rule)),
    };
    let entities = vec![extract(&rules, &signal.entity, signal.message.as_deref(), &labels)];
    let finding = NewFinding {
        fingerprint: p.fingerprint.into(),
        title: format!("{} on {}", p.rule, p.subject),
        kind: IncidentType::Availability,
        severity: Severity::High,
        labels,
        signals: vec![signal],
        entities,
    };
    let batch = DetectionBatch {
        env: "dev".into(),
        actor: "alertmanager".into(),
        findings: vec![finding],
        metrics: vec![],
        cursors: vec![],
        detector_states: vec![],
        dedup_window_secs: window,
        hooks: DetectHooks::default(),
    };
    h.store.record_detection(batch).await.unwrap()[0].id
}

#[tokio::test]
async fn similar_past_incidents_rank_as_expected_among_fifty_with_their_resolution() {
    let mut h = Harness::new().await;
    let store: Arc<dyn Store> = h.store.clone();
    h.svc = h
        .svc
        .clone()
        .with_backends(Backends::from_config(h.svc.config(), &store));

    // 45 unrelated incidents, some in the same namespace.
    let mut noise = Vec::new();
    for i in 0..45 {
        let p = if i % 3 == 0 {
            Past {
                fingerprint: Box::leak(format!("latency-{i}").into_boxed_str()),
                rule: "HighLatency",
                subject: format!("service/svc-{i}"),
                labels: vec![
                    ("alertname", "HighLatency".into()),
                    ("namespace", "shop".into()),
                    ("service", format!("svc-{i}")),
                ],
                at: at(1, 1),
            }
        } else {
            Past {
                fingerprint: Box::leak(format!("disk-{i}").into_boxed_str()),
                rule: "DiskFull",
                subject: format!("node/disk-{i}"),
                labels: vec![("alertname", "DiskFull".into()), ("node", format!("disk-{i}"))],
                at: at(1, 2),
            }
        };
        noise.push(record(&h, &p, 3600).await);
    }
    // The same crash loop before (resolved after a pod restart), the same rule on another pod
    // of the deployment, another rule on the same pod, the same rule elsewhere.
    let first = pod("KubePodCrashLooping", "shop", "web-7", "web", "node-a", at(1, 10));
    let p1 = record(&h, &first, 3600).await;
    let p2 = record(
        &h,
        &pod("KubePodCrashLooping", "shop", "web-1", "web", "node-a", at(1, 11)),
        3600,
    )
    .await;
    let p3 = record(
        &h,
        &pod("HighMemory", "shop", "web-7", "web", "node-a", at(1, 12)),
        3600,
    )
    .await;
    let p4 = record(
        &h,
        &pod("KubePodCrashLooping", "pay", "api-1", "api", "node-c", at(1, 13)),
        3600,
    )
    .await;

    let restart: ContainRequest =
        serde_json::from_value(json!({"id": p1, "action": "delete-pod", "resource": "web-7", "namespace": "shop"}))
            .unwrap();
    let plan = h.svc.propose_contain(&restart, "mcp:agent").await.unwrap();
    h.svc.approve_plan(&plan.plan_id, "human:alice", 300).await.unwrap();
    h.svc.apply_plan(&plan.plan_id, "mcp:agent").await.unwrap();
    let note = "web-7 crash-looped on a bad config map; pod restarted after the fix";
    h.svc
        .resolve(
            ResolveRequest {
                id: p1,
                note: note.into(),
                keep_containments: false,
            },
            Caller::MCP,
        )
        .await
        .unwrap();

    // It happens again: a new incident of the same fingerprint, linked to the first.
    let mut again = pod("KubePodCrashLooping", "shop", "web-7", "web", "node-a", at(2, 10));
    again.fingerprint = first.fingerprint;
    let target = record(&h, &again, 0).await;
    assert_ne!(target, p1);
    assert_eq!(
        h.store.get_incident(target).await.unwrap().unwrap().previous_id,
        Some(p1)
    );
    // A similar incident opened later is not a past one.
    let later = record(
        &h,
        &pod("KubePodCrashLooping", "shop", "web-2", "web", "node-a", at(3, 10)),
        3600,
    )
    .await;
    assert_eq!(noise.len() + 4 + 1, 50, "fifty incidents before the later one");

    let a = analyze(&h.svc, target, 1).await;
    let similar = a.similar_incidents.as_ref().expect("similar incidents at depth 1");
    let order: Vec<IncidentId> = similar.iter().map(|s| s.id).collect();
    assert_eq!(order, [p1, p2, p3, p4], "{similar:#?}");
    assert!(!order.contains(&later) && noise.iter().all(|n| !order.contains(n)));
    let scores: Vec<f64> = similar.iter().map(|s| s.score).collect();
    assert_eq!(scores[0], 1.0);
    assert!(scores.windows(2).all(|w| w[0] > w[1]), "{scores:?}");
    // The documented formula, part by part: p2 shares the rule, 3 of 5 entities, every title
    // word and 4 of 6 labels.
    let want_p2 = 0.15 + 0.25 * 3.0 / 5.0 + 0.10 * 1.0 + 0.10 * 4.0 / 6.0;
    assert!((scores[1] - want_p2).abs() < 0.001, "{} vs {want_p2}", scores[1]);
    assert_eq!(similar[1].shared_entities, 3);
    assert!(similar[0].reasons[0].starts_with("same fingerprint family"));
    assert!(similar[2].reasons.iter().any(|r| r.starts_with("4 shared entities")));
    assert!(similar[3].reasons.iter().any(|r| r == "same rule KubePodCrashLooping"));

    // How the first one was resolved: the note, the action applied and who approved it, the
    // time from its first signal to its resolution.
    let r = similar[0].resolution.as_ref().expect("resolved");
    assert_eq!(r.note.as_deref(), Some(note));
    assert_eq!(r.resolved_by, "mcp");
    assert_eq!(r.time_to_resolve_secs, (r.resolved_at - at(1, 10)).num_seconds());
    let acted = &similar[0].actions;
    assert_eq!(acted.len(), 1, "{acted:?}");
    assert_eq!(
        (
            acted[0].action.as_str(),
            acted[0].resource.as_str(),
            acted[0].namespace.as_deref()
        ),
        ("delete-pod", "web-7", Some("shop"))
    );
    assert_eq!(acted[0].approved_by.as_deref(), Some("human:alice"));
    assert_eq!(acted[0].plan_id, plan.plan_id);
    assert!(similar[1].resolution.is_none() && similar[1].actions.is_empty());

    // Depth 0 leaves them out.
    assert!(analyze(&h.svc, target, 0).await.similar_incidents.is_none());
}
