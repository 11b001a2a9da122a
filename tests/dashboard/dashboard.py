#!/usr/bin/env python3
"""Drive tmdbq's dashboard in a real headless Chromium, as a person would.

Run by tests/integration/test_http_dashboard.c, which makes the database (fixture.sql),
starts tmdbq-http and passes, in the environment:

  TMDBQ_DASHBOARD_URL     the page, http://127.0.0.1:PORT/
  TMDBQ_DASHBOARD_TOKEN   the server's token
  TMDBQ_DATABASE_URL      the test's database, read with psql to check what the page says
  TMDBQ_DASHBOARD_OUT     where the screenshots go (the build folder)
  TMDBQ_DASHBOARD_RETRY   the failed operation to retry (the newest failed one)
  TMDBQ_DASHBOARD_CANCEL  the failed operation to cancel
  TMDBQ_DASHBOARD_USER    a user whose pending operations to show

Chromium (Debian's chromium and chromium-driver) runs headless with a fresh profile and no
network but loopback. The script signs in (a wrong token first), checks the counts, the
oldest pending age, the chart against the database, the failed list (newest first), the
budget, the queues and the registry; takes the screenshots (1366x768, the whole page, and
a phone's 390 px width, where nothing may overflow sideways); clicks Retry and sees the
operation pending again, on the page and in the database; cancels another; shows a user's
pending operations; pauses and resumes; reloads (the token survives in the tab) and
forgets the token. Every request must stay on the server's origin, and the browser's
console must hold no error but the 401 of the wrong token. Exit status 0 when all held,
1 otherwise (each failure printed).

docs/dashboard.png is a copy of <build>/dashboard/dashboard-1366x768.png.
"""

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("TMDBQ_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TMDBQ_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT_S = 20

failures = []


def check(cond, what):
    if cond:
        print("ok:", what)
    else:
        print("FAILED:", what)
        failures.append(what)
    return cond


def sql(query):
    """One value (or rows joined by newlines) from the test's database."""
    out = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", query,
         os.environ["TMDBQ_DATABASE_URL"]],
        check=True, capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def digits(text):
    """The integer a cell shows, whatever the locale's grouping ("1,253" is 1253)."""
    d = re.sub(r"[^0-9]", "", text)
    return int(d) if d else None


