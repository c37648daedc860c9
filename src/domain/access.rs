//! What an OAuth access token lets its bearer do at `/mcp`: the token's scopes mapped to three
//! capabilities, and the scope a refused request needs. Pure: the token's signature, issuer,
//! audience and times are checked before a [`Grant`] is made (`oauth::access`).

use std::fmt;

/// One of the three things a token may allow at `/mcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Read-only tools, resources and prompts (what `--read-only` leaves).
    Read,
    /// Tools that change incidents or the cluster: detect, ack, resolve, contain, recover, apply.
    Respond,
    /// Tools that send notifications or retry the outbox.
    Notify,
}

impl Capability {
    pub const ALL: [Capability; 3] = [Capability::Read, Capability::Respond, Capability::Notify];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Read => "read",
            Capability::Respond => "respond",
            Capability::Notify => "notify",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scope names that grant each capability (configured in `[oauth.scopes]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeNames {
    pub read: String,
    pub respond: String,
    pub notify: String,
}

impl Default for ScopeNames {
    fn default() -> Self {
        Self {
            read: "incidents:read".into(),
            respond: "incidents:respond".into(),
            notify: "incidents:notify".into(),
        }
    }
}

impl ScopeNames {
    /// The scope that grants `cap`.
    pub fn of(&self, cap: Capability) -> &str {
        match cap {
            Capability::Read => &self.read,
            Capability::Respond => &self.respond,
            Capability::Notify => &self.notify,
        }
    }

    /// The three scope names, read first.
    pub fn all(&self) -> [&str; 3] {
        [&self.read, &self.respond, &self.notify]
    }

    /// Whether `name` is a usable scope token (RFC 6749 §3.3: printable ASCII without space,
    /// `"` or `\`), short enough to echo in a challenge.
    pub fn is_valid_scope(name: &str) -> bool {
        (1..=128).contains(&name.len())
            && name
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
    }
}

/// What one validated access token allows: its subject (who the authorization server says it
/// was issued to) and the capabilities its scopes map to. `respond` and `notify` include
/// reading; a token with none of the three scopes allows nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    subject: String,
    read: bool,
    respond: bool,
    notify: bool,
}

impl Grant {
    /// The grant of a token for `subject` whose scope claim lists `scopes` (other scopes are
    /// ignored).
    pub fn new<'a>(subject: &str, scopes: impl IntoIterator<Item = &'a str>, names: &ScopeNames) -> Self {
        let mut g = Self {
            subject: subject.to_owned(),
            read: false,
            respond: false,
            notify: false,
        };
        for s in scopes {
            if s == names.read {
                g.read = true;
            } else if s == names.respond {
                g.respond = true;
            } else if s == names.notify {
                g.notify = true;
            }
        }
        g
    }

    /// The token's `sub`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Whether the token allows `cap`.
    pub fn allows(&self, cap: Capability) -> bool {
        match cap {
            Capability::Read => self.read || self.respond || self.notify,
            Capability::Respond => self.respond,
            Capability::Notify => self.notify,
        }
    }

    /// The scopes to ask for when `needed` is refused: the incident scopes the token already
    /// has plus the missing one (RFC 6750 §3, and the MCP authorization spec's step-up advice),
    /// space-separated.
    pub fn challenge_scope(&self, needed: Capability, names: &ScopeNames) -> String {
        let held = [
            (Capability::Read, self.read),
            (Capability::Respond, self.respond),
            (Capability::Notify, self.notify),
        ];
        let mut out: Vec<&str> = held
            .iter()
            .filter(|(c, has)| *has || *c == needed)
            .map(|(c, _)| names.of(*c))
            .collect();
        out.dedup();
        out.join(" ")
    }

    /// The subject as it may appear in a principal or the audit log: itself when it is short
    /// and made of safe characters, else `sha256:` and the first 16 hex digits of its digest,
    /// so two different subjects never read the same.
    pub fn subject_label(&self) -> String {
        let safe = |c: char| c.is_ascii_alphanumeric() || "._-@|+".contains(c);
        if (1..=64).contains(&self.subject.len()) && self.subject.chars().all(safe) {
            self.subject.clone()
        } else {
            let digest = super::sha256_hex(self.subject.as_bytes());
            format!("sha256:{}", &digest[..16])
        }
    }
}

