"""`mxscan serve` in a real browser: headless Chromium (Debian's) driven by Selenium through chromedriver, against
the loopback test bed. Chromium resolves no name at all (--host-resolver-rules maps every host but loopback to
NOTFOUND) and its background services are off: nothing leaves 127.0.0.1.

Screenshots go to the test's temporary directory; with MXSCAN_UPDATE_SCREENSHOTS=1 also to docs/screenshots/
(the README's pictures are taken this way)."""
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import REPO, unavailable
from test_serve import server, start_server, stop  # noqa: F401  (server: a fixture)

os.environ.setdefault("SE_AVOID_STATS", "true")  # Selenium must not phone home
os.environ.setdefault("SE_OFFLINE", "true")      # nor download a driver: Debian's is used

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed (pip install selenium)")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        unavailable("chromium and chromedriver are not installed (Debian packages chromium, chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
                "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def screenshot(driver, tmp_path, name):
    """The whole page (the window grown to its height for the shot)."""
    path = tmp_path / f"{name}.png"
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], min(max(height + 140, size["height"]), 4000))
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(size["width"], size["height"])
    assert path.stat().st_size > 10_000, "an empty screenshot"
    if os.environ.get("MXSCAN_UPDATE_SCREENSHOTS") == "1":
        docs = REPO / "docs" / "screenshots"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, docs / f"{name}.png")


def wait_url(driver, url):
    """Wait for a navigation (a click or Enter returns before the next page has loaded)."""
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(driver, 30).until(lambda d: d.current_url == url)


def no_console_errors(driver):
    """No CSP violation or script error was logged."""
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def example(testbed):
    """A world domain with two tiers, a known provider and findings."""
    for t in testbed.truth:
        if (t["domain"] and t["status"] == "ok" and not t["status_alt"] and t["provider"]
                and len({m["tier"] for m in t["mx"]}) >= 2 and t["findings"]):
            return t
    pytest.fail("the world lacks a two-tier domain with findings")


def test_type_a_domain_and_read_the_tiers(browser, server, testbed, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    want = example(testbed)
    browser.get(server + "/")
    box = browser.find_element(By.ID, "q")
    box.send_keys(want["domain"] + Keys.ENTER)
    wait_url(browser, f"{server}/d/{want['domain']}")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith(want["domain"])
    rows = browser.find_elements(By.CSS_SELECTOR, "table.tiers tbody tr")
    got = [(r.find_elements(By.TAG_NAME, "td")[1].text, r.find_elements(By.TAG_NAME, "td")[2].text) for r in rows]
    assert got == [(str(m["preference"]), m["exchange"]) for m in want["mx"]]
    # Numbers are right-aligned; tiers are told apart by class (colour) and by word.
    cell = rows[0].find_elements(By.TAG_NAME, "td")[1]
    assert cell.value_of_css_property("text-align") == "right"
    assert rows[0].get_attribute("class") == "tier-1" and rows[0].find_element(By.CLASS_NAME, "tier").text == "primary"
    # Each finding shows its severity as a word and an icon, not only a colour.
    for code in want["findings"]:
        item = browser.find_element(By.ID, f"f-{code}")
        assert item.find_element(By.CLASS_NAME, "sev").text in ("Error", "Warning", "Info")
        assert item.find_element(By.CLASS_NAME, "icon").text in ("✖", "▲", "ℹ")
    screenshot(browser, tmp_path, "lookup")
    no_console_errors(browser)


def test_a_findings_rfc_link_points_at_its_section(browser, server, testbed):
    from selenium.webdriver.common.by import By
    want = next(t for t in testbed.truth if "null_mx_with_other_mx" in (t["findings"] or []) and not t["status_alt"])
    browser.get(f"{server}/d/{want['domain']}")
    link = browser.find_element(By.CSS_SELECTOR, "#f-null_mx_with_other_mx .rule a")
    assert link.text == "RFC 7505 §3"
    link.click()
    # Chromium resolves no names here: the link is followed, the page cannot load, the address is the section's.
    wait_url(browser, "https://www.rfc-editor.org/rfc/rfc7505#section-3")


def test_permalink_and_api_in_the_browser(browser, server, testbed):
    from selenium.webdriver.common.by import By
    want = example(testbed)
    browser.get(f"{server}/d/{want['domain']}")
    browser.find_element(By.LINK_TEXT, "JSON").click()
    wait_url(browser, f"{server}/api/lookup/{want['domain']}")
    row = json.loads(browser.find_element(By.TAG_NAME, "body").text)
    assert row["domain"] == want["domain"] and [m["exchange"] for m in row["mx"]] == [m["exchange"] for m in want["mx"]]
    browser.back()
    wait_url(browser, f"{server}/d/{want['domain']}")
    browser.find_element(By.LINK_TEXT, "permalink").click()
    wait_url(browser, f"{server}/d/{want['domain']}")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith(want["domain"])


def test_keyboard_alone_reaches_the_lookup(browser, server, testbed):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    want = example(testbed)
    browser.get(server + "/")
    active = lambda: browser.switch_to.active_element
    ActionChains(browser).send_keys(Keys.TAB).perform()
    assert active().text == "Skip to content"
    ActionChains(browser).send_keys(Keys.TAB).perform()  # the brand link
    ActionChains(browser).send_keys(Keys.TAB).perform()
    assert active().text == "Scan"
    ActionChains(browser).send_keys(Keys.TAB).perform()
    assert active().get_attribute("id") == "theme"
    ActionChains(browser).send_keys(Keys.TAB).perform()
    assert active().get_attribute("id") == "q"
    ActionChains(browser).send_keys(want["domain"], Keys.ENTER).perform()
    wait_url(browser, f"{server}/d/{want['domain']}")


def test_narrow_screen_and_dark_theme(browser, server, testbed, tmp_path):
    from selenium.webdriver.common.by import By
    want = example(testbed)
    browser.set_window_size(390, 900)
    try:
        browser.get(f"{server}/d/{want['domain']}")
        # The page itself never scrolls sideways; wide tables scroll inside their box.
        width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
        screenshot(browser, tmp_path, "lookup-narrow")
    finally:
        browser.set_window_size(1280, 1000)
    browser.get(f"{server}/d/{want['domain']}")
    light = browser.find_element(By.TAG_NAME, "body").value_of_css_property("background-color")
    browser.find_element(By.ID, "theme").click()
    dark = browser.find_element(By.TAG_NAME, "body").value_of_css_property("background-color")
    assert light != dark
    assert browser.execute_script("return document.documentElement.getAttribute('data-theme')") in ("dark", "light")
    # Remembered on the next page.
    browser.get(server + "/")
    assert browser.find_element(By.TAG_NAME, "body").value_of_css_property("background-color") == dark
    browser.get(f"{server}/d/{want['domain']}")
    screenshot(browser, tmp_path, "lookup-dark")
    browser.find_element(By.ID, "theme").click()
    no_console_errors(browser)


# ------------------------------------------------------------------ the scan browser

from test_scan import full_scan  # noqa: E402,F401  (scan_server's own fixture)
from test_serve import scan_server  # noqa: E402,F401  (test_serve's fixture: the world's scan, served)


def table_rows(browser):
    from selenium.webdriver.common.by import By
    return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, "#domain-table tbody tr")]


