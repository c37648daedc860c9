//! The recent history of an incident's pods and workloads, for `analyze`'s Kubernetes context:
//! their events and the Deployment's revisions (recent deploys). GET and LIST only, with `limit`.

use std::collections::BTreeMap;

use ::kube::Api;
use chrono::{DateTime, Utc};
use k8s_openapi::{
    api::{
        apps::v1::{Deployment, ReplicaSet},
        core::v1::Event,
    },
    apimachinery::pkg::apis::meta::v1::Time,
};

use super::{KubeBackend, clip, failed, list, object_name, selector_string};
use crate::{
    cluster::{
        BackendError,
        context::{ContextRequest, KubeEvent, LIST_LIMIT, MAX_EVENTS, MAX_REVISIONS, Rollout},
    },
    domain::sanitize_untrusted,
};

const REVISION: &str = "deployment.kubernetes.io/revision";

pub(super) fn time(t: &Time) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.0.as_second(), u32::try_from(t.0.subsec_nanosecond()).unwrap_or(0))
}

/// Events of the named objects (Kind, name), newest first, warnings first among equals.
pub(super) async fn events(
    b: &KubeBackend,
    ns: &str,
    objects: &[(String, String)],
) -> Result<Vec<KubeEvent>, BackendError> {
    let api = Api::<Event>::namespaced(b.client(), ns);
    let mut out: Vec<KubeEvent> = Vec::new();
    for (kind, name) in objects {
        let what = format!("the events of {ns}/{name}");
        let lp = list(LIST_LIMIT).fields(&format!("involvedObject.name={name}"));
        let items = api.list(&lp).await.map_err(failed(&what))?.items;
        out.extend(
            items
                .iter()
                .filter(|e| e.involved_object.kind.as_deref() == Some(kind.as_str()))
                .map(|e| KubeEvent {
                    object: format!(
                        "{}/{}",
                        e.involved_object
                            .kind
                            .as_deref()
                            .unwrap_or("object")
                            .to_ascii_lowercase(),
                        e.involved_object.name.as_deref().unwrap_or(name)
                    )
                    .chars()
                    .take(120)
                    .collect::<String>(),
                    kind: clip(e.type_.as_deref().unwrap_or("Normal")),
                    reason: clip(e.reason.as_deref().unwrap_or_default()),
                    message: sanitize_untrusted(e.message.as_deref().unwrap_or_default())
                        .chars()
                        .take(240)
                        .collect(),
                    count: e.count.unwrap_or(1),
                    last_at: e
                        .last_timestamp
                        .as_ref()
                        .and_then(time)
                        .or_else(|| e.event_time.as_ref().and_then(|t| time(&Time(t.0))))
                        .or_else(|| e.first_timestamp.as_ref().and_then(time))
                        .or_else(|| e.metadata.creation_timestamp.as_ref().and_then(time)),
                }),
        );
    }
    for e in &mut out {
        e.object = clip(&e.object);
    }
    out.sort_by(|a, b| {
        b.last_at
            .cmp(&a.last_at)
            .then((a.kind != "Warning").cmp(&(b.kind != "Warning")))
            .then(a.reason.cmp(&b.reason))
    });
    out.truncate(MAX_EVENTS);
    Ok(out)
}

/// A Deployment's revisions (its ReplicaSets, listed by its selector), newest first, and its pod
/// template labels.
pub(super) async fn rollouts(
    b: &KubeBackend,
    ns: &str,
    d: Deployment,
    req: &ContextRequest,
) -> Result<(Vec<Rollout>, BTreeMap<String, String>), BackendError> {
    let what = object_name("Deployment", Some(ns), d.metadata.name.as_deref().unwrap_or_default());
    let current = d.metadata.annotations.as_ref().and_then(|a| a.get(REVISION)).cloned();
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let spec = d.spec.unwrap_or_default();
    let template = spec.template.metadata.and_then(|m| m.labels).unwrap_or_default();
    let Some(sel) = selector_string(&spec.selector).filter(|s| !s.is_empty()) else {
        return Ok((Vec::new(), template));
    };
    let what = format!("the ReplicaSets of {what}");
    let replicasets = Api::<ReplicaSet>::namespaced(b.client(), ns)
        .list(&list(LIST_LIMIT).labels(&sel))
        .await
        .map_err(failed(&what))?;
    let mut out: Vec<Rollout> = replicasets
        .items
        .iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid && o.controller == Some(true))
        })
        .filter_map(|rs| {
            let rev_text = rs.metadata.annotations.as_ref()?.get(REVISION)?;
            let revision = rev_text.parse().ok()?;
            let created_at = rs.metadata.creation_timestamp.as_ref().and_then(time);
            let images = rs
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.spec.as_ref())
                .map(|s| {
                    s.containers
                        .iter()
                        .filter_map(|c| c.image.as_deref())
                        .map(clip)
                        .collect()
                })
                .unwrap_or_default();
            Some(Rollout {
                revision,
                replicaset: clip(rs.metadata.name.as_deref().unwrap_or_default()),
                in_window: created_at.is_some_and(|t| t >= req.window_from && t <= req.window_to),
                created_at,
                current: current.as_ref() == Some(rev_text),
                images,
                replicas: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
                ready: rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0),
            })
        })
        .collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.revision));
    out.truncate(MAX_REVISIONS);
    Ok((out, template))
}
