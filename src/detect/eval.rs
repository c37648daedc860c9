//! Detection-quality metrics over a labelled, scored stream. Pure: no I/O.
//!
//! - ROC-AUC: the probability that a random anomalous row scores above a random normal one,
//!   ties counting one half (Mann-Whitney U with average ranks).
//! - PR-AUC as average precision: `sum_n (R_n - R_{n-1}) * P_n` over the distinct score
//!   thresholds from the highest down (tied scores enter together), as scikit-learn computes it.
//! - Event recall at a false-positive rate: the threshold is the lowest score such that at most
//!   `fpr` of the label-0 rows score strictly above it; an event (a `[start, end)` row range) is
//!   recalled when any of its rows scores strictly above the threshold. Reported per event kind.
//!
//! A NaN score ranks below every other score (a detector that cannot score a row did not flag it).

use std::{cmp::Ordering, collections::BTreeMap};

use serde::{Deserialize, Serialize};

/// One injected anomaly, as in `gen_stream.py`'s `<csv>.events.json` (other fields are ignored).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct EventSpan {
    pub kind: String,
    /// First row (0-based, header excluded).
    pub start: usize,
    /// One past the last row.
    pub end: usize,
}

/// The `events.json` sidecar.
#[derive(Clone, Debug, Deserialize)]
pub struct EventsFile {
    pub events: Vec<EventSpan>,
}

/// Events of one kind: how many, and how many were recalled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KindRecall {
    pub events: usize,
    pub recalled: usize,
}

impl KindRecall {
    pub fn recall(&self) -> Option<f64> {
        (self.events > 0).then(|| self.recalled as f64 / self.events as f64)
    }
}

/// Everything the accuracy benchmark prints for one detector.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub rows: usize,
    pub positives: usize,
    pub roc_auc: Option<f64>,
    pub pr_auc: Option<f64>,
    /// The threshold for `fpr` and the recall per kind (empty without events).
    pub fpr: f64,
    pub threshold: Option<f64>,
    pub recall: BTreeMap<String, KindRecall>,
}

fn key(s: f64) -> f64 {
    if s.is_nan() { f64::NEG_INFINITY } else { s }
}

/// Indices sorted by score, highest first (NaN last).
fn order_desc(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| key(scores[b]).total_cmp(&key(scores[a])));
    idx
}

/// Runs of equal scores in `idx` (sorted), as `(positives, negatives)` per run.
fn tie_groups<'a>(
    scores: &'a [f64],
    labels: &'a [bool],
    idx: &'a [usize],
) -> impl Iterator<Item = (usize, usize)> + 'a {
    let mut i = 0;
    std::iter::from_fn(move || {
        let first = *idx.get(i)?;
        let (mut pos, mut neg) = (0, 0);
        while let Some(&j) = idx.get(i) {
            if key(scores[j]).total_cmp(&key(scores[first])) != Ordering::Equal {
                break;
            }
            if labels[j] {
                pos += 1
            } else {
                neg += 1
            }
            i += 1;
        }
        Some((pos, neg))
    })
}

/// ROC-AUC with ties counted one half; `None` without both classes or if lengths differ.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    if scores.len() != labels.len() {
        return None;
    }
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let idx = order_desc(scores);
    // Walking from the top: each positive beats the negatives not seen yet, ties count half.
    let (mut wins, mut neg_seen) = (0.0f64, 0usize);
    for (p, n) in tie_groups(scores, labels, &idx) {
        wins += p as f64 * ((neg - neg_seen - n) as f64 + 0.5 * n as f64);
        neg_seen += n;
    }
    Some(wins / (pos as f64 * neg as f64))
}

/// Average precision; `None` without positives or if lengths differ.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Option<f64> {
    if scores.len() != labels.len() {
        return None;
    }
    let pos = labels.iter().filter(|&&l| l).count();
    if pos == 0 {
        return None;
    }
    let idx = order_desc(scores);
    let (mut tp, mut seen, mut ap) = (0usize, 0usize, 0.0f64);
    for (p, n) in tie_groups(scores, labels, &idx) {
        tp += p;
        seen += p + n;
        if p > 0 {
            ap += (p as f64 / pos as f64) * (tp as f64 / seen as f64);
        }
    }
    Some(ap)
}

/// The lowest threshold such that at most `fpr` of the negatives score strictly above it.
pub fn threshold_at_fpr(scores: &[f64], labels: &[bool], fpr: f64) -> Option<f64> {
    let mut neg: Vec<f64> = scores
        .iter()
        .zip(labels)
        .filter(|(_, l)| !**l)
        .map(|(&s, _)| key(s))
        .collect();
    if neg.is_empty() || scores.len() != labels.len() || !(0.0..=1.0).contains(&fpr) {
        return None;
    }
    neg.sort_by(|a, b| b.total_cmp(a));
    // At most `allowed` negatives may lie above: the (allowed+1)-th highest is the threshold.
    let allowed = (fpr * neg.len() as f64).floor() as usize;
    Some(neg[allowed.min(neg.len() - 1)])
}

