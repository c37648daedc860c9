"""The approval page in a real headless Chromium (Debian's /usr/bin/chromium), driven by
Playwright for Python. Started by tests/ui_browser.rs, which runs the real server, proposes the
plans over REST and checks afterwards what the server and the script backend did.

Each check prints `ok <name>`; the first failing one raises (exit 1). Secrets come from the
environment (UI_PASSWORD) and are never printed.

Usage: browser_test.py --base http://127.0.0.1:PORT --plans '{"approve": "plan-…", ...}'
                       --targets '{"approve": "web-approve", ...}' [--chromium /usr/bin/chromium]
                       [--screenshot DIR]
"""

import json
import os
import re

from browser_common import arguments, chromium, new_page, ok, run as run_checks
from playwright.sync_api import expect

# The runbook of INC-000001's rule (egress-spike) in the test's configuration.
RUNBOOK = "https://runbooks.example.com/egress?step=1&team=sre"


def main():
    ap = arguments()
    ap.add_argument("--plans", required=True)
    ap.add_argument("--targets", required=True)
    a = ap.parse_args()
    plans = json.loads(a.plans)
    targets = json.loads(a.targets)
    password = os.environ["UI_PASSWORD"]
    base = a.base.rstrip("/")

    with chromium(a.chromium) as browser:
        ctx, page = new_page(browser)
        run(page, ctx, base, plans, targets, password, a.screenshot)


def sign_in(page, name, secret):
    page.fill("#name", name)
    page.fill("#secret", secret)
    page.click("button[type=submit]")


def plan_url(base, plan):
    return f"{base}/ui/plans/{plan}"


