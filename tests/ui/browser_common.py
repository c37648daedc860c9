"""What the headless-Chromium tests share (tests/ui/browser_test.py and
tests/oauth/browser_sign_in.py, both run with the Python tests/ui/install.sh prints): Debian's
Chromium launched headless with the same flags, a phone-sized page, the `ok <name>` checks and
the summary line the Rust tests look for.
"""

import argparse
from contextlib import contextmanager

from playwright.sync_api import sync_playwright

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

PASSED = []


def ok(name):
    """Records a passed check and prints `ok <name>`."""
    PASSED.append(name)
    print(f"ok {name}", flush=True)


def arguments():
    """A parser with the flags every browser test takes: --base, --chromium, --screenshot."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--screenshot")
    return ap


@contextmanager
def chromium(executable):
    """The browser for the block, closed after it; then `N passed, 0 failed`."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    print(f"{len(PASSED)} passed, 0 failed")


def new_page(browser):
    """A phone-sized window (the pages must be usable there), 15 s per step: (context, page)."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    ctx.set_default_timeout(15000)
    return ctx, ctx.new_page()


def run(main):
    """Runs `main`; a failure prints one line the Rust test shows, then the traceback."""
    try:
        main()
    except Exception as e:
        print(f"FAIL after {len(PASSED)} checks: {type(e).__name__}: {e}", flush=True)
        raise