/// Per kind: events, and those with a row scoring strictly above `threshold`. Rows past the
/// end of `scores` never score.
pub fn event_recall(scores: &[f64], events: &[EventSpan], threshold: f64) -> BTreeMap<String, KindRecall> {
    let mut out: BTreeMap<String, KindRecall> = BTreeMap::new();
    for e in events {
        let end = e.end.min(scores.len());
        let hit = e.start < end && scores[e.start..end].iter().any(|&s| key(s) > threshold);
        let k = out.entry(e.kind.clone()).or_default();
        k.events += 1;
        k.recalled += usize::from(hit);
    }
    out
}

/// All metrics at once, recall at false-positive rate `fpr`.
pub fn evaluate(scores: &[f64], labels: &[bool], events: &[EventSpan], fpr: f64) -> Report {
    let threshold = threshold_at_fpr(scores, labels, fpr);
    Report {
        rows: scores.len(),
        positives: labels.iter().filter(|&&l| l).count(),
        roc_auc: roc_auc(scores, labels),
        pr_auc: average_precision(scores, labels),
        fpr,
        threshold,
        recall: threshold.map(|t| event_recall(scores, events, t)).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn roc_auc_by_hand() {
        // Perfect, inverted, and a hand-counted case: pairs (p, n) with p > n: 3 of 4.
        let l = [true, true, false, false];
        assert!(close(roc_auc(&[0.9, 0.8, 0.1, 0.2], &l), 1.0));
        assert!(close(roc_auc(&[0.1, 0.2, 0.9, 0.8], &l), 0.0));
        assert!(close(roc_auc(&[0.9, 0.3, 0.5, 0.2], &l), 0.75));
        // Ties count a half: all equal -> 0.5; one tie among 4 pairs -> (3 + 0.5) / 4.
        assert!(close(roc_auc(&[0.5; 4], &l), 0.5));
        assert!(close(roc_auc(&[0.9, 0.4, 0.4, 0.2], &l), 0.875));
        // NaN ranks lowest.
        assert!(close(roc_auc(&[f64::NAN, 0.9, 0.5, 0.1], &l), 0.5));
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(roc_auc(&[0.1], &[true, false]), None);
    }

    #[test]
    fn average_precision_by_hand() {
        // Ranking p n p n: precision 1 at recall 1/2, 2/3 at recall 1 -> (1 + 2/3) / 2.
        let s = [0.9, 0.8, 0.7, 0.6];
        let l = [true, false, true, false];
        assert!(close(average_precision(&s, &l), (1.0 + 2.0 / 3.0) / 2.0));
        assert!(close(average_precision(&s, &[true, true, false, false]), 1.0));
        // A tie of one positive and one negative at the top enters together: precision 1/2.
        assert!(close(average_precision(&[0.5, 0.5, 0.1], &[true, false, false]), 0.5));
        assert_eq!(average_precision(&s, &[false; 4]), None);
    }

    #[test]
    fn threshold_and_event_recall_by_hand() {
        // 200 negatives scoring 0..199 and a 1% rate: 2 may lie above, so the threshold is 197.
        let mut scores: Vec<f64> = (0..200).map(f64::from).collect();
        let mut labels = vec![false; 200];
        // Three events: rows 200..202 score 300 (above), 202..205 score 197 (not above),
        // 205 scores 198.5 (above).
        scores.extend([300.0, 0.0, 197.0, 197.0, 197.0, 198.5]);
        labels.extend([true; 6]);
        assert_eq!(threshold_at_fpr(&scores, &labels, 0.01), Some(197.0));
        let ev = |kind: &str, start, end| EventSpan {
            kind: kind.into(),
            start,
            end,
        };
        let events = [
            ev("spike", 200, 202),
            ev("level_shift", 202, 205),
            ev("spike", 205, 206),
        ];
        let r = evaluate(&scores, &labels, &events, 0.01);
        assert_eq!(r.recall["spike"], KindRecall { events: 2, recalled: 2 });
        assert_eq!(r.recall["level_shift"], KindRecall { events: 1, recalled: 0 });
        assert_eq!(r.recall["spike"].recall(), Some(1.0));
        // An event beyond the scored rows is not recalled and does not panic.
        let far = event_recall(&scores, &[ev("spike", 500, 510), ev("spike", 9, 3)], 0.0);
        assert_eq!(far["spike"], KindRecall { events: 2, recalled: 0 });
        assert_eq!(threshold_at_fpr(&[1.0], &[true], 0.01), None);
    }

    #[test]
    fn events_file_parses_the_generator_sidecar() {
        let json = r#"{"n": 10, "k": 3, "seed": 1, "events": [
            {"kind": "spike", "start": 3, "end": 4, "features": ["f1"], "feature_idx": [0],
             "magnitude": [5.1], "id": 0}]}"#;
        let f: EventsFile = serde_json::from_str(json).unwrap();
        assert_eq!(
            f.events,
            [EventSpan {
                kind: "spike".into(),
                start: 3,
                end: 4
            }]
        );
    }
}
