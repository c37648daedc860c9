//! Health verification after a recovery (rollback, restore): the backend waits, within its
//! verification window, for the workloads the recovery touched to become healthy, and the
//! environment's PromQL check (`[environments.NAME.verify]`), when configured, must pass. If
//! either does not, the recovery's recorded inverse is applied: the world goes back to the state the human
//! approved the recovery from. Both steps are audited as `outcome` entries of the recovery's
//! plan: `verify_failed` (committed before the inverse is sent) and then `rolled_back` (or
//! `rollback_failed`).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::service::{IncidentService, ServiceError};
use crate::{
    cluster::{Backend, Change, Health},
    config::VerifyQuery,
    domain::{
        Status,
        audit::{AuditKind, NewAuditEntry},
        clip,
        policy::Policy,
    },
    store::StoredPlan,
};

impl IncidentService {
    /// Verifies an applied recovery and rolls it back when it did not become healthy; `Ok`
    /// when healthy (or the backend cannot tell), an error saying what happened otherwise.
    pub(in crate::service) async fn verify_recovery(
        &self,
        stored: &StoredPlan,
        actor: &str,
        backend: &Arc<dyn Backend>,
        changes: &[Change],
        policy: &Policy,
    ) -> Result<(), ServiceError> {
        let plan = &stored.plan;
        let reason = match backend.verify(changes).await {
            Ok(Health::Healthy | Health::NotChecked) => match self.query_health(plan.env.as_str()).await {
                None => return Ok(()),
                Some(why) => why,
            },
            Ok(Health::Unhealthy(why)) => why,
            Err(e) => format!("cannot verify: {e}"),
        };
        let entry = |payload| {
            let e = NewAuditEntry::new(actor, AuditKind::Outcome, payload).plan(stored.id.clone());
            match plan.incident_id {
                Some(id) => e.incident(id),
                None => e,
            }
        };
        self.store
            .append_audit(entry(
                json!({"env": plan.env, "status": "verify_failed", "reason": reason}),
            ))
            .await?;
        let result = backend
            .apply(plan.env.as_str(), policy, &plan.inverse)
            .await
            .map_err(|e| e.to_string());
        let payload = match &result {
            Ok(results) => json!({"env": plan.env, "status": "rolled_back", "results": results}),
            Err(e) => json!({"env": plan.env, "status": "rollback_failed", "error": e}),
        };
        self.store.append_audit(entry(payload)).await?;
        let undone = match &result {
            Ok(_) => "its recorded inverse was applied (rolled back)".to_owned(),
            Err(e) => format!("rolling it back failed too ({e}); the workload needs a human"),
        };
        if let (Some(id), Ok(_)) = (plan.incident_id, &result)
            && self
                .store
                .get_incident(id)
                .await?
                .is_some_and(|i| i.status == Status::Recovered)
        {
            let note = format!("recovery {} rolled back: not healthy ({reason})", stored.id);
            self.timeline_move(id, Status::Contained, actor, &note).await;
        }
        Err(ServiceError::Backend(format!(
            "the recovery {} was applied but did not become healthy: {reason}; {undone}",
            stored.id
        )))
    }
}

impl IncidentService {
    /// `None` when the environment has no PromQL check or it passed within its window; else why not.
    async fn query_health(&self, env: &str) -> Option<String> {
        let v = self.config.environments.get(env)?.verify.as_ref()?;
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(v.interval_secs.clamp(1, 10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => return Some(format!("health query: {e}")),
        };
        let deadline = Instant::now() + Duration::from_secs(v.within_secs);
        loop {
            let why = match instant_query(&client, v).await {
                Ok(values) => out_of_bounds(v, &values),
                Err(e) => Some(e),
            };
            // Healthy: nothing to report.
            let why = why?;
            if Instant::now() + Duration::from_secs(v.interval_secs) > deadline {
                return Some(format!("health query not satisfied within {}s: {why}", v.within_secs));
            }
            // The query's own schedule: Prometheus is asked again after `interval_secs`.
            tokio::time::sleep(Duration::from_secs(v.interval_secs)).await;
        }
    }
}

/// The values of an instant query (`vector` or `scalar` result).
async fn instant_query(client: &reqwest::Client, v: &VerifyQuery) -> Result<Vec<f64>, String> {
    let url = format!("{}/api/v1/query", v.prometheus_url.trim_end_matches('/'));
    let resp = client
        .get(url)
        .query(&[("query", v.query.as_str())])
        .send()
        .await
        .map_err(|e| format!("Prometheus unreachable ({})", e.without_url()))?;
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .map_err(|_| format!("Prometheus answered {status} without JSON"))?;
    if body["status"] != "success" {
        let error = body["error"].as_str().unwrap_or("unknown error");
        return Err(format!("Prometheus refused the query ({status}): {}", clip(error, 200)));
    }
    let number = |pair: &Value| pair[1].as_str().and_then(|s| s.parse::<f64>().ok());
    let data = &body["data"];
    match data["resultType"].as_str() {
        Some("vector") => Ok(data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|series| number(&series["value"]))
            .collect()),
        Some("scalar") => Ok(number(&data["result"]).into_iter().collect()),
        other => Err(format!(
            "the query returned {}, not a vector or scalar",
            other.unwrap_or("nothing")
        )),
    }
}

/// Why `values` do not pass the check, if they do not.
fn out_of_bounds(v: &VerifyQuery, values: &[f64]) -> Option<String> {
    if values.is_empty() {
        return Some("the query returned no series".into());
    }
    let bad = values
        .iter()
        .find(|x| x.is_nan() || v.min.is_some_and(|lo| **x < lo) || v.max.is_some_and(|hi| **x > hi))?;
    let bounds = match (v.min, v.max) {
        (Some(lo), Some(hi)) => format!("{lo}..={hi}"),
        (Some(lo), None) => format!(">= {lo}"),
        (None, Some(hi)) => format!("<= {hi}"),
        (None, None) => "any".into(),
    };
    Some(format!("value {bad} is outside {bounds}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(min: Option<f64>, max: Option<f64>) -> VerifyQuery {
        VerifyQuery {
            prometheus_url: "http://127.0.0.1:9090".into(),
            query: "up".into(),
            min,
            max,
            within_secs: 10,
            interval_secs: 1,
        }
    }

    #[test]
    fn every_series_must_lie_within_the_bounds() {
        let v = check(None, Some(0.05));
        assert_eq!(out_of_bounds(&v, &[0.01, 0.05]), None);
        assert!(
            out_of_bounds(&v, &[0.01, 0.2])
                .unwrap()
                .contains("0.2 is outside <= 0.05")
        );
        assert!(out_of_bounds(&v, &[]).unwrap().contains("no series"));
        assert!(out_of_bounds(&v, &[f64::NAN]).is_some(), "NaN is never healthy");
        let both = check(Some(1.0), Some(3.0));
        assert_eq!(out_of_bounds(&both, &[1.0, 3.0]), None);
        assert!(out_of_bounds(&both, &[0.5]).unwrap().contains("1..=3"));
    }
}
