//! Request handling of the fake Kubernetes API server (see `fake_kube_api.rs`).

use std::collections::BTreeMap;

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{FIELD_MANAGER, Request, Shared, TOKEN, group_suffix, merge, resource};

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code });
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn ok(code: u16, body: Value) -> Response {
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn has_list(v: &Value) -> bool {
    match v {
        Value::Array(_) => true,
        Value::Object(m) => m.values().any(has_list),
        _ => false,
    }
}

/// `a=b,c=d` matches when every term equals the object's label.
fn selects(selector: &str, obj: &Value) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|t| {
        let (k, v) = t.split_once('=').unwrap_or((t, ""));
        obj["metadata"]["labels"][k].as_str() == Some(v)
    })
}

/// The equality terms of a `fieldSelector` as (JSON pointer, value), for the fields the API
/// serves for `kind`; anything else is answered 400 as the API does.
#[allow(clippy::result_large_err)]
fn field_terms(kind: &str, selector: &str) -> Result<Vec<(String, String)>, Response> {
    let mut out = Vec::new();
    for term in selector.split(',').filter(|t| !t.is_empty()) {
        let Some((field, value)) = term.split_once("==").or_else(|| term.split_once('=')) else {
            return Err(status(400, "BadRequest", &format!("invalid field selector: {term}")));
        };
        let ptr = match (kind, field) {
            (_, "metadata.name") => "/metadata/name",
            (_, "metadata.namespace") => "/metadata/namespace",
            ("Pod", "spec.nodeName") => "/spec/nodeName",
            ("Pod", "status.phase") => "/status/phase",
            ("Event", "involvedObject.name") => "/involvedObject/name",
            ("Event", "involvedObject.kind") => "/involvedObject/kind",
            ("Event", "involvedObject.namespace") => "/involvedObject/namespace",
            ("Event", "reason") => "/reason",
            ("Event", "type") => "/type",
            _ => {
                return Err(status(
                    400,
                    "BadRequest",
                    &format!("field label not supported: {field}"),
                ));
            }
        };
        out.push((ptr.to_owned(), value.to_owned()));
    }
    Ok(out)
}