/// The scopes of a token's claims: the space-separated `scope` string (RFC 9068 §2.2.3), or
/// else a `scp` array (as some authorization servers write it).
pub fn scopes_of<'a>(scope: Option<&'a str>, scp: Option<&'a [String]>) -> Vec<&'a str> {
    match (scope, scp) {
        (Some(s), _) => s.split(' ').filter(|s| !s.is_empty()).collect(),
        (None, Some(list)) => list.iter().map(String::as_str).collect(),
        (None, None) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> ScopeNames {
        ScopeNames::default()
    }

    #[test]
    fn scopes_map_to_capabilities() {
        let read = Grant::new("a", ["incidents:read"], &names());
        assert!(read.allows(Capability::Read));
        assert!(!read.allows(Capability::Respond));
        assert!(!read.allows(Capability::Notify));

        let respond = Grant::new("a", ["openid", "incidents:respond"], &names());
        assert!(respond.allows(Capability::Read), "respond includes reading");
        assert!(respond.allows(Capability::Respond));
        assert!(!respond.allows(Capability::Notify));

        let notify = Grant::new("a", ["incidents:notify"], &names());
        assert!(notify.allows(Capability::Read));
        assert!(!notify.allows(Capability::Respond));
        assert!(notify.allows(Capability::Notify));

        let none = Grant::new("a", ["openid", "email", "incidents:readx", "INCIDENTS:READ"], &names());
        for c in Capability::ALL {
            assert!(!none.allows(c), "{c}");
        }
    }

    #[test]
    fn configured_names_are_the_ones_that_count() {
        let custom = ScopeNames {
            read: "mcp.read".into(),
            respond: "mcp.write".into(),
            notify: "mcp.page".into(),
        };
        assert!(!Grant::new("a", ["incidents:respond"], &custom).allows(Capability::Read));
        assert!(Grant::new("a", ["mcp.write"], &custom).allows(Capability::Respond));
    }

    #[test]
    fn challenges_ask_for_what_is_held_plus_what_is_missing() {
        let read = Grant::new("a", ["incidents:read"], &names());
        assert_eq!(
            read.challenge_scope(Capability::Respond, &names()),
            "incidents:read incidents:respond"
        );
        let none = Grant::new("a", Vec::<&str>::new(), &names());
        assert_eq!(none.challenge_scope(Capability::Read, &names()), "incidents:read");
        let notify = Grant::new("a", ["incidents:notify"], &names());
        assert_eq!(
            notify.challenge_scope(Capability::Respond, &names()),
            "incidents:respond incidents:notify"
        );
    }

    #[test]
    fn scope_claims_in_both_shapes() {
        assert_eq!(scopes_of(Some("a  b"), None), ["a", "b"]);
        let scp = vec!["x".to_owned(), "y".to_owned()];
        assert_eq!(scopes_of(None, Some(&scp)), ["x", "y"]);
        assert_eq!(scopes_of(Some("a"), Some(&scp)), ["a"], "scope wins");
        assert!(scopes_of(None, None).is_empty());
    }

    #[test]
    fn subjects_are_labelled_safely() {
        assert_eq!(Grant::new("mcp-agent", [], &names()).subject_label(), "mcp-agent");
        let odd = Grant::new("a b\"c", [], &names()).subject_label();
        assert!(odd.starts_with("sha256:") && odd.len() == 23, "{odd}");
        assert_ne!(odd, Grant::new("a b\"d", [], &names()).subject_label());
        assert!(
            Grant::new(&"x".repeat(65), [], &names())
                .subject_label()
                .starts_with("sha256:")
        );
    }

    #[test]
    fn scope_tokens() {
        assert!(ScopeNames::is_valid_scope("incidents:read"));
        for bad in ["", "a b", "a\"b", "a\\b", "é"] {
            assert!(!ScopeNames::is_valid_scope(bad), "{bad}");
        }
    }
}