def test_filter_the_scan_table_and_page_through_it(browser, scan_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    scan_server, _ = scan_server
    browser.get(scan_server + "/scan")
    Select(browser.find_element(By.NAME, "status")).select_by_value("ok")
    Select(browser.find_element(By.NAME, "provider")).select_by_value("google")
    Select(browser.find_element(By.NAME, "sort")).select_by_value("domain")
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    wait_url(browser, f"{scan_server}/scan?status=ok&provider=google&category=&finding=&tiers=&text=&sort=domain")
    first = table_rows(browser)
    assert len(first) == 50
    assert all(r[2] == "ok" and r[3] == "google" for r in first)
    assert [r[1] for r in first] == sorted(r[1] for r in first)
    count = browser.find_element(By.ID, "count").text
    assert count.startswith("Rows 1–50 of ")
    screenshot(browser, tmp_path, "browser")
    browser.find_element(By.CSS_SELECTOR, "nav.pager a[rel=next]").click()
    wait_url(browser, f"{scan_server}/scan?status=ok&provider=google&sort=domain&offset=50")
    second = table_rows(browser)
    assert second and all(r[3] == "google" for r in second) and second[0][1] > first[-1][1]
    assert browser.find_element(By.ID, "count").text.startswith("Rows 51–")
    # A domain's full row, then back to the live lookup.
    link = browser.find_element(By.CSS_SELECTOR, "#domain-table tbody tr a")
    name = link.text
    link.click()
    wait_url(browser, f"{scan_server}/scan/d/{name}")
    assert json.loads(browser.find_element(By.CSS_SELECTOR, "pre").text)["domain"] == name
    no_console_errors(browser)


def test_a_chart_bar_filters_the_table(browser, scan_server):
    from selenium.webdriver.common.by import By
    scan_server, _ = scan_server
    browser.get(scan_server + "/scan")
    browser.find_element(By.CSS_SELECTOR, "#c-status + table a[href='/scan?status=nxdomain']").click()
    wait_url(browser, f"{scan_server}/scan?status=nxdomain")
    rows = table_rows(browser)
    assert rows and all(r[2] == "nxdomain" for r in rows)
