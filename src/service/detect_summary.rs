//! What a detect result says at its top level, for scripts and CI: the ids found, the most
//! severe one (`id`, so `jq .id` works), and one `alert: ...` line per incident the scan opened
//! or updated (a CI step fails the build when the output contains `alert`).

use super::{ChangeKindWire, DetectReport, DetectedIncident};

/// The stable wording of one alert line (README "CI-friendly output").
pub fn alert_line(i: &DetectedIncident) -> String {
    let change = match i.change {
        ChangeKindWire::Created => "created",
        ChangeKindWire::Updated => "updated",
        ChangeKindWire::Reopened => "reopened",
        ChangeKindWire::Unchanged => "unchanged",
    };
    format!(
        "alert: {} {change}: {} {} \"{}\"",
        i.id,
        i.severity,
        i.kind,
        i.title.replace(['"', '\n', '\r'], " ")
    )
}

/// Fills `id`, `ids` and `alerts` from `incidents`.
pub fn summarize(r: &mut DetectReport) {
    r.ids = Vec::new();
    for i in &r.incidents {
        if !r.ids.contains(&i.id) {
            r.ids.push(i.id);
        }
    }
    r.id = r
        .incidents
        .iter()
        .max_by(|a, b| {
            a.severity
                .cmp(&b.severity)
                .then(a.max_score.total_cmp(&b.max_score))
                .then(b.id.cmp(&a.id))
        })
        .map(|i| i.id);
    r.alerts = r
        .incidents
        .iter()
        .filter(|i| i.change != ChangeKindWire::Unchanged)
        .map(alert_line)
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{IncidentId, IncidentType, Severity};

    fn found(id: i64, severity: Severity, score: f64, change: ChangeKindWire) -> DetectedIncident {
        DetectedIncident {
            id: IncidentId::from_row(id),
            change,
            title: format!("T{id} \"quoted\""),
            kind: IncidentType::Network,
            severity,
            rule: "r".into(),
            entity: "pod/a/b".into(),
            anomalous_points: 1,
            new_signals: 1,
            max_score: score,
        }
    }

    #[test]
    fn most_severe_then_highest_score_then_oldest() {
        let mut r: DetectReport = serde_json::from_value(serde_json::json!({
            "env": "dev", "threshold": 0.8, "rules_evaluated": 1, "sources": [], "incidents": [],
            "created": 0, "updated": 0, "summary": "", "id": null, "ids": []
        }))
        .unwrap();
        summarize(&mut r);
        assert_eq!((r.id, r.ids.len(), r.alerts.len()), (None, 0, 0));
        r.incidents = vec![
            found(3, Severity::High, 0.9, ChangeKindWire::Unchanged),
            found(4, Severity::Critical, 0.85, ChangeKindWire::Updated),
            found(2, Severity::Critical, 0.85, ChangeKindWire::Created),
            found(5, Severity::Critical, 0.8, ChangeKindWire::Reopened),
        ];
        summarize(&mut r);
        assert_eq!(r.id, Some(IncidentId::from_row(2)));
        assert_eq!(r.ids.iter().map(|i| i.row()).collect::<Vec<_>>(), [3, 4, 2, 5]);
        assert_eq!(
            r.alerts,
            [
                "alert: INC-000004 updated: critical network \"T4  quoted \"",
                "alert: INC-000002 created: critical network \"T2  quoted \"",
                "alert: INC-000005 reopened: critical network \"T5  quoted \"",
            ]
        );
    }
}
