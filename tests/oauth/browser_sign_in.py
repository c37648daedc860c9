"""The approval page's single sign-on in a real headless Chromium (Debian's /usr/bin/chromium),
driven by Playwright for Python (the venv tests/ui/install.sh makes). Started by
tests/oauth_browser.rs, which runs the real OpenID Provider (npm oidc-provider) and the real
server, proposes a plan over REST, and checks afterwards what the server recorded.

Each check prints `ok <name>`; the first failing one raises (exit 1). The provider's login
form takes any password; nothing secret passes through this script.

Usage: browser_sign_in.py --base http://127.0.0.1:PORT --issuer http://127.0.0.1:PORT2
                          --plan plan-... [--chromium /usr/bin/chromium] [--screenshot DIR]
"""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ui"))
from browser_common import arguments, chromium, new_page, ok, run  # noqa: E402
from playwright.sync_api import expect  # noqa: E402


def main():
    ap = arguments()
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--plan", required=True)
    a = ap.parse_args()
    base = a.base.rstrip("/")
    with chromium(a.chromium) as browser:
        # The provider's pages import a web font; the closed network refuses it at once.
        mapped(browser, base, a.issuer, a.plan, a.screenshot)
        unmapped(browser, base, a.issuer, a.screenshot)


def sign_in_at_provider(page, issuer, login):
    """On the provider's login form: sign in as `login`, then consent when asked."""
    expect(page).to_have_url(re.compile("^" + re.escape(issuer) + "/interaction/"))
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    consent = page.locator("input[name=prompt][value=consent]")
    # The page after the login form is either the consent form (on the provider) or ours.
    page.wait_for_url(re.compile("^(" + re.escape(issuer) + "/interaction/|.*/ui/)"))
    if page.url.startswith(issuer) and consent.count() == 1:
        page.click("button[type=submit]")


def mapped(browser, base, issuer, plan, shots):
    ctx, page = new_page(browser)
    page.goto(f"{base}/ui/plans")
    expect(page).to_have_url(f"{base}/ui/sign-in")
    link = page.locator("#sso-sign-in")
    expect(link).to_have_text("Sign in with the test provider")
    ok("the sign-in page offers single sign-on")
    if shots:
        page.screenshot(path=os.path.join(shots, "sso-sign-in.png"), full_page=True)

    link.click()
    sign_in_at_provider(page, issuer, "alice")
    expect(page).to_have_url(f"{base}/ui/plans")
    expect(page.locator("header")).to_contain_text("Signed in as alice")
    ok("single sign-on as alice at the provider's login form lands on the queue as alice")

    cookies = {c["name"]: c for c in ctx.cookies()}
    c = cookies.get("incident_ui")
    assert c is not None, list(cookies)
    assert c["httpOnly"] is True and c["sameSite"] == "Strict" and c["path"] == "/ui", c
    assert "incident_ui_oidc" not in cookies, "the pending sign-in cookie is cleared"
    ok("the session cookie is the page's own (HttpOnly, SameSite=Strict, Path=/ui)")

    waiting = page.locator("#waiting")
    expect(waiting).to_contain_text(plan)
    page.click(f"a[href='/ui/plans/{plan}']")
    expect(page.locator("#state")).to_have_text("pending")
    page.fill("#reason", "not during the sale")
    page.click("#deny-form button[type=submit]")
    expect(page).to_have_url(f"{base}/ui/plans/{plan}")
    expect(page.locator("#state")).to_have_text("denied")
    expect(page.locator("#denial")).to_contain_text("alice")
    ok("alice denies the plan through the page (CSRF-checked form)")
    if shots:
        page.screenshot(path=os.path.join(shots, "sso-denied.png"), full_page=True)

    page.click("header button[type=submit]")
    expect(page).to_have_url(f"{base}/ui/sign-in")
    page.goto(f"{base}/ui/plans")
    expect(page).to_have_url(f"{base}/ui/sign-in")
    ok("sign-out ends the session")
    ctx.close()


def unmapped(browser, base, issuer, shots):
    ctx, page = new_page(browser)
    page.goto(f"{base}/ui/sign-in")
    page.click("#sso-sign-in")
    sign_in_at_provider(page, issuer, "mallory")
    expect(page).to_have_url(re.compile("^" + re.escape(base) + "/ui/oidc/callback"))
    expect(page.locator(".error")).to_contain_text("mallory@example.test, who is not an approver here")
    assert not [c for c in ctx.cookies() if c["name"] == "incident_ui"], "no session for mallory"
    if shots:
        page.screenshot(path=os.path.join(shots, "sso-refused.png"), full_page=True)
    page.goto(f"{base}/ui/plans")
    expect(page).to_have_url(f"{base}/ui/sign-in")
    ok("an identity that is no approver's is refused")
    ctx.close()


if __name__ == "__main__":
    run(main)
