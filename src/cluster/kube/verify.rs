//! Health verification after a recovery: the Deployments and StatefulSets a recovery patched
//! are read until the controller has observed their latest generation and every desired
//! replica is updated and available (what `kubectl rollout status` waits for), or until the
//! verification window ends. Reads only.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::{KubeBackend, map_err, object_name};
use crate::cluster::{BackendError, Change, Health};

/// Waits up to `window` for the workloads `changes` touched to be healthy; the first workload
/// still unhealthy at the end is reported.
pub(super) async fn verify(b: &KubeBackend, changes: &[Change], window: Duration) -> Result<Health, BackendError> {
    let mut targets: Vec<(&str, &str, &str, &str)> = Vec::new();
    for c in changes {
        if let Change::Kube {
            api_version,
            kind,
            namespace: Some(ns),
            name,
            ..
        } = c
            && matches!(kind.as_str(), "Deployment" | "StatefulSet")
        {
            let t = (api_version.as_str(), kind.as_str(), ns.as_str(), name.as_str());
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
    }
    if targets.is_empty() {
        return Ok(Health::NotChecked);
    }
    let deadline = Instant::now() + window;
    // Polling is this backend's own pace, not a test's: a twentieth of the window, 0.1 to 2 s.
    let interval = (window / 20).clamp(Duration::from_millis(100), Duration::from_secs(2));
    loop {
        let mut waiting = None;
        for (api_version, kind, ns, name) in &targets {
            let what = object_name(kind, Some(ns), name);
            let obj = b
                .dynamic(api_version, kind, Some(ns))?
                .get(name)
                .await
                .map_err(|e| map_err(&what, &e))?;
            let obj = serde_json::to_value(&obj).unwrap_or_default();
            if let Some(why) = unhealthy(&obj) {
                waiting = Some(format!("{what}: {why}"));
                break;
            }
        }
        match waiting {
            None => return Ok(Health::Healthy),
            Some(why) if Instant::now() >= deadline => {
                return Ok(Health::Unhealthy(format!("{why} after {} s", window.as_secs_f64())));
            }
            Some(_) => tokio::time::sleep(interval.min(deadline - Instant::now())).await,
        }
    }
}

/// Why a workload object is not rolled out yet, or `None` when it is.
fn unhealthy(obj: &Value) -> Option<String> {
    let int = |p: &str| obj.pointer(p).and_then(Value::as_i64);
    let generation = int("/metadata/generation").unwrap_or(0);
    let observed = int("/status/observedGeneration");
    if observed.is_none_or(|o| o < generation) {
        return Some(format!(
            "the controller has not observed generation {generation} yet (observed {})",
            observed.map_or("none".into(), |o| o.to_string())
        ));
    }
    // An unset spec.replicas means 1, as the API server defaults it.
    let want = int("/spec/replicas").unwrap_or(1);
    let updated = int("/status/updatedReplicas").unwrap_or(0);
    let available = int("/status/availableReplicas").unwrap_or(0);
    (updated != want || available != want)
        .then(|| format!("{updated} updated and {available} available of {want} desired replicas"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::unhealthy;

    #[test]
    fn rolled_out_means_observed_generation_and_all_replicas_updated_and_available() {
        let obj = |obs: i64, updated: i64, available: i64| {
            json!({ "metadata": { "generation": 3 }, "spec": { "replicas": 2 },
                    "status": { "observedGeneration": obs, "updatedReplicas": updated, "availableReplicas": available } })
        };
        assert_eq!(unhealthy(&obj(3, 2, 2)), None);
        assert_eq!(unhealthy(&obj(4, 2, 2)), None);
        assert!(unhealthy(&obj(2, 2, 2)).unwrap().contains("generation 3"));
        assert!(unhealthy(&obj(3, 1, 2)).unwrap().contains("1 updated"));
        assert!(unhealthy(&obj(3, 2, 1)).unwrap().contains("1 available"));
        assert!(unhealthy(&json!({ "metadata": { "generation": 1 }, "status": {} })).is_some());
        let scaled_to_zero = json!({ "metadata": { "generation": 1 }, "spec": { "replicas": 0 },
                                     "status": { "observedGeneration": 1 } });
        assert_eq!(unhealthy(&scaled_to_zero), None);
    }
}
