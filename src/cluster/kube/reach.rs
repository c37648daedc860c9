//! How far a containment would reach, for `analyze`: the pod and workload planners themselves
//! (GETs only), without the dry run `Backend::plan` adds, plus the Services selecting the pods
//! it touches. Nothing is planned, stored or sent that changes anything.

use std::collections::BTreeMap;

use super::{
    KubeBackend,
    context::{Seen, selects, services},
    plan, workload,
};
use crate::{
    cluster::{ActionSpec, BackendError, context::ContainmentReach},
    domain::policy::Action,
};

pub(super) async fn reach(b: &KubeBackend, spec: &ActionSpec, seen: &mut Seen) -> ContainmentReach {
    let ns = spec.namespace.clone().unwrap_or_default();
    let mut out = ContainmentReach {
        action: spec.action.to_string(),
        resource: spec.resource.clone(),
        namespace: ns.clone(),
        ..ContainmentReach::default()
    };
    let planned = match spec.action {
        Action::Isolate => plan::isolate(b, spec).await,
        Action::DeletePod => plan::delete_pod(b, spec).await,
        Action::Pause => workload::pause(b, spec).await,
        other => {
            out.error = Some(format!("the reach of {other} is not computed here"));
            return out;
        }
    };
    let p = match planned {
        Ok(p) => p,
        // Its target is gone: nothing to reach, and no failure of the cluster.
        Err(BackendError::NotFound { what }) => {
            out.error = Some(format!("{what} not found: deleted or replaced since"));
            return out;
        }
        Err(e) => {
            let e = e.to_string();
            seen.errors.push(e.clone());
            out.error = Some(e);
            return out;
        }
    };
    // The labels of the pods it touches: the pod's own, or the workload's pod template.
    let labels: BTreeMap<String, String> = match spec.action {
        Action::Pause => p
            .blast_radius
            .workloads
            .first()
            .and_then(|w| seen.templates.get(&format!("{ns}/{w}")).cloned())
            .unwrap_or_else(|| p.labels.clone()),
        _ => p.labels.clone(),
    };
    match services(b, &ns, seen).await {
        Ok(s) => {
            out.services = s
                .iter()
                .filter(|(_, sel)| selects(sel, &labels))
                .map(|(n, _)| n.clone())
                .collect();
        }
        Err(e) => {
            let e = e.to_string();
            seen.errors.push(e.clone());
            out.error = Some(e);
        }
    }
    out.pods = Some(p.blast_radius.pods);
    out.workloads = p.blast_radius.workloads;
    out.healthy_replicas_after = p.healthy_replicas_after;
    out
}
