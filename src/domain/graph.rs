//! The correlation walk over the entity graph: entities are nodes, and two entities are linked
//! when one signal names both. The walk starts from an incident's own entities (depth 0) and
//! each step adds the entities linked to the previous depth's that were not reached before.
//! Pure: the store hands in each hop's links; the walk decides what is new, what is expanded
//! next and where the cap cuts.
//!
//! Entities of a `stop` kind (by default namespaces, which link nearly everything) are reported
//! but not walked through; an incident's own entities are always walked through.

use std::collections::HashMap;

use super::entity::EntityKind;

/// Entities linked to the frontier by at least one signal in the window: `signals` signals name
/// both `from` and `to`; `example` is one of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub from: i64,
    pub to: i64,
    pub to_kind: EntityKind,
    pub to_key: String,
    pub signals: i64,
    pub example: i64,
}

/// An entity the walk reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Reached {
    pub id: i64,
    pub kind: EntityKind,
    pub key: String,
    pub depth: u8,
    /// Entities of the previous depth it is linked to, with the signals naming both, most first
    /// (then by key).
    pub via: Vec<(i64, i64)>,
    /// A signal linking it to `via[0]`.
    pub example: Option<i64>,
    /// Not walked through (a stop kind).
    pub stop: bool,
}

/// A walk in progress.
#[derive(Debug, Clone)]
pub struct Walk {
    reached: Vec<Reached>,
    index: HashMap<i64, usize>,
    stop_kinds: Vec<EntityKind>,
    max: usize,
    depth: u8,
    truncated: bool,
}

impl Walk {
    /// Starts from an incident's own entities (at most `max` entities in all).
    pub fn start(seeds: Vec<(i64, EntityKind, String)>, stop_kinds: &[EntityKind], max: usize) -> Self {
        let mut w = Self {
            reached: Vec::new(),
            index: HashMap::new(),
            stop_kinds: stop_kinds.to_vec(),
            max: max.max(1),
            depth: 0,
            truncated: false,
        };
        let mut seeds = seeds;
        seeds.sort_by(|a, b| a.2.cmp(&b.2));
        for (id, kind, key) in seeds {
            if w.index.contains_key(&id) {
                continue;
            }
            if w.reached.len() == w.max {
                w.truncated = true;
                break;
            }
            w.index.insert(id, w.reached.len());
            w.reached.push(Reached {
                id,
                kind,
                key,
                depth: 0,
                via: Vec::new(),
                example: None,
                stop: false,
            });
        }
        w
    }

    /// The entities the next hop starts from: those of the last depth reached, except stop kinds.
    pub fn frontier(&self) -> Vec<i64> {
        self.reached
            .iter()
            .filter(|r| r.depth == self.depth && !r.stop)
            .map(|r| r.id)
            .collect()
    }

