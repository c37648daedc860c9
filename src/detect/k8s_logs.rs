//! Kubernetes pod logs (`kind = "k8s-logs"`): the pods of a namespace matching a label selector,
//! each read with `timestamps=true` from where the previous committed scan stopped.
//!
//! The cursor is a JSON object `{pod: last RFC3339Nano timestamp read}`. The API's `sinceTime`
//! has second precision, so the request asks from the start of that second and lines at or before
//! the stored timestamp are dropped here. Reads are capped per pod (`limit_bytes`, `max_lines`);
//! what is left is read by the next scan, which starts after the last line kept.

use std::{collections::BTreeMap, path::Path, time::Duration};

use chrono::{DateTime, Utc};
use futures::AsyncReadExt;
use k8s_openapi::{api::core::v1::Pod, jiff::Timestamp};
use kube::{
    Api, Client,
    api::{ListParams, LogParams},
    config::{Config, KubeConfigOptions, Kubeconfig},
};

use super::{
    event::{MAX_LINE_BYTES, ParseStats},
    logs::{clip_bytes, parse_log_line, split_timestamp},
    source::{Fetched, SourceError},
};
pub use crate::config::K8sLogsSource;
use crate::domain::sanitize_untrusted;

/// Reads the pods' new log lines; any API failure fails the whole source (nothing is stored).
pub async fn fetch(
    name: &str,
    src: &K8sLogsSource,
    base: Option<&Path>,
    cursor: Option<&str>,
) -> Result<Fetched, SourceError> {
    let fail = |reason: String| SourceError::new(name, reason);
    let mut positions: BTreeMap<String, DateTime<Utc>> =
        cursor.and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
    let client = client(src, base).await.map_err(fail)?;
    let pods: Api<Pod> = Api::namespaced(client, &src.namespace);
    let list = pods
        .list(&ListParams::default().labels(&src.label_selector))
        .await
        .map_err(|e| fail(describe("listing pods", &e)))?;
    let mut names: Vec<String> = list.items.into_iter().filter_map(|p| p.metadata.name).collect();
    names.sort();
    let mut stats = ParseStats::default();
    if names.len() > src.max_pods {
        stats.problems.push(format!(
            "{} pods match; only the first {} (by name) were read",
            names.len(),
            src.max_pods
        ));
        names.truncate(src.max_pods);
    }
    let now = Utc::now();
    let mut events = Vec::new();
    for pod in &names {
        let last = positions.get(pod).copied();
        let mut lp = LogParams {
            container: src.container.clone(),
            limit_bytes: Some(src.limit_bytes),
            timestamps: true,
            ..LogParams::default()
        };
        match last {
            // Whole seconds: kube rounds sinceTime to the second, which could skip lines.
            Some(t) => lp.since_time = Some(Timestamp::from_second(t.timestamp()).map_err(|e| fail(e.to_string()))?),
            None => lp.since_seconds = Some(src.initial_lookback_secs),
        }
        let what = format!("reading the log of pod {pod}");
        let stream = pods.log_stream(pod, &lp).await.map_err(|e| fail(describe(&what, &e)))?;
        // limitBytes may cut a character in two, and logs need not be UTF-8: read bytes, then
        // decode lossily. The cap defends against a server that ignores limitBytes.
        let mut bytes = Vec::new();
        let cap = u64::try_from(src.limit_bytes)
            .unwrap_or(0)
            .saturating_add(MAX_LINE_BYTES as u64);
        stream
            .take(cap)
            .read_to_end(&mut bytes)
            .await
            .map_err(|_| fail(format!("{what}: the connection to the Kubernetes API broke off")))?;
        let text = String::from_utf8_lossy(&bytes);
        let text: &str = &text;
        // A body that reached limitBytes may end in a partial line: leave it for the next scan.
        let truncated = text.len() as i64 >= src.limit_bytes;
        let complete = if truncated {
            text.rsplit_once('\n').map_or("", |(head, _)| head)
        } else {
            text
        };
        let base_labels = BTreeMap::from([
            ("namespace".to_string(), src.namespace.clone()),
            ("pod".to_string(), pod.clone()),
        ]);
        let mut kept = 0;
        for line in complete.lines() {
            let Some((ts, rest)) = split_timestamp(line) else {
                continue;
            };
            if last.is_some_and(|l| ts <= l) {
                continue;
            }
            if kept == src.max_lines {
                stats.problems.push(format!(
                    "pod {pod}: more than {} new lines; the rest are read by the next scan",
                    src.max_lines
                ));
                break;
            }
            kept += 1;
            stats.lines += 1;
            positions.insert(pod.clone(), ts);
            let mut e = match parse_log_line(clip_bytes(rest, MAX_LINE_BYTES), now) {
                Ok(e) => e,
                Err(_) => {
                    stats.skipped += 1;
                    continue;
                }
            };
            // The kubelet's timestamp is authoritative (and is what the cursor tracks).
            e.ts = ts;
            e.labels.extend(base_labels.clone());
            events.push(e);
        }
        if truncated && kept == 0 {
            // Not one new whole line fits in limit_bytes, and sinceTime counts whole seconds:
            // without a skip every scan would stop at the same line.
            let first_new = text
                .lines()
                .filter_map(split_timestamp)
                .map(|(ts, _)| ts)
                .find(|ts| last.is_none_or(|l| *ts > l));
            if let Some(ts) = first_new {
                let next = DateTime::from_timestamp(ts.timestamp() + 1, 0).unwrap_or(ts);
                positions.insert(pod.clone(), next);
                stats.problems.push(format!(
                    "pod {pod}: a line at {ts} is longer than limit_bytes; skipped to the next second"
                ));
            }
        }
    }
    positions.retain(|p, _| names.contains(p));
    stats.problems.truncate(5);
    Ok(Fetched {
        events,
        stats,
        cursor: Some(serde_json::to_string(&positions).expect("a map of strings serialises")),
    })
}

