//! The registry's caps and scrape-time replacement, on a registry of its own.

use super::*;

fn series(text: &str, metric: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(metric))
        .map(str::to_owned)
        .collect()
}

#[test]
fn capped_names_stop_at_the_cap_and_refuse_unsafe_text() {
    let m = Metrics::new();
    for i in 0..(MAX_NAMES + 50) {
        m.call(
            Interface::Rest,
            Some(&format!("GET /api/x{i}")),
            Outcome::Ok,
            Duration::ZERO,
        );
    }
    let long = "a".repeat(MAX_LABEL_LEN + 1);
    for hostile in ["evil\"} 1\nincident_mcp_up 0", "ünïcode", long.as_str(), ""] {
        m.call(Interface::Mcp, Some(hostile), Outcome::Ok, Duration::ZERO);
    }
    let text = m.encode();
    let rest = series(&text, "incident_mcp_calls_total{interface=\"rest\"");
    assert_eq!(rest.len(), MAX_NAMES + 1, "the cap plus `other`");
    assert!(rest.iter().any(|l| l.contains("name=\"other\"") && l.ends_with(" 50")));
    let mcp = series(&text, "incident_mcp_calls_total{interface=\"mcp\"");
    assert_eq!(
        mcp,
        ["incident_mcp_calls_total{interface=\"mcp\",name=\"other\",outcome=\"ok\"} 4"]
    );
    assert!(!text.contains("evil") && !text.contains("incident_mcp_up"));
}

#[test]
fn allowlisted_labels_admit_only_configured_names() {
    let m = Metrics::new();
    m.allow_targets(["ops-hook", "bad\"name"]);
    m.delivery("ops-hook", Delivery::Sent);
    m.delivery("registered-at-run-time", Delivery::Dead);
    m.delivery("bad\"name", Delivery::Dead);
    m.detection("/etc/passwd", "created", Some(Duration::from_secs(3)));
    m.detection("file", "created", None);
    let text = m.encode();
    assert!(text.contains("incident_mcp_notifications_total{target=\"ops-hook\",outcome=\"sent\"} 1"));
    assert!(text.contains("incident_mcp_notifications_total{target=\"other\",outcome=\"dead\"} 2"));
    assert!(text.contains("incident_mcp_detections_total{source=\"other\",change=\"created\"} 1"));
    assert!(text.contains("incident_mcp_detections_total{source=\"file\",change=\"created\"} 1"));
    assert!(text.contains("incident_mcp_detection_lag_seconds_count{source=\"other\"} 1"));
    assert!(!text.contains("passwd") && !text.contains("registered-at-run-time"));
}

#[test]
fn scrape_time_values_are_replaced_not_accumulated() {
    let m = Metrics::new();
    let row = |state, count| IncidentCount {
        state,
        kind: "network",
        severity: "high",
        count,
    };
    m.set_incidents(Some(&[row("open", 3), row("resolved", 1)]));
    m.set_incidents(Some(&[row("open", 2)]));
    let text = m.encode();
    assert!(text.contains("incident_mcp_incidents{state=\"open\",type=\"network\",severity=\"high\"} 2"));
    assert!(!text.contains("state=\"resolved\""));
    m.allow_targets(["hook"]);
    let ob = |target: &str, rows, secs| OutboxCount {
        target: target.into(),
        state: "pending",
        rows,
        oldest_age: Duration::from_secs(secs),
    };
    m.set_outbox(Some(&[ob("hook", 2, 5), ob("x1", 1, 9), ob("x2", 4, 7)]));
    let text = m.encode();
    assert!(text.contains("incident_mcp_outbox_rows{target=\"other\",state=\"pending\"} 5"));
    assert!(text.contains("incident_mcp_outbox_oldest_age_seconds{target=\"other\",state=\"pending\"} 9.0"));
    assert!(text.contains("incident_mcp_outbox_rows{target=\"hook\",state=\"pending\"} 2"));
    m.set_outbox(None);
    assert!(!m.encode().contains("incident_mcp_outbox_rows{"));
}

#[test]
fn outcomes_map_codes_and_statuses() {
    assert_eq!(Outcome::of_error_code("unknown_env"), Outcome::Input);
    assert_eq!(Outcome::of_error_code("storage_unavailable"), Outcome::Backend);
    assert_eq!(Outcome::of_http_status(202), Outcome::Ok);
    assert_eq!(Outcome::of_http_status(413), Outcome::Input);
    assert_eq!(Outcome::of_http_status(401), Outcome::Unauthorized);
    assert_eq!(Outcome::of_http_status(503), Outcome::Backend);
}
