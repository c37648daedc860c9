//! Prometheus source: PromQL over the HTTP API (`/api/v1/query_range`, `/api/v1/query`).
//! Each query's result series become metric events named after the query; series labels
//! (without `__name__`) become event labels. Non-finite samples are counted and skipped.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{
    event::{Event, EventBody, ParseStats},
    source::{Fetched, SourceError},
};
use crate::{config::PrometheusSource, domain::clip};

/// Largest response body accepted per query.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Matrix(Vec<RangeSeries>),
    Vector(Vec<InstantSample>),
    Scalar((f64, String)),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct RangeSeries {
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

#[derive(Deserialize)]
struct InstantSample {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// Runs every query of the source; any failure fails the scan (nothing is half-recorded).
pub async fn fetch(src: &PrometheusSource) -> Result<Fetched, SourceError> {
    fetch_at(src, Utc::now()).await
}

/// As [`fetch`], with the range ending at `end`.
pub async fn fetch_at(src: &PrometheusSource, end: DateTime<Utc>) -> Result<Fetched, SourceError> {
    let fail = |reason: String| SourceError::new(&src.name, reason);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(src.timeout_secs))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| fail(format!("HTTP client: {e}")))?;
    let auth = match &src.auth_header_env {
        Some(var) => {
            Some(std::env::var(var).map_err(|_| fail(format!("environment variable {var} (auth header) is not set")))?)
        }
        None => None,
    };
    let base = src.url.trim_end_matches('/');
    let mut out = Fetched::default();
    for q in &src.queries {
        let (url, params): (String, Vec<(&str, String)>) = if src.lookback_secs == 0 {
            (
                format!("{base}/api/v1/query"),
                vec![("query", q.expr.clone()), ("time", secs(end))],
            )
        } else {
            let start = end - chrono::Duration::seconds(src.lookback_secs as i64);
            (
                format!("{base}/api/v1/query_range"),
                vec![
                    ("query", q.expr.clone()),
                    ("start", secs(start)),
                    ("end", secs(end)),
                    ("step", src.step_secs.to_string()),
                ],
            )
        };
        let mut req = client.post(&url).form(&params);
        if let Some(a) = &auth {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| fail(format!("Prometheus at {base} unreachable: {}", without_url(&e))))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| fail(format!("reading Prometheus response: {}", without_url(&e))))?;
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(fail(format!(
                "response to `{}` exceeds {MAX_RESPONSE_BYTES} bytes",
                q.name
            )));
        }
        let env: Envelope = serde_json::from_slice(&body).map_err(|e| {
            fail(format!(
                "query `{}`: HTTP {status}, not a Prometheus API response ({e})",
                q.name
            ))
        })?;
        if env.status != "success" {
            return Err(fail(format!(
                "query `{}` failed: {} {}",
                q.name,
                env.error_type.unwrap_or_default(),
                clip(&env.error.unwrap_or_default(), 300)
            )));
        }
        let data = env
            .data
            .ok_or_else(|| fail(format!("query `{}`: success without data", q.name)))?;
        collect(&q.name, data, &mut out.events, &mut out.stats);
    }
    Ok(out)
}

fn secs(t: DateTime<Utc>) -> String {
    format!("{:.3}", t.timestamp_millis() as f64 / 1000.0)
}

/// reqwest errors print the URL; configured URLs may carry credentials, so leave it out.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection refused or failed"
    } else if e.is_body() || e.is_decode() {
        "bad response body"
    } else {
        "request failed"
    };
    let mut msg = kind.to_owned();
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(c) = cur {
        msg = c.to_string();
        cur = c.source();
    }
    if msg == kind { msg } else { format!("{kind}: {msg}") }
}

fn collect(name: &str, data: Data, events: &mut Vec<Event>, stats: &mut ParseStats) {
    let mut push = |labels: &BTreeMap<String, String>, (t, v): &(f64, String)| {
        stats.lines += 1;
        let value: Option<f64> = v.parse().ok().filter(|x: &f64| x.is_finite());
        let ts = DateTime::from_timestamp_millis((t * 1000.0).round() as i64);
        match (value, ts) {
            (Some(value), Some(ts)) => {
                let mut labels = labels.clone();
                labels.remove("__name__");
                events.push(Event {
                    ts,
                    body: EventBody::Metric {
                        name: name.to_owned(),
                        value,
                    },
                    labels,
                });
            }
            _ => {
                stats.skipped += 1;
                if stats.problems.len() < 5 {
                    stats.problems.push(format!(
                        "{name}: sample `{}` at {t} is not a finite number",
                        clip(v, 40)
                    ));
                }
            }
        }
    };
    match data {
        Data::Matrix(series) => {
            for s in &series {
                for sample in &s.values {
                    push(&s.metric, sample);
                }
            }
        }
        Data::Vector(samples) => {
            for s in &samples {
                push(&s.metric, &s.value);
            }
        }
        Data::Scalar(sample) => push(&BTreeMap::new(), &sample),
        Data::String(_) => {
            stats.skipped += 1;
            stats.problems.push(format!("{name}: string results are not metrics"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_vector_and_bad_samples() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"up","job":"a"},"values":[[1700000000,"1"],[1700000015,"NaN"],[1700000030.5,"2.5"]]}]}}"#;
        let env: Envelope = serde_json::from_str(body).unwrap();
        let (mut ev, mut st) = (Vec::new(), ParseStats::default());
        collect("up", env.data.unwrap(), &mut ev, &mut st);
        assert_eq!(ev.len(), 2);
        assert_eq!((st.lines, st.skipped), (3, 1));
        assert_eq!(ev[1].labels.get("job").map(String::as_str), Some("a"));
        assert!(!ev[1].labels.contains_key("__name__"));
        assert_eq!(ev[1].ts.timestamp_millis(), 1_700_000_030_500);
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"+Inf"]}]}}"#;
        let env: Envelope = serde_json::from_str(body).unwrap();
        collect("x", env.data.unwrap(), &mut ev, &mut st);
        assert_eq!((ev.len(), st.skipped), (2, 2));
    }
}