    /// One hop: the entities linked to the frontier that were not reached before join at the next
    /// depth, most linking signals first, until the cap (then the walk is `truncated`). Returns
    /// how many joined.
    pub fn step(&mut self, links: &[Link]) -> usize {
        let frontier: Vec<i64> = self.frontier();
        let depth = self.depth + 1;
        self.depth = depth;
        let mut fresh: HashMap<i64, Reached> = HashMap::new();
        let mut best: HashMap<i64, (i64, i64)> = HashMap::new();
        for l in links {
            if self.index.contains_key(&l.to) || !frontier.contains(&l.from) {
                continue;
            }
            let r = fresh.entry(l.to).or_insert_with(|| Reached {
                id: l.to,
                kind: l.to_kind,
                key: l.to_key.clone(),
                depth,
                via: Vec::new(),
                example: None,
                stop: false,
            });
            // One entry per entity of the previous depth: links of one pair found twice (through
            // different signals) add up.
            match r.via.iter_mut().find(|v| v.0 == l.from) {
                Some(v) => v.1 += l.signals,
                None => r.via.push((l.from, l.signals)),
            }
            // The example follows the strongest link (then the lowest signal id, for determinism).
            let b = best.entry(l.to).or_insert((l.signals, l.example));
            if (l.signals, -l.example) > (b.0, -b.1) {
                *b = (l.signals, l.example);
            }
            // Equally strong: the earliest signal.
            if l.signals == b.0 {
                b.1 = b.1.min(l.example);
            }
        }
        let mut fresh: Vec<Reached> = fresh.into_values().collect();
        for r in &mut fresh {
            r.example = best.get(&r.id).map(|b| b.1);
            let key = |id: i64| self.index.get(&id).map(|&i| self.reached[i].key.as_str());
            r.via.sort_by(|a, b| b.1.cmp(&a.1).then(key(a.0).cmp(&key(b.0))));
            r.stop = self.stop_kinds.contains(&r.kind);
        }
        let weight = |r: &Reached| r.via.iter().map(|v| v.1).sum::<i64>();
        fresh.sort_by(|a, b| weight(b).cmp(&weight(a)).then(a.key.cmp(&b.key)));
        let room = self.max - self.reached.len();
        if fresh.len() > room {
            self.truncated = true;
            fresh.truncate(room);
        }
        let added = fresh.len();
        for r in fresh {
            self.index.insert(r.id, self.reached.len());
            self.reached.push(r);
        }
        added
    }

    /// Every entity reached, by depth, then most linking signals.
    pub fn reached(&self) -> &[Reached] {
        &self.reached
    }

    /// The entity with this id, if reached.
    pub fn get(&self, id: i64) -> Option<&Reached> {
        self.index.get(&id).map(|&i| &self.reached[i])
    }

    /// Whether the cap left entities out.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Hops walked so far.
    pub fn depth(&self) -> u8 {
        self.depth
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(from: i64, to: i64, key: &str, signals: i64, example: i64) -> Link {
        Link {
            from,
            to,
            to_kind: EntityKind::of_prefix(key.split('/').next().unwrap()),
            to_key: key.into(),
            signals,
            example,
        }
    }

    #[test]
    fn each_hop_adds_what_is_new_and_stops_at_stop_kinds() {
        let mut w = Walk::start(
            vec![(1, EntityKind::Ip, "ip/203.0.113.9".into())],
            &[EntityKind::Namespace],
            100,
        );
        assert_eq!(w.frontier(), [1]);
        let added = w.step(&[
            link(1, 2, "user/alice", 3, 30),
            link(1, 3, "user/bob", 5, 31),
            link(1, 4, "namespace/shop", 1, 32),
        ]);
        assert_eq!(added, 3);
        let keys: Vec<&str> = w.reached().iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["ip/203.0.113.9", "user/bob", "user/alice", "namespace/shop"]);
        assert_eq!(w.get(2).unwrap().example, Some(30));
        assert!(w.get(4).unwrap().stop);
        assert_eq!(w.frontier(), [3, 2], "namespaces are not walked through");
        // Links back to reached entities and links from outside the frontier add nothing.
        let added = w.step(&[
            link(2, 1, "ip/203.0.113.9", 1, 40),
            link(4, 9, "pod/shop/x", 1, 41),
            link(2, 5, "session/4711", 1, 42),
            link(3, 5, "session/4711", 2, 43),
        ]);
        assert_eq!(added, 1);
        let s = w.get(5).unwrap();
        assert_eq!(
            (s.depth, s.via.clone(), s.example),
            (2, vec![(3, 2), (2, 1)], Some(43)),
            "the strongest link's signal"
        );
        assert!(w.get(9).is_none());
        assert!(!w.truncated());
    }

    #[test]
    fn the_cap_keeps_the_strongest_and_says_so() {
        let mut w = Walk::start(vec![(1, EntityKind::Ip, "ip/a".into())], &[], 3);
        w.step(&[
            link(1, 2, "user/a", 1, 1),
            link(1, 3, "user/b", 5, 2),
            link(1, 4, "user/c", 3, 3),
        ]);
        let keys: Vec<&str> = w.reached().iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["ip/a", "user/b", "user/c"]);
        assert!(w.truncated());
    }
}
