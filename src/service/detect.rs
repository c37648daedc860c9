//! `detect`: scan an environment's sources with its rules and merge findings into incidents.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use super::*;
use crate::{
    config::SourceConfig,
    detect::{DetectorStates, EventBody, Finding, RuleSet, SourceRef, evaluate, fetch},
    domain::{Env, Threshold, entity::extract},
    store::{DetectionBatch, DetectorSnapshot, MetricPoint, NewFinding, SourceCursor},
};

/// Metric points per scan kept for `metrics://recent`.
const METRIC_POINTS_PER_SCAN: usize = 500;

/// Stable dedup key: same environment, source, rule and entity → same incident.
pub fn fingerprint(env: &Env, source: &str, rule: &str, entity: &str) -> String {
    let mut h = Sha256::new();
    for part in [env.as_str(), source, rule, entity] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}

impl IncidentService {
    /// Scans, detects and records. Nothing is reported as created unless committed.
    pub async fn detect(&self, req: DetectRequest, caller: Caller) -> Result<DetectReport, ServiceError> {
        self.detect_with_progress(req, caller, &NoProgress).await
    }

    /// `detect`, reporting a step after each source is fetched, after its points are scored
    /// and after the findings are committed (`2 × sources + 1` steps).
    pub async fn detect_with_progress(
        &self,
        req: DetectRequest,
        caller: Caller,
        progress: &dyn Progress,
    ) -> Result<DetectReport, ServiceError> {
        if req.types.len() > crate::domain::IncidentType::ALL.len() {
            return Err(crate::domain::DomainError::invalid(
                "types",
                format!(
                    "at most {} types (each type once)",
                    crate::domain::IncidentType::ALL.len()
                ),
            )
            .into());
        }
        let env = self.env_or_default(req.env.as_ref())?;
        let env_cfg = self.config.env(&env).ok_or_else(|| ServiceError::UnknownEnv {
            env: env.to_string(),
            known: self.config.env_names().join(", "),
        })?;
        let threshold = req.threshold.unwrap_or(Threshold::DEFAULT);
        let sources = self.select_sources(&env, req.source.as_deref(), &env_cfg.sources, caller)?;
        let wanted: Vec<_> = req.kind.iter().chain(&req.types).copied().collect();
        let selected: Vec<_> = env_cfg
            .rules
            .iter()
            .filter(|r| wanted.is_empty() || wanted.contains(&r.kind))
            .cloned()
            .collect();
        let rules = RuleSet::compile(&selected, None);
        let _scan = self.scan_lock.lock().await;
        let snapshots = self.store.detector_states(env.as_str()).await?;
        let (mut states, dropped) = DetectorStates::load(snapshots.into_iter().map(|d| (d.rule, d.series, d.state)));
        if dropped > 0 {
            tracing::warn!(env = %env, dropped, "unreadable detector snapshots dropped; those series start afresh");
        }

        let mut scans = Vec::new();
        let mut findings: Vec<(String, Finding)> = Vec::new();
        let mut metrics = Vec::new();
        let mut cursors = Vec::new();
        let steps = 2 * sources.len() as u64 + 1;
        for (i, src) in sources.iter().enumerate() {
            let name = src.name();
            let previous = self.store.source_cursor(env.as_str(), &name).await?;
            let fetched = fetch(src, self.config.base_dir.as_deref(), previous.as_deref()).await?;
            let done = 2 * i as u64;
            progress.step(
                done + 1,
                steps,
                &format!("fetched {name}: {} event(s)", fetched.events.len()),
            );
            let (events, stats) = (fetched.events, fetched.stats);
            // A source with a cursor reads only new lines: log windows continue from the last scan.
            states.set_incremental(fetched.cursor.is_some());
            if let Some(cursor) = fetched.cursor {
                cursors.push(SourceCursor {
                    source: name.clone(),
                    cursor,
                });
            }
            let mut series = HashSet::new();
            let (mut points, mut logs) = (0, 0);
            for e in &events {
                match &e.body {
                    EventBody::Metric { name: m, value } => {
                        points += 1;
                        series.insert((m.clone(), e.labels.clone()));
                        metrics.push(MetricPoint {
                            env: env.to_string(),
                            source: name.clone(),
                            name: m.clone(),
                            labels: e.labels.clone(),
                            value: *value,
                            observed_at: e.ts,
                        });
                    }
                    EventBody::Log { .. } => logs += 1,
                }
            }
            scans.push(SourceScan {
                name: name.clone(),
                events: events.len(),
                metric_points: points,
                log_lines: logs,
                series: series.len(),
                skipped_lines: stats.skipped,
                problems: stats.problems,
                from: events.iter().map(|e| e.ts).min(),
                to: events.iter().map(|e| e.ts).max(),
            });
            let found = evaluate(&rules, &events, &name, threshold, &mut states);
            progress.step(
                done + 2,
                steps,
                &format!(
                    "scored {points} point(s) and {logs} log line(s) of {name}: {} finding(s)",
                    found.len()
                ),
            );
            findings.extend(found.into_iter().map(|f| (name.clone(), f)));
        }
        // Severity from score, per rule (`severity_by_score`).
        for (_, f) in &mut findings {
            if let Some(rule) = env_cfg.rules.iter().find(|r| r.name == f.rule) {
                f.severity = rule.severity_for(f.max_score);
            }
        }
        metrics.sort_by_key(|m| m.observed_at);
        let keep_from = metrics.len().saturating_sub(METRIC_POINTS_PER_SCAN);
        let metrics = metrics.split_off(keep_from);

        let patterns = self.config.analysis.compiled();
        let entity_rules = self.config.analysis.rules(&patterns);
        let batch = DetectionBatch {
            env: env.to_string(),
            actor: caller.actor.to_owned(),
            findings: findings
                .iter()
                .map(|(src, f)| NewFinding {
                    fingerprint: fingerprint(&env, src, &f.rule, &f.entity),
                    title: f.title.clone(),
                    kind: f.kind,
                    severity: f.severity,
                    labels: f.labels.clone(),
                    signals: f.signals.clone(),
                    entities: f
                        .signals
                        .iter()
                        .zip(&f.signal_labels)
                        .map(|(s, l)| extract(&entity_rules, &s.entity, s.message.as_deref(), l))
                        .collect(),
                })
                .collect(),
            metrics,
            cursors,
            detector_states: states
                .changed()
                .into_iter()
                .map(|(rule, series, state)| DetectorSnapshot { rule, series, state })
                .collect(),
            dedup_window_secs: env_cfg.dedup_window_secs,
            hooks: self.detect_hooks().await?,
        };
        let changes = self.store.record_detection(batch).await?;
        progress.step(steps, steps, &format!("recorded {} finding(s)", changes.len()));

        let mut incidents = Vec::new();
        let mut tally = (0, 0);
        for ((source, f), ch) in findings.iter().zip(&changes) {
            self.announce_change(ch.id, ch.change, &mut tally);
            let first = f.signals.iter().map(|s| s.observed_at).min();
            super::exposition::record_detection(source, ch.change, first);
            incidents.push(DetectedIncident {
                id: ch.id,
                change: ch.change.into(),
                title: f.title.clone(),
                kind: f.kind,
                severity: f.severity,
                rule: f.rule.clone(),
                entity: f.entity.clone(),
                anomalous_points: f.crossings,
                new_signals: ch.new_signals,
                max_score: f.max_score,
            });
        }
        let (created, updated) = tally;
        let events: usize = scans.iter().map(|s| s.events).sum();
        let summary = format!(
            "scanned {events} events from {} source(s) in {} with {} rule(s) at threshold {}: {} incident(s) found, {created} new, {updated} updated",
            scans.len(),
            env,
            rules.len(),
            threshold.get(),
            incidents.len(),
        );
        tracing::info!(env = %env, created, updated, found = incidents.len(), "detect finished");
        let mut report = DetectReport {
            env: env.to_string(),
            kind: req.kind,
            types: req.types.clone(),
            id: None,
            ids: Vec::new(),
            alerts: Vec::new(),
            threshold: threshold.get(),
            rules_evaluated: rules.len(),
            sources: scans,
            incidents,
            created,
            updated,
            summary,
            analyses: None,
        };
        super::detect_summary::summarize(&mut report);
        if let Some(depth) = req.analyze_depth {
            let mut analyses = Vec::new();
            for id in report.ids.clone() {
                analyses.push(self.analyze(AnalyzeRequest { id, depth: Some(depth) }).await?);
            }
            report.analyses = Some(analyses);
        }
        Ok(report)
    }