def run(page, ctx, base, plans, targets, password, shots):
    # Not signed in: the queue sends the visitor to sign in.
    page.goto(f"{base}/ui/plans")
    expect(page).to_have_url(f"{base}/ui/sign-in")
    expect(page.locator("h1")).to_have_text("Sign in as an approver")
    ok("not signed in: the queue redirects to sign-in")

    sign_in(page, "alice", "not-the-password")
    expect(page.locator(".error")).to_contain_text("Wrong name, password or key")
    expect(page).to_have_url(f"{base}/ui/sign-in")
    assert not [c for c in ctx.cookies() if c["name"] == "incident_ui"], "no session after a wrong password"
    ok("a wrong password is refused")

    sign_in(page, "alice", password)
    expect(page).to_have_url(f"{base}/ui/plans")
    expect(page.locator("header")).to_contain_text("Signed in as alice")
    ok("sign-in with the right password")

    cookie = [c for c in ctx.cookies() if c["name"] == "incident_ui"]
    assert len(cookie) == 1, cookie
    c = cookie[0]
    assert c["httpOnly"] is True, c["httpOnly"]
    assert c["sameSite"] == "Strict", c["sameSite"]
    assert c["path"] == "/ui", c["path"]
    assert c["secure"] is False, "plain http here"
    ok("the session cookie is HttpOnly, SameSite=Strict, Path=/ui")

    waiting = page.locator("#waiting")
    for key in ("approve", "apply", "deny", "csrf"):
        expect(waiting).to_contain_text(plans[key])
    expired_line = waiting.locator("li", has_text=plans["expired"])
    expect(expired_line).to_contain_text("approval expired")
    ok("the queue lists the pending plans")
    if shots:
        page.screenshot(path=os.path.join(shots, "queue.png"), full_page=True)

    # The plan page shows what the human approves.
    page.click(f"a[href='/ui/plans/{plans['approve']}']")
    expect(page).to_have_url(plan_url(base, plans["approve"]))
    expect(page.locator("#state")).to_have_text("pending")
    expect(page.locator("#target")).to_contain_text(f"script/{targets['approve']}")
    expect(page.locator("#target")).to_contain_text("name to type: " + targets["approve"])
    expect(page.locator("#changes")).to_contain_text(f"run script {targets['approve']}")
    expect(page.locator("#changes")).to_contain_text(f'argv[1] = "{targets["approve"]}"')
    expect(page.locator("#inverse")).to_be_visible()
    expect(page.locator("#inverse-state")).to_have_text(re.compile("allowed|refused|none"))
    expect(page.locator("#proposer")).to_contain_text("rest")
    expect(page.locator("#policy")).to_contain_text("allowed_actions contains restore")
    expect(page.locator("#policy")).to_contain_text(f"scripts contains {targets['approve']}")
    expect(page.locator("a[href='/ui/incidents/INC-000001']")).to_have_text("INC-000001")
    expect(page.locator("#incident")).to_contain_text("Egress traffic spike")
    expect(page.locator("#incident [data-untrusted=telemetry]")).to_contain_text("Untrusted telemetry")
    expect(page.locator("#blast")).to_contain_text("pod(s)")
    ok("the plan page shows target, changes, inverse, proposer and policy")
    link = page.locator("#runbooks a")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", RUNBOOK)
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_text(RUNBOOK)
    expect(page.locator("#runbooks")).to_contain_text("never fetches or opens them")
    ok("the plan page shows the incident's runbook as a plain link to the URL it shows")
    if shots:
        page.screenshot(path=os.path.join(shots, "plan.png"), full_page=True)

    # Wrong name: refused, nothing approved.
    page.fill("#approve-name", targets["approve"] + "-x")
    page.click("#approve-form button[type=submit]")
    expect(page.locator(".error")).to_contain_text("does not match the target")
    expect(page.locator("#state")).to_have_text("pending")
    expect(page.locator("#approval")).to_contain_text("none yet")
    ok("a wrong name is refused")

    page.fill("#approve-name", targets["approve"])
    page.click("#approve-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Approved")
    expect(page.locator("#result")).to_contain_text(f"approved {plans['approve']} for rest")
    page.goto(plan_url(base, plans["approve"]))
    expect(page.locator("#state")).to_have_text("valid")
    expect(page.locator("#state-text")).to_contain_text("approved by human:alice")
    ok("approve")

    page.goto(plan_url(base, plans["apply"]))
    page.fill("#apply-name", targets["apply"])
    page.click("#apply-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Approved and applied: applied")
    expect(page.locator("#outcome")).to_contain_text(f"marked {targets['apply']}")
    page.goto(plan_url(base, plans["apply"]))
    expect(page.locator("#state")).to_have_text("applied")
    ok("approve & apply")

    page.goto(plan_url(base, plans["deny"]))
    page.fill("#reason", "wrong target: <b>not this one</b>")
    page.click("#deny-form button[type=submit]")
    expect(page).to_have_url(plan_url(base, plans["deny"]))
    expect(page.locator("#state")).to_have_text("denied")
    expect(page.locator("#denial")).to_contain_text("wrong target: <b>not this one</b>")
    assert page.locator("#denial b").count() == 0, "the reason is text, not markup"
    ok("deny")

    # The real form, submitted by the browser without its CSRF field.
    page.goto(plan_url(base, plans["csrf"]))
    page.locator("#approve-form input[name=csrf]").evaluate("e => e.remove()")
    page.fill("#approve-name", targets["csrf"])
    with page.expect_response(lambda r: r.url.endswith("/approve")) as resp:
        page.click("#approve-form button[type=submit]")
    assert resp.value.status == 403, resp.value.status
    expect(page.locator(".error")).to_contain_text("Nothing was done")
    page.goto(plan_url(base, plans["csrf"]))
    expect(page.locator("#state")).to_have_text("pending")
    expect(page.locator("#approval")).to_contain_text("none yet")
    ok("a form post without the CSRF token is refused (403) and changes nothing")

    page.goto(plan_url(base, plans["expired"]))
    expect(page.locator("#state")).to_have_text("expired")
    expect(page.locator("#state-text")).to_contain_text("expired at")
    expect(page.locator("#approval")).to_contain_text("expired")
    ok("an expired approval is shown as expired")

    page.goto(f"{base}/ui/incidents/INC-000001")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("denied: wrong target")
    expect(timeline).to_contain_text("human:alice")
    expect(page.locator("#plans")).to_contain_text(plans["apply"])
    ok("the incident page shows plans and decisions")

    page.click("header button[type=submit]")
    expect(page).to_have_url(f"{base}/ui/sign-in")
    page.goto(f"{base}/ui/plans")
    expect(page).to_have_url(f"{base}/ui/sign-in")
    ok("sign-out: the queue redirects to sign-in again")


if __name__ == "__main__":
    run_checks(main)
