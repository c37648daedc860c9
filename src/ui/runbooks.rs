//! An incident's runbooks, dashboards and alert description where the approver decides (the
//! plan page and the incident page). The links come from alerts (untrusted) and the
//! configuration; each is checked again here (`sanitize_url`: an absolute http(s) URL without
//! credentials, quotes or markup characters) and only then becomes a plain link with
//! `rel="noopener noreferrer"`, its text the URL itself, so the human sees where it points.
//! Anything else is shown as text. maud escapes every value; the page's CSP is unchanged (a
//! link loads nothing).

use maud::{Markup, html};

use crate::domain::runbook::{LINKS_NOTE, LinkKind, LinkSource, Runbooks, sanitize_url};

fn kind(k: LinkKind) -> &'static str {
    match k {
        LinkKind::Runbook => "runbook",
        LinkKind::Dashboard => "dashboard",
        LinkKind::Generator => "alert rule",
    }
}

fn source(s: LinkSource) -> &'static str {
    match s {
        LinkSource::Alert => "from the alert",
        LinkSource::Config => "from the configuration",
    }
}

/// The runbooks block (`#runbooks`); empty markup when there are none.
pub(super) fn runbooks_block(r: &Runbooks) -> Markup {
    if r.is_empty() {
        return html! {};
    }
    html! {
        div.untrusted #runbooks data-untrusted="runbooks" {
            p.untrusted-note { (LINKS_NOTE) }
            @if !r.links.is_empty() {
                ul.links {
                    @for l in &r.links {
                        li {
                            span.badge { (kind(l.kind)) } " "
                            @match sanitize_url(&l.url) {
                                Ok(url) => { a href=(url) rel="noopener noreferrer" { (url) } },
                                Err(_) => { code { (l.url) } " (not a plain http(s) link: shown as text)" },
                            }
                            span.muted { " · " (source(l.source)) " · " (l.rule) }
                        }
                    }
                }
            }
            @if let Some(d) = &r.description {
                p.untrusted-note { "The alert's description (untrusted telemetry):" }
                pre #runbook-description { (d) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::runbook::RunbookLink;

    #[test]
    fn only_checked_http_links_become_links_and_everything_is_escaped() {
        let link = |url: &str| RunbookLink {
            kind: LinkKind::Runbook,
            url: url.into(),
            source: LinkSource::Alert,
            rule: "<b>Rule</b>".into(),
        };
        let r = Runbooks {
            links: vec![
                link("https://wiki.example.com/5xx?a=1&b=2"),
                // Stored values are checked when kept; a tampered row is shown as text.
                link("javascript:alert(1)"),
                link("https://x.example/\"><script>alert(1)</script>"),
            ],
            description: Some("<img src=x onerror=alert(1)> & done".into()),
            note: String::new(),
        };
        let html = runbooks_block(&r).into_string();
        assert!(
            html.contains(
                r#"<a href="https://wiki.example.com/5xx?a=1&amp;b=2" rel="noopener noreferrer">https://wiki.example.com/5xx?a=1&amp;b=2</a>"#
            ),
            "{html}"
        );
        assert_eq!(html.matches("<a ").count(), 1, "{html}");
        assert!(
            html.contains("<code>javascript:alert(1)</code> (not a plain http(s) link"),
            "{html}"
        );
        assert!(!html.contains("href=\"javascript") && !html.contains("<script") && !html.contains("<img"));
        assert!(html.contains("&lt;script&gt;") && html.contains("&lt;img src=x onerror=alert(1)&gt; &amp; done"));
        assert!(html.contains("&lt;b&gt;Rule&lt;/b&gt;"));
        assert_eq!(runbooks_block(&Runbooks::default()).into_string(), "");
    }
}