pub(super) async fn handle(
    State(st): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    let mut st = st.lock().unwrap();
    let path = uri.path().to_owned();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(json!("<not json>"))
    };
    let q: BTreeMap<String, String> = query.iter().cloned().collect();
    let req = Request {
        method: method.to_string(),
        path: path.clone(),
        query: q.clone(),
        content_type: content_type.clone(),
        body: body.clone(),
    };
    st.requests.push(req.clone());
    if q.len() != query.len() {
        return status(400, "BadRequest", "repeated query parameter");
    }
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {}", *TOKEN)) {
        return status(401, "Unauthorized", "Unauthorized");
    }
    // Route: {prefix}/namespaces/{ns}/{plural}[/{name}] or {prefix}/{plural}[/{name}].
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let skip = if segs.first() == Some(&"api") { 2 } else { 3 };
    let rest = segs.get(skip..).unwrap_or_default();
    let (ns, plural, name) = match rest {
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        _ => return status(404, "NotFound", "the server could not find the requested resource"),
    };
    let Some((prefix, kind, namespaced)) = resource(plural) else {
        return status(404, "NotFound", "the server could not find the requested resource");
    };
    let prefix_len = segs[..skip].iter().map(|s| s.len() + 1).sum::<usize>();
    if &path[..prefix_len] != prefix || (ns.is_some() && !namespaced) || (name.is_some() && namespaced && ns.is_none())
    {
        return status(404, "NotFound", "the server could not find the requested resource");
    }
    if st.forbidden.contains(&(method.to_string(), path.clone())) {
        let verb = method.as_str().to_lowercase();
        let group = group_suffix(prefix);
        return status(
            403,
            "Forbidden",
            &format!(
                "{plural} \"{}\" is forbidden: User \"system:serviceaccount:ops:incident-mcp\" cannot {verb} resource \"{plural}\" in API group \"{group}\" in the namespace \"{}\"",
                name.unwrap_or(""),
                ns.unwrap_or("")
            ),
        );
    }
    if st.failing.contains(&(method.to_string(), path.clone())) {
        return status(
            500,
            "InternalError",
            "Internal error occurred: etcdserver: request timed out",
        );
    }
    let group = group_suffix(prefix);
    let qualified = if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    };
    let not_found = |n: &str| status(404, "NotFound", &format!("{qualified} \"{n}\" not found"));
    let allowed: &[&str] = match (&method, name) {
        (&Method::GET, None) => &["labelSelector", "fieldSelector", "limit", "continue"],
        (&Method::GET, Some(_)) => &[],
        (&Method::POST, None) => &["dryRun", "fieldManager"],
        (&Method::PATCH, Some(_)) => &["dryRun", "fieldManager", "force"],
        (&Method::DELETE, Some(_)) => &["dryRun"],
        _ => {
            return status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            );
        }
    };
    if let Some(k) = q.keys().find(|k| !allowed.contains(&k.as_str())) {
        return status(400, "BadRequest", &format!("unexpected query parameter {k}"));
    }
    if q.get("dryRun").is_some_and(|v| v != "All") {
        return status(400, "BadRequest", "dryRun must be All");
    }
    if matches!(method, Method::POST | Method::PATCH)
        && q.get("fieldManager").map(String::as_str) != Some(FIELD_MANAGER)
    {
        return status(400, "BadRequest", "fake: writes must name fieldManager=incident-mcp");
    }
    let dry = req.is_dry_run();
    let key = |n: &str| match ns {
        Some(ns) => format!("{prefix}/namespaces/{ns}/{plural}/{n}"),
        None => format!("{prefix}/{plural}/{n}"),
    };
    match (method, name) {
        (Method::GET, Some(n)) => st
            .objects
            .get(&key(n))
            .cloned()
            .map_or_else(|| not_found(n), |o| ok(200, o)),
        (Method::GET, None) => {
            let terms = match field_terms(kind, q.get("fieldSelector").map_or("", String::as_str)) {
                Ok(t) => t,
                Err(r) => return r,
            };
            let coll = match ns {
                Some(ns) => format!("{prefix}/namespaces/{ns}/{plural}/"),
                None => format!("{prefix}/"),
            };
            let items: Vec<Value> = st
                .objects
                .iter()
                .filter(|(k, o)| k.starts_with(&coll) && o["kind"] == kind)
                .filter(|(_, o)| q.get("labelSelector").is_none_or(|s| selects(s, o)))
                .filter(|(_, o)| {
                    terms
                        .iter()
                        .all(|(ptr, v)| o.pointer(ptr).and_then(Value::as_str) == Some(v))
                })
                .map(|(_, o)| {
                    let mut o = o.clone();
                    let m = o.as_object_mut().unwrap();
                    m.remove("kind");
                    m.remove("apiVersion");
                    o
                })
                .collect();
            let api_version = prefix.trim_start_matches("/apis/").trim_start_matches("/api/");
            // Paging: `continue` is an offset here (opaque to clients, as the API's token is).
            let from: usize = match q
                .get("continue")
                .map(|c| c.strip_prefix("fake-").and_then(|n| n.parse().ok()))
            {
                None => 0,
                Some(Some(n)) => n,
                Some(None) => return status(410, "Expired", "the provided continue parameter is too old"),
            };
            let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
                None | Some(Ok(0)) => usize::MAX,
                Some(Ok(n)) => n,
                Some(Err(_)) => return status(400, "BadRequest", "limit must be an integer"),
            };
            let total = items.len();
            let items: Vec<Value> = items.into_iter().skip(from).take(limit).collect();
            let mut meta = json!({ "resourceVersion": st.rv.to_string() });
            let next = from.saturating_add(items.len());
            if next < total {
                meta["continue"] = json!(format!("fake-{next}"));
                meta["remainingItemCount"] = json!(total - next);
            }
            ok(
                200,
                json!({ "kind": format!("{kind}List"), "apiVersion": api_version, "metadata": meta, "items": items }),
            )
        }
        (Method::POST, None) => {
            if content_type.as_deref() != Some("application/json") {
                return status(415, "UnsupportedMediaType", "create takes application/json");
            }
            let Some(n) = body["metadata"]["name"].as_str().map(str::to_owned) else {
                return status(422, "Invalid", "metadata.name: Required value");
            };
            if body["kind"] != kind || body["metadata"].get("namespace").is_some_and(|v| v.as_str() != ns) {
                return status(
                    400,
                    "BadRequest",
                    "the kind or namespace of the provided object does not match the request",
                );
            }
            if kind == "NetworkPolicy" && !body["spec"]["podSelector"].is_object() {
                return status(422, "Invalid", "spec.podSelector: Required value");
            }
            if st.objects.contains_key(&key(&n)) {
                return status(409, "AlreadyExists", &format!("{qualified} \"{n}\" already exists"));
            }
            let mut obj = body.clone();
            st.rv += 1;
            let meta = obj["metadata"].as_object_mut().unwrap();
            meta.insert("uid".into(), json!(format!("uid-{n}")));
            meta.insert("resourceVersion".into(), json!(st.rv.to_string()));
            meta.insert("generation".into(), json!(1));
            meta.insert("creationTimestamp".into(), json!("2026-12-02T03:00:00Z"));
            if let Some(ns) = ns {
                meta.insert("namespace".into(), json!(ns));
            }
            if !dry {
                st.objects.insert(key(&n), obj.clone());
            } else {
                st.rv -= 1;
            }
            ok(201, obj)
        }
        (Method::PATCH, Some(n)) => {
            let ct = content_type.as_deref().unwrap_or("");
            let known = [
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
                "application/apply-patch+yaml",
            ];
            if !known.contains(&ct) {
                return status(
                    415,
                    "UnsupportedMediaType",
                    &format!(
                        "the body of the request was in an unknown format - accepted media types include: {}",
                        known.join(", ")
                    ),
                );
            }
            if ct == "application/strategic-merge-patch+json" && has_list(&body) {
                return status(400, "BadRequest", "fake: strategic merge of lists is not implemented");
            }
            if ct == "application/apply-patch+yaml" && (body["kind"] != kind || body["metadata"]["name"] != n) {
                return status(400, "BadRequest", "an apply patch must name the object's kind and name");
            }
            // Server-side apply creates a missing object; here its fields are merged, not owned.
            let current = match st.objects.get(&key(n)) {
                Some(c) => c.clone(),
                None if ct == "application/apply-patch+yaml" => json!({ "metadata": { "resourceVersion": "" } }),
                None => return not_found(n),
            };
            let mut patch = body.clone();
            if let Some(want) = patch
                .get_mut("metadata")
                .and_then(Value::as_object_mut)
                .and_then(|m| m.remove("resourceVersion"))
                && want != current["metadata"]["resourceVersion"]
            {
                return status(
                    409,
                    "Conflict",
                    &format!(
                        "Operation cannot be fulfilled on {qualified} \"{n}\": the object has been modified; please apply your changes to the latest version and try again"
                    ),
                );
            }
            let mut next = current.clone();
            merge(&mut next, &patch);
            // The API drops empty maps (omitempty).
            for k in ["labels", "annotations"] {
                if next["metadata"][k].as_object().is_some_and(|m| m.is_empty()) {
                    next["metadata"].as_object_mut().unwrap().remove(k);
                }
            }
            if next != current && !dry {
                st.rv += 1;
                next["metadata"]["resourceVersion"] = json!(st.rv.to_string());
                if next["spec"] != current["spec"] {
                    next["metadata"]["generation"] = json!(current["metadata"]["generation"].as_i64().unwrap_or(1) + 1);
                }
                st.objects.insert(key(n), next.clone());
            }
            ok(200, next)
        }
        (Method::DELETE, Some(n)) => {
            if !body.is_null() && content_type.as_deref() != Some("application/json") {
                return status(415, "UnsupportedMediaType", "DeleteOptions must be application/json");
            }
            let Some(current) = st.objects.get(&key(n)).cloned() else {
                return not_found(n);
            };
            if let Some(want) = body["preconditions"]["resourceVersion"].as_str() {
                let have = current["metadata"]["resourceVersion"].as_str().unwrap_or("");
                if want != have {
                    return status(
                        409,
                        "Conflict",
                        &format!(
                            "Operation cannot be fulfilled on {qualified} \"{n}\": Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {have}"
                        ),
                    );
                }
            }
            if !dry {
                st.objects.remove(&key(n));
            }
            // Pods answer with the object (deleted with grace period 0 here), others with a Status.
            if kind == "Pod" {
                return ok(200, current);
            }
            ok(
                200,
                json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                            "details": { "name": n, "group": group, "kind": plural, "uid": current["metadata"]["uid"] } }),
            )
        }
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ),
    }
}
