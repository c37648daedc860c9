//! Planning of `block`: deny one address range to and from a namespace's pods.
//!
//! v1 NetworkPolicies only allow, and the traffic a pod may have is the union of what every
//! policy selecting it allows. So "deny X" is written as a policy whose only rules allow every peer
//! except X: ingress from and egress to `ipBlock {cidr: 0.0.0.0/0, except: [X]}` and
//! `ipBlock {cidr: ::/0}` (for an IPv6 X the families swap), plus every pod of every namespace
//! (`namespaceSelector: {}`, so in-cluster traffic is unaffected).
//!
//! Such a policy would WIDEN the traffic of a pod that another policy already restricts (the union
//! with "everything but X" is everything but X), including a pod under our own isolation. Hence:
//! quarantined pods are excluded (`incident-mcp/quarantine DoesNotExist`), and planning refuses
//! when another NetworkPolicy of the namespace selects one of the pods the block would select
//! (two blocks of different ranges would also cancel out). Limits: the check sees the pods and
//! policies of planning time; how ipBlock treats pod IPs is up to the network plugin. Blocking
//! next to existing policies needs a deny-capable API (AdminNetworkPolicy, Cilium/Calico CRDs).

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use ::kube::{Api, api::ListParams};
use k8s_openapi::{
    api::{core::v1::Pod, networking::v1::NetworkPolicy},
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};
use serde_json::json;

use super::{
    ACTION_ANNOTATION, INCIDENT_ANNOTATION, KubeBackend, map_err,
    plan::{NETPOL_API, QUARANTINE_LABEL, empty_plan, incident_label, invalid, namespace, object_label},
};
use crate::{
    cluster::{ActionSpec, BackendError, BackendPlan, Change, KubeVerb},
    domain::{
        k8s_names::{is_label_key, is_label_value},
        plan::BlastRadius,
    },
};

/// A canonical CIDR: a bare address is a host route; host bits are cleared; `/0` is refused.
pub fn parse_cidr(raw: &str) -> Result<(IpAddr, u8), BackendError> {
    let bad = || invalid(format!("`{}` is not an IP address or CIDR", super::clip(raw)));
    let (addr, prefix) = match raw.split_once('/') {
        Some((a, p)) => (a.parse::<IpAddr>().map_err(|_| bad())?, Some(p)),
        None => (raw.parse::<IpAddr>().map_err(|_| bad())?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) if p.bytes().all(|c| c.is_ascii_digit()) && !p.is_empty() && p.len() <= 3 => {
            p.parse::<u8>().map_err(|_| bad())?
        }
        Some(_) => return Err(bad()),
    };
    if prefix > max {
        return Err(bad());
    }
    if prefix == 0 {
        return Err(invalid(format!(
            "blocking {} would block every address",
            super::clip(raw)
        )));
    }
    let canonical = match addr {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & (u32::MAX << (32 - u32::from(prefix))))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & (u128::MAX << (128 - u32::from(prefix))))),
    };
    // Host bits are cleared, as `ip route` does: the plan the human approves shows the network
    // that will be blocked, never the address as typed.
    Ok((canonical, prefix))
}

/// `k=v,k2=v2` (equality only) as `matchLabels`.
fn match_labels(selector: &str) -> Result<BTreeMap<String, String>, BackendError> {
    let mut out = BTreeMap::new();
    for part in selector.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part
            .split_once("==")
            .or_else(|| part.split_once('='))
            .filter(|(k, v)| !k.ends_with('!') && is_label_key(k.trim()) && is_label_value(v.trim()))
            .ok_or_else(|| invalid(format!("selector `{}` must be key=value pairs", super::clip(selector))))?;
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(out)
}

/// Whether a label selector selects `labels` (an empty selector selects everything; an
/// operator this code does not know counts as selecting, to stay on the safe side).
fn selects(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let eq = sel.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    eq && sel.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(&e.key),
            "DoesNotExist" => !labels.contains_key(&e.key),
            _ => true,
        }
    })
}