def die_with_parent():
    """In chromedriver's child: die when this script does, however it ends."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def start_browser(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--window-size=1366,768",
                "--force-device-scale-factor=1", "--lang=en-US",
                "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER,
                      popen_kw={"preexec_fn": die_with_parent})
    return webdriver.Chrome(service=service, options=opts)


class Page:
    def __init__(self, driver):
        self.d = driver
        self.console = []  # every console entry seen, for the final check
        self.expected = []  # of which those a wrong token causes (its 401)

    def wait(self, fn, what, timeout=WAIT_S):
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.2).until(
                lambda d: fn())
        except TimeoutException:
            check(False, "timed out waiting for " + what)
            return None

    def find(self, css):
        return self.d.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def text(self, css):
        """The rendered text of the first match, "" when none; read in one step, since
        the page replaces its rows at every refresh."""
        return self.d.execute_script(
            "const e = document.querySelector(arguments[0]);"
            "return e ? e.innerText.trim() : '';", css)

    def logs(self):
        entries = self.d.get_log("browser")
        self.console.extend(entries)
        return entries

    def set_size(self, w, h):
        # The window's outer size; the viewport is what counts, so correct for the rest.
        self.d.set_window_size(w, h)
        iw, ih = self.d.execute_script("return [window.innerWidth, window.innerHeight]")
        if (iw, ih) != (w, h):
            self.d.set_window_size(w + (w - iw), h + (h - ih))

    def screenshot(self, path):
        self.d.save_screenshot(path)
        check(os.path.getsize(path) > 10000, "screenshot " + os.path.basename(path))

    def full_screenshot(self, path, width):
        height = self.d.execute_script(
            "return Math.ceil(document.documentElement.scrollHeight)")
        self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        time.sleep(0.4)
        self.screenshot(path)
        self.d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def counts_from_db():
    rows = sql("SELECT status, count(*) FROM queued_list_operations GROUP BY status")
    counts = {s: 0 for s in ("pending", "processing", "completed", "failed", "cancelled")}
    for line in rows.splitlines():
        status, n = line.split("|")
        counts[status] = int(n)
    counts["total"] = sum(counts.values())
    return counts


def tiles(page):
    return {k: digits(page.text("#n-" + k))
            for k in ("pending", "processing", "completed", "failed", "cancelled", "total")}


def sign_in(page, url, token):
    page.d.get(url)
    page.wait(lambda: page.find("#login").is_displayed(), "the token form")
    check(page.find("#token").get_attribute("type") == "password",
          "the token is asked for in a password field")
    check(page.d.execute_script("return sessionStorage.length") == 0,
          "nothing is stored before signing in")

    # A wrong token is refused, and the page says so.
    page.find("#token").send_keys("wrong-token-0123456789")
    page.find("#connect").click()
    page.wait(lambda: "refused" in page.text("#login-error"), "the wrong token's refusal")
    check(page.find("#login").is_displayed() and not page.find("#board").is_displayed(),
          "a wrong token keeps the form")
    page.expected = [e for e in page.logs() if e["level"] == "SEVERE"]
    check(all("401" in e["message"] for e in page.expected),
          "the only console errors of a wrong token are its 401: %s" % page.expected)

    page.find("#token").clear()
    page.find("#token").send_keys(token)
    page.find("#connect").click()
    page.wait(lambda: page.find("#board").is_displayed(), "the board")
    check(page.d.execute_script("return sessionStorage.getItem('tmdbq.token')") == token,
          "the token is kept in sessionStorage")
    check(page.d.execute_script("return localStorage.length") == 0,
          "nothing is kept in localStorage")
    check(page.d.get_cookies() == [], "no cookie is set")


def check_board(page, retry_id):
    want = counts_from_db()
    page.wait(lambda: tiles(page) == want, "the counts of the table %s" % want)
    check(tiles(page) == want, "the tiles show the table's counts %s" % want)

    age = float(sql("SELECT extract(epoch FROM now() - min(inserted_at)) FROM "
                    "queued_list_operations WHERE status = 'pending'"))
    shown = page.text("#oldest")
    m = re.match(r"(\d+) min (\d+) s", shown)
    check(m is not None and abs(int(m.group(1)) * 60 + int(m.group(2)) - age) < 30,
          "the oldest pending age %r is the table's (%.0f s)" % (shown, age))

    state = page.text("#run-state")
    check("Running" in state and page.text("#run-toggle") == "Pause",
          "running, with a Pause switch (%r)" % state)

    # The chart: 60 minutes, the per-minute figures agree with the table, and the total.
    page.wait(lambda: len(page.finds("#chart g.minute")) == 60, "60 minutes in the chart")
    check(len(page.finds("#chart svg[role=img]")) == 1, "the chart is one SVG")
    first = page.finds("#chart g.minute")[0].get_attribute("data-minute")
    window = ("updated_at >= '%s'::timestamptz" % first)
    done = {s: int(sql("SELECT count(*) FROM queued_list_operations WHERE status = '%s' "
                       "AND %s" % (s, window))) for s in ("completed", "failed", "cancelled")}
    summary = page.text("#chart-sum")
    m = re.search(r"([\d,.\s]+) completed, ([\d,.\s]+) failed, ([\d,.\s]+) cancelled",
                  summary)
    check(m is not None and (digits(m.group(1)), digits(m.group(2)), digits(m.group(3)))
          == (done["completed"], done["failed"], done["cancelled"]),
          "the chart's totals %r are the table's %s" % (summary, done))
    limited = int(sql("SELECT coalesce(sum(limited), 0) FROM tmdbq_rate_stats WHERE "
                      "bucket >= '%s'::timestamptz" % first))
    check(limited > 0 and re.search(r"([\d,]+) answered 429", summary) is not None
          and digits(re.search(r"([\d,]+) answered 429", summary).group(1)) == limited,
          "the chart counts the %d 429s" % limited)
    bars = page.finds("#chart rect.s-limited")
    check(len(bars) > 0, "the 429s have bars of their own (%d)" % len(bars))
    check(len(page.finds("#chart rect.s-hatch")) > 0, "failed bars are hatched")

    # Failed operations: newest first, with what a person needs to act.
    rows = page.finds("#failed tbody tr")
    check(len(rows) == want["failed"], "every failed operation is listed (%d)" % len(rows))
    ids = [r.get_attribute("data-id") for r in rows]
    newest = sql("SELECT id FROM queued_list_operations WHERE status = 'failed' "
                 "ORDER BY updated_at DESC LIMIT 1")
    check(ids[:1] == [newest] == [retry_id], "the newest failed operation is first")
    cells = [c.text for c in rows[0].find_elements(By.TAG_NAME, "td")]
    check(cells[1].startswith("add_movie") and cells[2] == "42" and cells[3] == "7"
          and cells[4] == "0" and "could not be found" in cells[5],
          "the row shows type, user, list, retries and error: %s" % cells[:6])
    check(len(rows[0].find_elements(By.CSS_SELECTOR, "button.btn-retry")) == 1
          and len(rows[0].find_elements(By.CSS_SELECTOR, "button.btn-cancel")) == 1,
          "each failed row has Retry and Cancel")

    # The budget, the queues, the processes.
    budget = page.text("#budgets")
    conf = page.text("#budget-conf")
    check("40 requests/s" in conf and "scope queue" in budget and "429s" in budget
          and "cool-down" in budget, "the TMDB budget: %r %r" % (conf, budget))
    queues = [r.get_attribute("data-queue") for r in page.finds("#queues tbody tr")]
    check(queues[:1] == ["work"] and queues[-1:] == ["dead"]
          and any(q.startswith("retry.") for q in queues), "the queues: %s" % queues)
    ready = digits(page.text("#queues tbody tr[data-queue=work] td:nth-child(2)"))
    check(ready == 4, "the work queue holds the 4 published pending ids (%s)" % ready)
    consumers = page.text("#consumers-note")
    check("2 live consumer processes, 4 workers" in consumers and "1 stale" in consumers,
          "the consumers: %r" % consumers)
    api1 = page.text("#consumers tbody tr[data-consumer='api-1:4242']")
    check("2 workers" in api1 and "1,602" in api1,
          "a consumer process with its workers and outcomes: %r" % api1)
    leader = page.text("#reapers tbody tr[data-reaper='api-1:4243']")
    check("leader" in leader, "the leading reaper is marked: %r" % leader)
    standby = page.text("#reapers tbody tr[data-reaper='api-2:5152']")
    check("standby" in standby, "the other reaper stands by: %r" % standby)


def check_layout(page, out):
    # Numbers in tabular figures.
    fvn = page.d.execute_script(
        "return getComputedStyle(document.getElementById('n-total')).fontVariantNumeric")
    check("tabular-nums" in fvn, "figures are tabular (%s)" % fvn)
    # The desktop view, and the whole page, with the pointer off the chart.
    ActionChains(page.d).move_to_element(page.find(".bar h1")).perform()
    page.set_size(1366, 768)
    time.sleep(0.6)  # the chart redraws for its width
    overflow = page.d.execute_script(
        "return document.documentElement.scrollWidth - window.innerWidth")
    check(overflow <= 0, "nothing overflows sideways at 1366 px (%d)" % overflow)
    page.screenshot(os.path.join(out, "dashboard-1366x768.png"))
    page.full_screenshot(os.path.join(out, "dashboard-1366-full.png"), 1366)
    # A phone.
    page.set_size(390, 844)
    time.sleep(0.6)
    overflow = page.d.execute_script(
        "return document.documentElement.scrollWidth - window.innerWidth")
    check(overflow <= 0, "nothing overflows sideways at 390 px (%d)" % overflow)
    tile_font = page.d.execute_script(
        "return parseFloat(getComputedStyle(document.getElementById('n-total')).fontSize)")
    check(tile_font >= 16, "the counts stay readable on a phone (%s px)" % tile_font)
    page.screenshot(os.path.join(out, "dashboard-390x844.png"))
    page.full_screenshot(os.path.join(out, "dashboard-390-full.png"), 390)
    page.set_size(1366, 768)
    time.sleep(0.3)


def act_on_failed(page, retry_id, cancel_id, before):
    row = page.find("#failed tbody tr[data-id='%s']" % retry_id)
    row.find_element(By.CSS_SELECTOR, "button.btn-retry").click()
    page.wait(lambda: "pending" in page.text("#actions li[data-id='%s']" % retry_id),
              "the retried operation shown pending")
    check("Retried" in page.text("#actions li[data-id='%s']" % retry_id)
          and "pending" in page.text("#actions li[data-id='%s']" % retry_id),
          "the page shows the retried operation pending again")
    check(sql("SELECT status || ':' || retry_count || ':' || (error_message IS NULL) FROM "
              "queued_list_operations WHERE id = '%s'" % retry_id) == "pending:0:true",
          "the database holds it pending, with a full retry budget")
    page.wait(lambda: not page.finds("#failed tbody tr[data-id='%s']" % retry_id),
              "the retried operation gone from the failed list")
    page.wait(lambda: tiles(page)["failed"] == before["failed"] - 1
              and tiles(page)["pending"] == before["pending"] + 1,
              "the counts after the retry")
    check(tiles(page)["failed"] == before["failed"] - 1
          and tiles(page)["pending"] == before["pending"] + 1,
          "one failed fewer, one pending more")

    row = page.find("#failed tbody tr[data-id='%s']" % cancel_id)
    row.find_element(By.CSS_SELECTOR, "button.btn-cancel").click()
    alert = WebDriverWait(page.d, WAIT_S).until(lambda d: d.switch_to.alert)
    check("for good" in alert.text, "Cancel asks first: %r" % alert.text)
    alert.accept()
    page.wait(lambda: "cancelled" in page.text("#actions li[data-id='%s']" % cancel_id),
              "the cancelled operation shown cancelled")
    check(sql("SELECT status FROM queued_list_operations WHERE id = '%s'" % cancel_id)
          == "cancelled", "the database holds the failed operation cancelled")
    page.wait(lambda: not page.finds("#failed tbody tr[data-id='%s']" % cancel_id),
              "the cancelled operation gone from the failed list")


def check_user(page, user):
    page.find("#user").send_keys(str(user))
    page.find("#user-show").click()
    want = sql("SELECT id FROM queued_list_operations WHERE tmdb_user_id = %d AND status "
               "IN ('pending', 'processing') ORDER BY seq" % user).splitlines()
    page.wait(lambda: len(page.finds("#user-ops tbody tr")) == len(want),
              "the user's %d operations" % len(want))
    got = [r.get_attribute("data-id") for r in page.finds("#user-ops tbody tr")]
    check(got == want, "user %d's pending and processing operations, oldest first" % user)
    check(len(page.finds("#user-ops tbody tr button.btn-cancel"))
          == int(sql("SELECT count(*) FROM queued_list_operations WHERE tmdb_user_id = %d "
                     "AND status = 'pending'" % user)),
          "each pending one can be cancelled")


def check_pause(page):
    page.find("#run-toggle").click()
    alert = WebDriverWait(page.d, WAIT_S).until(lambda d: d.switch_to.alert)
    alert.accept()
    page.wait(lambda: "Paused" in page.text("#run-state"), "Paused")
    check(page.text("#run-toggle") == "Resume", "the switch now says Resume")
    check(sql("SELECT paused FROM tmdbq_control") == "t", "the database says paused")
    page.find("#run-toggle").click()
    page.wait(lambda: "Running" in page.text("#run-state"), "Running again")
    check(sql("SELECT paused FROM tmdbq_control") == "f", "the database says running")


def check_session(page, url, token):
    page.d.get(url)
    page.wait(lambda: page.find("#board").is_displayed(), "the board after a reload")
    check(page.find("#login").get_attribute("hidden") is not None,
          "a reload in the same tab keeps the token")
    page.wait(lambda: digits(page.text("#n-total")) is not None, "counts after a reload")
    page.find("#signout").click()
    page.wait(lambda: page.find("#login").is_displayed(), "the token form after forgetting")
    check(page.d.execute_script("return sessionStorage.getItem('tmdbq.token')") is None,
          "forgetting the token removes it")


def check_origin(page, url):
    origin = re.match(r"^(https?://[^/]+)", url).group(1)
    names = page.d.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat([location.href])")
    outside = [n for n in names if not n.startswith(origin + "/")]
    check(outside == [], "every request stays on %s (%d requests)" % (origin, len(names)))


def on_term(signum, frame):
    # The test's time is up: unwind, so that `finally` closes Chromium.
    raise SystemExit("stopped by signal %d" % signum)


def main():
    signal.signal(signal.SIGTERM, on_term)
    url = os.environ["TMDBQ_DASHBOARD_URL"]
    token = os.environ["TMDBQ_DASHBOARD_TOKEN"]
    out = os.environ["TMDBQ_DASHBOARD_OUT"]
    retry_id = os.environ["TMDBQ_DASHBOARD_RETRY"]
    cancel_id = os.environ["TMDBQ_DASHBOARD_CANCEL"]
    user = int(os.environ["TMDBQ_DASHBOARD_USER"])
    os.makedirs(out, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="tmdbq-chromium-")
    driver = None
    try:
        driver = start_browser(profile)
        driver.set_page_load_timeout(30)
        page = Page(driver)
        sign_in(page, url, token)
        check_board(page, retry_id)
        check_layout(page, out)
        act_on_failed(page, retry_id, cancel_id, counts_from_db())
        check_user(page, user)
        check_pause(page)
        check_origin(page, url)
        page.full_screenshot(os.path.join(out, "dashboard-after.png"), 1366)
        check_session(page, url, token)
        page.logs()
        errors = [e for e in page.console
                  if e["level"] == "SEVERE" and e not in page.expected]
        check(errors == [], "no console error: %s" % errors)
        warnings = [e for e in page.console if e["level"] == "WARNING"]
        check(warnings == [], "no console warning: %s" % warnings)
        with open(os.path.join(out, "console.json"), "w") as f:
            json.dump(page.console, f, indent=1)
    except Exception:  # a crash of the script is a failure with its trace, not a hang
        traceback.print_exc()
        failures.append("the script stopped: see the trace above")
        if driver is not None:
            try:
                driver.save_screenshot(os.path.join(out, "dashboard-failure.png"))
            except Exception:
                pass
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    print("%d check(s) failed" % len(failures) if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