    /// The sources to scan: all of them, the one named `wanted`, every one of kind `wanted`
    /// (`k8s-logs`, `prometheus`, ...), or for the CLI a file or stdin.
    fn select_sources(
        &self,
        env: &Env,
        wanted: Option<&str>,
        configured: &[SourceConfig],
        caller: Caller,
    ) -> Result<Vec<SourceRef>, ServiceError> {
        let Some(wanted) = wanted else {
            return Ok(configured.iter().cloned().map(SourceRef::Configured).collect());
        };
        if let Some(path) = wanted.strip_prefix("file:")
            && caller.may_read_files
            && !path.is_empty()
        {
            return Ok(vec![SourceRef::File(path.into())]);
        }
        if wanted == "stdin" && caller.may_read_files {
            return Ok(vec![SourceRef::Stdin]);
        }
        let by_name: Vec<_> = configured.iter().filter(|s| s.name() == wanted).collect();
        let chosen = if by_name.is_empty() {
            configured.iter().filter(|s| s.kind() == wanted).collect()
        } else {
            by_name
        };
        if chosen.is_empty() {
            let names: Vec<String> = configured
                .iter()
                .map(|s| format!("{} ({})", s.name(), s.kind()))
                .collect();
            return Err(ServiceError::UnknownSource {
                source_name: crate::domain::clip(wanted, 60),
                env: env.to_string(),
                known: if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                },
            });
        }
        Ok(chosen.into_iter().cloned().map(SourceRef::Configured).collect())
    }
}
