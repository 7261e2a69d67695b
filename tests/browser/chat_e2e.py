#!/usr/bin/env python3
"""End to end: two headless Chromium pages chat through examples/chat.

Usage: chat_e2e.py BASE_URL SCREENSHOT_PATH

Drives /usr/bin/chromium through /usr/bin/chromedriver with selenium
(WebDriver). Page "alice" and page "bob" join the same room, alice sends a
message, and both pages must show it as alice's; bob's page is then saved as
a PNG. Then alice's page joins with a blank nickname and must show why the
chat closed it (4001 "a nickname is required"), not a bare 1006. Every wait
is bounded; any failure exits non-zero with both pages' state on stderr.
Only BASE_URL (127.0.0.1) is ever contacted.
"""

import os
import secrets
import shutil
import sys
import tempfile

# Never let selenium-manager look for (or download) a browser or a driver.
os.environ.setdefault("SE_OFFLINE", "true")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 15  # seconds, for every wait on the page


def new_page(profile_dir):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--disable-default-apps",
        "--disable-extensions",
        "--no-default-browser-check",
        "--password-store=basic",
        "--window-size=900,700",
        f"--user-data-dir={profile_dir}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver


def submit_join(driver, base_url, nick, room):
    driver.get(base_url)
    nick_input = driver.find_element(By.ID, "nick")
    nick_input.clear()
    nick_input.send_keys(nick)
    room_input = driver.find_element(By.ID, "room")
    room_input.clear()
    room_input.send_keys(room)
    driver.find_element(By.ID, "join").click()


def join(driver, base_url, nick, room):
    submit_join(driver, base_url, nick, room)
    wait_for(
        driver,
        lambda d: d.find_element(By.ID, "status").text.startswith(f"In {room} as {nick}"),
        f"#status of {nick}'s page to say it is in room {room!r}",
    )


def wait_for(driver, condition, what):
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(condition)
    except TimeoutException:
        raise AssertionError(f"timed out after {WAIT}s waiting for {what}") from None


def lines(driver, kind):
    """(nick, full text) of each li.<kind> in #messages."""
    found = []
    for li in driver.find_elements(By.CSS_SELECTOR, f"#messages li.{kind}"):
        nicks = li.find_elements(By.CSS_SELECTOR, "span.nick")
        nick = nicks[0].get_attribute("textContent") if nicks else None
        found.append((nick, li.get_attribute("textContent")))
    return found


def shows_message(nick, text):
    def check(driver):
        return any(n == nick and text in t for n, t in lines(driver, "message"))

    return check


def shows_system(fragment):
    def check(driver):
        return any(fragment in t for _, t in lines(driver, "system"))

    return check


def dump(name, driver):
    try:
        status = driver.find_element(By.ID, "status").text
        items = [li.get_attribute("outerHTML") for li in driver.find_elements(By.CSS_SELECTOR, "#messages li")]
        print(f"--- {name}: status={status!r}", file=sys.stderr)
        for item in items:
            print(f"    {item}", file=sys.stderr)
        for entry in driver.get_log("browser"):
            print(f"    console: {entry}", file=sys.stderr)
    except Exception as e:  # the page may be gone; say so and go on
        print(f"--- {name}: could not read the page: {e!r}", file=sys.stderr)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: chat_e2e.py BASE_URL SCREENSHOT_PATH")
    base_url, screenshot = sys.argv[1], sys.argv[2]
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.isfile(path):
            sys.exit(f"{path} is missing: apt-get install chromium chromium-driver")

    token = secrets.token_hex(4)
    room = f"e2e-{token}"
    # Markup must arrive as text, not as HTML.
    message = f"hello bob, <b>cheese</b> & crackers {token}"

    profiles = []
    pages = {}
    try:
        for nick in ("alice", "bob"):
            profiles.append(tempfile.mkdtemp(prefix=f"chat-e2e-{nick}-"))
            pages[nick] = new_page(profiles[-1])
        alice, bob = pages["alice"], pages["bob"]

        join(alice, base_url, "alice", room)
        wait_for(alice, shows_system("alice joined (1 here)"), "alice's page to show her own join line")
        join(bob, base_url, "bob", room)
        wait_for(bob, shows_system("bob joined (2 here)"), "bob's page to show his own join line")
        wait_for(alice, shows_system("bob joined (2 here)"), "alice's page to show that bob joined")
        assert bob.find_element(By.ID, "status").text == f"In {room} as bob — 2 here", bob.find_element(
            By.ID, "status"
        ).text

        wait_for(alice, lambda d: d.find_element(By.ID, "send").is_enabled(), "alice's Send button to be enabled")
        alice.find_element(By.ID, "text").send_keys(message)
        alice.find_element(By.ID, "send").click()

        wait_for(bob, shows_message("alice", message), f"bob's page to show alice's message {message!r}")
        wait_for(alice, shows_message("alice", message), f"alice's own page to show her message {message!r}")
        for name, page in pages.items():
            got = [line for line in lines(page, "message") if line[0] == "alice"]
            assert got == [("alice", "alice" + message)], f"{name}'s page: {got!r}"
            assert not page.find_elements(By.CSS_SELECTOR, "#messages li b"), f"{name}'s page rendered markup"
        assert alice.find_element(By.ID, "text").get_attribute("value") == "", "alice's input was not cleared"

        os.makedirs(os.path.dirname(os.path.abspath(screenshot)), exist_ok=True)
        assert bob.save_screenshot(screenshot), "save_screenshot failed"
        with open(screenshot, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", f"{screenshot} is not a PNG"
        print(f"screenshot: {os.path.abspath(screenshot)}")

        # A blank nickname (a space passes the input's `required`; the page
        # trims it): the chat accepts, then closes with a code and a reason
        # the page can show, where a refused handshake shows only 1006.
        submit_join(alice, base_url, " ", room)
        turned_down = "Disconnected (4001: a nickname is required)."
        wait_for(
            alice,
            lambda d: d.find_element(By.ID, "status").text == turned_down,
            f"alice's page to say {turned_down!r}",
        )
        assert not alice.find_element(By.ID, "send").is_enabled(), "Send is enabled on a closed chat"
        print(f"blank nickname: {turned_down}")
        print("chat e2e ok")
    except BaseException:
        for name, page in pages.items():
            dump(name, page)
        raise
    finally:
        for page in pages.values():
            try:
                page.quit()
            except Exception:
                pass
        for profile in profiles:
            shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