async fn client(src: &K8sLogsSource, base: Option<&Path>) -> Result<Client, String> {
    // kube builds its TLS config with the process default provider, which is ambiguous when
    // more than one rustls backend is compiled in; an already installed default is kept.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = KubeConfigOptions {
        context: src.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = match &src.kubeconfig {
        Some(p) => {
            let path = match base {
                Some(b) if Path::new(p).is_relative() => b.join(p),
                _ => p.into(),
            };
            // Kubeconfig errors can quote file contents (tokens): report the path only.
            let kc = Kubeconfig::read_from(&path).map_err(|_| format!("cannot read kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|_| format!("kubeconfig {} has no usable context/cluster/user", path.display()))?
        }
        None if src.context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|_| "the default kubeconfig has no usable context".to_string())?,
        None => Config::infer()
            .await
            .map_err(|_| "no kubeconfig and not running in a cluster".to_string())?,
    };
    let t = Some(Duration::from_secs(src.timeout_secs));
    (config.connect_timeout, config.read_timeout, config.write_timeout) = (t, t, t);
    Client::try_from(config).map_err(|e| describe("building the client", &e))
}

/// An error message with the API's status but no URLs, headers or credentials.
fn describe(what: &str, e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!(
            "{what}: the Kubernetes API answered {} {}: {}",
            s.code,
            sanitize_untrusted(&s.reason).chars().take(60).collect::<String>(),
            sanitize_untrusted(&s.message).chars().take(200).collect::<String>()
        ),
        kube::Error::SerdeError(_) => format!("{what}: the Kubernetes API sent an unreadable response"),
        // Auth errors can quote exec-plugin output or token files: not repeated here.
        kube::Error::Auth(_) => format!("{what}: cannot obtain credentials from the kubeconfig"),
        kube::Error::RustlsTls(_) | kube::Error::TlsRequired => {
            format!("{what}: TLS setup for the Kubernetes API failed (check the kubeconfig's certificates)")
        }
        _ => format!("{what}: cannot reach the Kubernetes API (connection failed or timed out)"),
    }
}
