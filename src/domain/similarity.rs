//! How similar a past incident is to the one being analysed. Pure; the documented score:
//!
//! ```text
//! score = 0.40 × same fingerprint family   (1 when it is the same finding again: same environment,
//!                                            source, rule and entity, or linked as its previous
//!                                            occurrence; else 0)
//!       + 0.25 × shared entities           (Jaccard: shared / (ours + theirs − shared))
//!       + 0.15 × same rule                  (1 when the same source and rule fired, else 0)
//!       + 0.10 × title similarity           (Jaccard of the titles' words)
//!       + 0.10 × label similarity           (Jaccard of the `name=value` label pairs)
//! ```
//!
//! Each part is in 0..1, so the score is too. Incidents scoring below [`MIN_SCORE`] are not
//! listed; ties go to the more recent incident.

use std::collections::{BTreeMap, BTreeSet};

/// Weight of each part of the score, in the order above.
pub const WEIGHTS: Weights = Weights {
    fingerprint: 0.40,
    entities: 0.25,
    rule: 0.15,
    title: 0.10,
    labels: 0.10,
};

/// Below this score an incident is not listed as similar.
pub const MIN_SCORE: f64 = 0.15;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub fingerprint: f64,
    pub entities: f64,
    pub rule: f64,
    pub title: f64,
    pub labels: f64,
}

/// What is compared of an incident.
#[derive(Debug, Clone, Copy)]
pub struct Profile<'a> {
    pub fingerprint: &'a str,
    /// The source and rule its signals came from (one per incident: both are in its fingerprint).
    pub source_rule: Option<(&'a str, &'a str)>,
    pub title: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    /// Distinct entities its signals name.
    pub entities: i64,
}

/// The parts of a score and the score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub score: f64,
    pub same_fingerprint: bool,
    pub shared_entities: i64,
    pub entity_overlap: f64,
    pub same_rule: bool,
    pub title_similarity: f64,
    pub label_similarity: f64,
}

/// Scores `other` against `target`; `shared` is how many entities both name and `linked` whether
/// one is recorded as the other's previous occurrence (`previous_id`).
pub fn similarity(target: &Profile<'_>, other: &Profile<'_>, shared: i64, linked: bool) -> Similarity {
    let same_fingerprint = linked || target.fingerprint == other.fingerprint;
    let union = target.entities + other.entities - shared;
    let entity_overlap = if union > 0 && shared > 0 {
        (shared as f64 / union as f64).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let same_rule = target.source_rule.is_some() && target.source_rule == other.source_rule;
    let title_similarity = jaccard(&words(target.title), &words(other.title));
    let pairs = |l: &BTreeMap<String, String>| l.iter().map(|(k, v)| format!("{k}={v}")).collect::<BTreeSet<_>>();
    let label_similarity = jaccard(&pairs(target.labels), &pairs(other.labels));
    let w = WEIGHTS;
    let score = w.fingerprint * f64::from(u8::from(same_fingerprint))
        + w.entities * entity_overlap
        + w.rule * f64::from(u8::from(same_rule))
        + w.title * title_similarity
        + w.labels * label_similarity;
    Similarity {
        score: (score * 1000.0).round() / 1000.0,
        same_fingerprint,
        shared_entities: shared.max(0),
        entity_overlap,
        same_rule,
        title_similarity,
        label_similarity,
    }
}

/// Lowercase words of a title, without one-letter words and the commonest joining words.
fn words(title: &str) -> BTreeSet<String> {
    const STOP: &[&str] = &["on", "of", "the", "in", "for", "at", "to", "an", "and", "from"];
    title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 1)
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
        .collect()
}

fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let inter = a.intersection(b).count();
    let union = a.len() + b.len() - inter;
    if union == 0 { 0.0 } else { inter as f64 / union as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p<'a>(fp: &'a str, rule: &'a str, title: &'a str, labels: &'a BTreeMap<String, String>, n: i64) -> Profile<'a> {
        Profile {
            fingerprint: fp,
            source_rule: Some(("logs", rule)),
            title,
            labels,
            entities: n,
        }
    }

    #[test]
    fn the_parts_add_up_as_documented() {
        let l1 = BTreeMap::from([("host".to_string(), "bastion-1".to_string())]);
        let l2 = BTreeMap::from([("host".to_string(), "bastion-2".to_string())]);
        let t = p("fp1", "ssh", "SSH brute force on ip/203.0.113.9", &l1, 4);
        // The same finding again: everything matches.
        let same = similarity(
            &t,
            &p("fp1", "ssh", "SSH brute force on ip/203.0.113.9", &l1, 4),
            4,
            false,
        );
        assert_eq!(same.score, 1.0);
        // Same rule, another address, no shared entity: rule + part of the title.
        let other = similarity(
            &t,
            &p("fp2", "ssh", "SSH brute force on ip/198.51.100.7", &l2, 3),
            0,
            false,
        );
        assert!(!other.same_fingerprint && other.same_rule);
        // {ssh, brute, force, ip} shared of {ssh, brute, force, ip, 203, 113, 198, 51, 100}.
        assert!((other.title_similarity - 4.0 / 9.0).abs() < 1e-9, "{other:?}");
        assert_eq!(other.score, ((0.15 + 0.10 * 4.0 / 9.0) * 1000.0_f64).round() / 1000.0);
        // Shared entities only: Jaccard 2 / (4 + 2 - 2).
        let ents = similarity(&t, &p("fp3", "cpu", "CPU saturation", &BTreeMap::new(), 2), 2, false);
        assert_eq!(ents.entity_overlap, 0.5);
        assert_eq!(ents.score, 0.125);
        // A linked previous occurrence counts as the same fingerprint family.
        assert!(similarity(&t, &p("fpx", "x", "y", &BTreeMap::new(), 0), 0, true).same_fingerprint);
    }
}
