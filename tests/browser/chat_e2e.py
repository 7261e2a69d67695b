#!/usr/bin/env python3
"""End to end: two headless Chromium pages chat through examples/chat.

Usage: chat_e2e.py BASE_URL SCREENSHOT_PATH

Drives /usr/bin/chromium through /usr/bin/chromedriver with selenium
(WebDriver). Page "alice" and page "bob" join the same room, alice sends a
message, and both pages must show it as alice's; bob's page is then saved as
a PNG (and alice's, once recovered, beside it as *-recovered.png).

Recovery: alice's browser goes offline (DevTools network emulation: the open
connection stays, new ones fail) and she types "/drop", so the server closes
her connection (1012); her page keeps retrying. Bob says three things. Back
online, alice's page must reconnect by itself and show exactly those three,
marked as missed (li.missed after a "missed while away" separator), in order.
Then the script prints "restart-server" and waits for "restarted" on its
stdin (tests/browser.rs restarts the app on the same port, losing its
in-memory history): both pages must reconnect and say "history incomplete",
and alice's "reload" link must start her page afresh.

Last, alice's page joins with a blank nickname and must show why the
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
RESTART, RESTARTED = "restart-server", "restarted"  # with tests/browser.rs


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


def say(driver, text):
    wait_for(driver, lambda d: d.find_element(By.ID, "send").is_enabled(), "the Send button to be enabled")
    driver.find_element(By.ID, "text").send_keys(text)
    driver.find_element(By.ID, "send").click()


def status_is(text):
    return lambda d: d.find_element(By.ID, "status").text == text


def set_offline(driver, offline):
    """DevTools network emulation: offline, open WebSockets stay up and new
    ones fail (as when a laptop's network goes while the server is up)."""
    driver.execute_cdp_cmd("Network.enable", {})
    conditions = {"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", conditions)


def recovers_what_it_missed(alice, bob, room, token, screenshot):
    set_offline(alice, True)
    say(alice, "/drop")
    wait_for(bob, shows_system("alice left (1 here)"), "bob's page to show that the server dropped alice")
    wait_for(
        alice,
        lambda d: d.find_element(By.ID, "status").text.startswith("Connection lost (1006)"),
        "alice's page to fail a reconnection while offline",
    )
    missed = [f"said while alice was away {n} {token}" for n in (1, 2, 3)]
    for text in missed:
        say(bob, text)
        wait_for(bob, shows_message("bob", text), f"bob's page to show {text!r}")
    set_offline(alice, False)
    wait_for(alice, status_is(f"In {room} as alice — 2 here"), "alice's page to be back in the room")
    wait_for(bob, shows_system("alice joined (2 here)"), "bob's page to show alice back")
    kinds = [li.get_attribute("class") for li in alice.find_elements(By.CSS_SELECTOR, "#messages li")]
    assert kinds.count("separator") == 1, kinds
    after = kinds[kinds.index("separator") + 1 :]
    assert all("missed" not in k for k in kinds[: kinds.index("separator")]), kinds
    got = [(n, t) for n, t in lines(alice, "message.missed")]
    assert got == [("bob", "bob" + text) for text in missed], f"missed on alice's page: {got!r}"
    everything = [t for n, t in lines(alice, "message") if n == "bob"]
    assert everything == ["bob" + text for text in missed], f"bob's lines on alice's page: {everything!r}"
    separator = alice.find_element(By.CSS_SELECTOR, "#messages li.separator").text
    assert separator.startswith("missed while away"), separator
    # The missed ones (alice's own "left" and bob's three) come first, then live ones.
    assert after[:4] == ["system missed"] + ["message missed"] * 3, kinds
    assert "missed" not in after[-1], kinds
    assert alice.save_screenshot(screenshot), "save_screenshot failed"
    print("missed while away: bob's 3 messages, in order")


def restart_loses_the_history(pages, room):
    print(RESTART, flush=True)
    answer = sys.stdin.readline().strip()
    assert answer == RESTARTED, f"expected {RESTARTED!r} on stdin, got {answer!r}"
    for name, page in pages.items():
        wait_for(
            page,
            lambda d: any("history incomplete" in t for _, t in lines(d, "incomplete")),
            f"{name}'s page to say its history is incomplete",
        )
        wait_for(page, lambda d: d.find_element(By.ID, "status").text.startswith(f"In {room} as {name}"), f"{name} back")
    alice = pages["alice"]
    alice.find_element(By.CSS_SELECTOR, "#messages li.incomplete a.reload").click()
    wait_for(alice, lambda d: not lines(d, "incomplete"), "alice's page to start afresh")
    wait_for(alice, status_is(f"In {room} as alice — 2 here"), "alice's page to be in the room again")
    assert not lines(alice, "missed"), lines(alice, "missed")
    print("after the restart: history incomplete: reload")


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

        recovered = os.path.splitext(os.path.abspath(screenshot))[0] + "-recovered.png"
        recovers_what_it_missed(alice, bob, room, token, recovered)
        restart_loses_the_history(pages, room)

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
