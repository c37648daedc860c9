//! `incident-mcp watch`: the continuous pipeline. Every interval it runs the same service
//! call as `detect`, one source at a time, so a failing source backs off on its own while
//! the others keep being scanned. Cursors and detector state live in the store, so a
//! restart continues where the last committed scan stopped.
//!
//! SIGTERM and SIGINT stop it cleanly: a scan in progress finishes (its store transaction
//! commits or not as a whole; sources have timeouts), no further scan starts, exit 0.

use std::time::Duration;

use clap::Args;
use tokio::{
    signal::unix::{SignalKind, signal},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use crate::{
    metrics::{Interface, Outcome},
    service::{Caller, DetectRequest, IncidentService},
};

/// Timelines name `watch` as the actor; it scans configured sources only (never files or stdin,
/// even if a source happens to be named `stdin`).
const WATCH: Caller = Caller {
    actor: "watch",
    may_read_files: false,
};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Environment to watch [default: the default environment]
    #[arg(long)]
    pub env: Option<String>,
    /// Time between scans: 500ms, 30s, 5m, 1h (a bare number is seconds)
    #[arg(long, default_value = "30s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Only rules of this incident type
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Score cut-off in 0..1 [default: 0.8]
    #[arg(long, allow_negative_numbers = true)]
    pub threshold: Option<f64>,
    /// Run one cycle and exit (exit 2 if a source failed)
    #[arg(long)]
    pub once: bool,
    /// Leave TTL reverts and start-up reconciliation to another replica (see `serve`)
    #[arg(long)]
    pub no_response_tasks: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics while watching
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// Parses `500ms`, `30s`, `5m`, `1h` or a bare number of seconds; must be above zero.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 500ms, 30s, 5m or 1h"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("`{s}`: unit must be ms, s, m or h")),
    };
    if d.is_zero() {
        return Err("the interval must be above zero".into());
    }
    Ok(d)
}

/// Delay before retrying a source after `failures` consecutive failures: the interval doubled
/// per failure, at most 64 intervals and at most 5 minutes (never below one interval).
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let grown = interval.saturating_mul(1 << failures.min(6));
    grown.min(interval.max(Duration::from_secs(300)))
}

/// One source's schedule (`None`: the environment has no sources; scan it as a whole).
struct Slot {
    source: Option<String>,
    /// `--interval`, or the environment's `watch_interval_secs` entry for the source.
    interval: Duration,
    due: Instant,
    failures: u32,
}

/// Cancelled on the first SIGTERM or SIGINT.
fn shutdown_token() -> std::io::Result<CancellationToken> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!("shutdown: {name} received; finishing the scan in progress, starting no new one");
        t.cancel();
    });
    Ok(token)
}

/// Runs until SIGTERM/SIGINT (or one cycle with `--once`). Errors are (exit code, message).
pub async fn run(svc: IncidentService, req: DetectRequest, args: &WatchArgs) -> Result<(), (u8, String)> {
    let stop = shutdown_token().map_err(|e| {
        (
            super::failure::EXIT_BACKEND,
            format!("cannot install signal handlers: {e}"),
        )
    })?;
    let env = svc
        .env_or_default(req.env.as_ref())
        .map_err(|e| (super::failure::EXIT_INPUT, e.to_string()))?;
    let env_cfg = svc.config().env(&env);
    let sources: Vec<Option<String>> = match env_cfg {
        Some(e) if !e.sources.is_empty() => e.sources.iter().map(|s| Some(s.name().to_owned())).collect(),
        _ => vec![None],
    };
    let now = Instant::now();
    let mut slots: Vec<Slot> = sources
        .into_iter()
        .map(|source| Slot {
            interval: source
                .as_ref()
                .and_then(|s| env_cfg?.watch_interval_secs.get(s))
                .map_or(args.interval, |secs| Duration::from_secs(*secs)),
            source,
            due: now,
            failures: 0,
        })
        .collect();
    tracing::info!(
        "watch started: env {}, {} source(s), every {:?}",
        env,
        slots.len(),
        args.interval
    );
    let mut cycle = 0u64;
    loop {
        let next = slots.iter().map(|s| s.due).min().unwrap_or_else(Instant::now);
        // A stop request wins over a due scan (`biased`): no cycle starts after SIGTERM.
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(next) => {}
        }
        cycle += 1;
        let (mut scanned, mut failed, mut events, mut found, mut created, mut updated) = (0, 0, 0, 0, 0, 0);
        for slot in slots.iter_mut().filter(|s| s.due <= Instant::now()) {
            if stop.is_cancelled() {
                break;
            }
            let one = DetectRequest {
                source: slot.source.clone(),
                ..req.clone()
            };
            let name = slot.source.as_deref().unwrap_or("(all)");
            let started = std::time::Instant::now();
            let scan = svc.detect(one, WATCH).await;
            let outcome = scan
                .as_ref()
                .map_or_else(|e| Outcome::of_error_code(e.code()), |_| Outcome::Ok);
            crate::metrics::global().call(Interface::Cli, Some("watch"), outcome, started.elapsed());
            match scan {
                Ok(r) => {
                    scanned += 1;
                    slot.failures = 0;
                    slot.due = Instant::now() + slot.interval;
                    events += r.sources.iter().map(|s| s.events).sum::<usize>();
                    found += r.incidents.len();
                    created += r.created;
                    updated += r.updated;
                }
                Err(e) => {
                    failed += 1;
                    let wait = backoff(slot.interval, slot.failures);
                    slot.failures = slot.failures.saturating_add(1);
                    slot.due = Instant::now() + wait;
                    tracing::error!(
                        "source {name} failed ({} in a row): {e}; retrying in {wait:?}",
                        slot.failures
                    );
                }
            }
        }
        tracing::info!(
            "cycle {cycle}: env {}: {scanned} source(s) scanned, {failed} failed, {events} event(s), \
             {found} incident(s) found, {created} new, {updated} updated",
            env
        );
        if args.once {
            tracing::info!("watch stopped after 1 cycle (--once)");
            return if failed > 0 {
                Err((super::failure::EXIT_BACKEND, format!("{failed} source(s) failed")))
            } else {
                Ok(())
            };
        }
    }
    tracing::info!("watch stopped after {cycle} cycle(s)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_and_backoff_is_bounded() {
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_interval("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_interval("0s").is_err() && parse_interval("5x").is_err() && parse_interval("s").is_err());
        let i = Duration::from_secs(30);
        assert_eq!(backoff(i, 0), i);
        assert_eq!(backoff(i, 1), 2 * i);
        assert_eq!(backoff(i, 20), Duration::from_secs(300));
        assert_eq!(backoff(Duration::from_secs(600), 3), Duration::from_secs(600));
    }
}