/// Plans the block of `spec.resource` (an IP or CIDR) for the namespace's pods, or those
/// matching `params.selector`; see the module documentation for the construct and its limits.
pub(super) async fn block(b: &KubeBackend, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
    let ns = namespace(spec)?;
    let incident = incident_label(spec)?;
    let (addr, prefix) = parse_cidr(&spec.resource)?;
    let cidr = format!("{addr}/{prefix}");
    let selector = match_labels(spec.params.get("selector").map_or("", String::as_str))?;
    let name = object_label("incident-mcp-block", &cidr);
    let terms: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let pods = Api::<Pod>::namespaced(b.client(), &ns)
        .list(&match terms.is_empty() {
            true => ListParams::default(),
            false => ListParams::default().labels(&terms.join(",")),
        })
        .await
        .map_err(|e| map_err(&format!("the pods of namespace {ns}"), &e))?;
    let selected: Vec<BTreeMap<String, String>> = pods
        .items
        .into_iter()
        .map(|p| p.metadata.labels.unwrap_or_default())
        .filter(|l| !l.contains_key(QUARANTINE_LABEL))
        .collect();
    let policies = Api::<NetworkPolicy>::namespaced(b.client(), &ns)
        .list(&ListParams::default())
        .await
        .map_err(|e| map_err(&format!("the NetworkPolicies of namespace {ns}"), &e))?;
    for np in policies.items {
        let other = np.metadata.name.unwrap_or_default();
        let sel = np.spec.and_then(|s| s.pod_selector).unwrap_or_default();
        if other != name && selected.iter().any(|l| selects(&sel, l)) {
            return Err(BackendError::Conflict(format!(
                "NetworkPolicy {} already selects pods the block would select; NetworkPolicies only add \
                 allowed traffic, so an allow-all-but-{cidr} policy would widen what it allows. Block refused",
                super::clip(&other)
            )));
        }
    }
    let (v4, v6) = if addr.is_ipv4() {
        (
            json!({ "cidr": "0.0.0.0/0", "except": [cidr] }),
            json!({ "cidr": "::/0" }),
        )
    } else {
        (
            json!({ "cidr": "0.0.0.0/0" }),
            json!({ "cidr": "::/0", "except": [cidr] }),
        )
    };
    let peers = json!([{ "ipBlock": v4 }, { "ipBlock": v6 }, { "namespaceSelector": {} }]);
    let mut pod_selector = json!({ "matchExpressions": [{ "key": QUARANTINE_LABEL, "operator": "DoesNotExist" }] });
    if !selector.is_empty() {
        pod_selector["matchLabels"] = json!(selector);
    }
    let body = json!({
        "apiVersion": NETPOL_API, "kind": "NetworkPolicy",
        "metadata": {
            "name": name, "namespace": ns,
            "labels": { "app.kubernetes.io/managed-by": "incident-mcp" },
            "annotations": { INCIDENT_ANNOTATION: incident, ACTION_ANNOTATION: "block", "incident-mcp/cidr": cidr },
        },
        "spec": {
            "podSelector": pod_selector,
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{ "from": peers }],
            "egress": [{ "to": peers }],
        },
    });
    let change = |verb, body| Change::Kube {
        verb,
        api_version: NETPOL_API.into(),
        kind: "NetworkPolicy".into(),
        namespace: Some(ns.clone()),
        name: name.clone(),
        patch: None,
        body,
        resource_version: None,
    };
    let radius = BlastRadius {
        pods: u32::try_from(selected.len()).unwrap_or(u32::MAX),
        nodes: 0,
        workloads: Vec::new(),
        namespaces: vec![ns.clone()],
    };
    let create = change(KubeVerb::Create, Some(body));
    let mut p = empty_plan(vec![create], vec![change(KubeVerb::Delete, None)], Vec::new(), radius);
    p.labels = selector;
    Ok(p)
}
