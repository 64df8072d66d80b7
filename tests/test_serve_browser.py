"""The web page in a real browser: headless Chromium driven by Selenium against a running server.

Skipped, with the reason, where Selenium, Chromium or its driver is missing (`.ci/run` installs
Debian's chromium, chromium-driver and fonts-nanum when it runs as root).
"""
from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

import embedsearch  # noqa: E402
from embedsearch.serve import ServeConfig, create_app  # noqa: E402
from embedsearch.store import write_store  # noqa: E402
from embedsearch.text.pipeline import english_words  # noqa: E402

from .conftest import TOY_WORDS, toy_vectors  # noqa: E402

BROWSER = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None)
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(BROWSER is None or DRIVER is None,
                                reason="no headless browser: install Debian's chromium and chromium-driver to run the page tests")
KO_WORDS = ["서울", "부산", "서울역", "사과", "배"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, lee_store: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("browser")
    write_store(root / "toy", words=TOY_WORDS, counts=list(range(100, 90, -1)), vectors=toy_vectors(),
                model={"kind": "handmade"}, pipeline=english_words().to_dict())
    vectors = np.array([[1, 0.1, 0], [1, 0.3, 0], [0.9, 0, 0.1], [0, 1, 0], [0, 1, 0.2]], dtype=np.float32)
    write_store(root / "ko", words=KO_WORDS, counts=[5, 4, 3, 2, 1], vectors=vectors, model={"kind": "handmade"},
                pipeline=english_words().to_dict())
    return {"toy": root / "toy", "lee": lee_store, "ko": root / "ko"}


@pytest.fixture(scope="module")
def server(stores: dict[str, Path]):
    port = free_port()
    config = uvicorn.Config(create_app(ServeConfig(stores=stores)), host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    import urllib.request

    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900", "--lang=en"):
        options.add_argument(argument)
    try:
        driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    except Exception as exc:  # noqa: BLE001 - a browser that will not start is a skip, with its reason
        pytest.skip(f"chromium did not start: {exc}")
    yield driver
    driver.quit()


def wait(driver, condition, timeout: float = 10.0):
    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def open_page(driver, server: str, hash_part: str = "") -> None:
    driver.get(f"{server}/{hash_part}")
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")


def result_words(driver) -> list[str]:
    return [b.text for b in driver.find_elements(By.CSS_SELECTOR, "#results tbody button.word")]


def test_type_with_completion_search_and_follow_a_neighbour(browser, server, stores):
    open_page(browser, server, "#store=lee")
    with embedsearch.open_store(stores["lee"]) as store:
        completions = [w for w in store.vocabulary() if w.startswith("pol")][:8]
        police = [n.word for n in store.similar("police", k=10).neighbors]
        follow = police[0]
        followed = [n.word for n in store.similar(follow, k=10).neighbors]
    box = browser.find_element(By.ID, "q")
    box.send_keys("pol")
    wait(browser, lambda d: [li.text for li in d.find_elements(By.CSS_SELECTOR, "#suggest li")] == completions)
    index = completions.index("police")
    for _ in range(index + 1):
        box.send_keys(Keys.ARROW_DOWN)
    box.send_keys(Keys.ENTER)  # takes the completion
    assert box.get_attribute("value") == "police"
    box.send_keys(Keys.ENTER)  # searches
    wait(browser, lambda d: result_words(d) == police)
    assert browser.find_element(By.ID, "results-query").text == "police"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#map circle")) == 11
    browser.find_element(By.CSS_SELECTOR, f'#results button.word[data-word="{follow}"]').click()
    wait(browser, lambda d: d.find_element(By.ID, "results-query").text == follow and result_words(d) == followed)
    assert f"q={follow}" in browser.current_url
    # The lee store keeps contexts: the clicked word's KWIC examples show.
    wait(browser, lambda d: d.find_element(By.ID, "examples-word").text == follow
         and len(d.find_elements(By.CSS_SELECTOR, "#examples li mark")) > 0)
    # A point of the map navigates too.
    target = followed[1]
    browser.find_element(By.CSS_SELECTOR, f'#map text[data-word="{target}"]').click()
    wait(browser, lambda d: d.find_element(By.ID, "results-query").text == target)
    browser.back()
    wait(browser, lambda d: d.find_element(By.ID, "results-query").text == follow)


def test_analogy_similarity_and_an_unknown_word(browser, server):
    open_page(browser, server, "#store=toy")
    for field, word in (("analogy-a", "man"), ("analogy-b", "king"), ("analogy-c", "woman")):
        browser.find_element(By.ID, field).send_keys(word)
    browser.find_element(By.CSS_SELECTOR, "#analogy-form button").click()
    wait(browser, lambda d: [li.get_attribute("data-word") for li in d.find_elements(By.CSS_SELECTOR, "#analogy-results li")][:1] == ["queen"])
    browser.find_element(By.ID, "sim-first").send_keys("apple")
    browser.find_element(By.ID, "sim-second").send_keys("pear")
    browser.find_element(By.CSS_SELECTOR, "#sim-form button").click()
    with embedsearch.open_store(browser_store_path(server, "toy")) as store:
        expected = f"{store.similarity('apple', 'pear').score:.4f}"
    wait(browser, lambda d: d.find_element(By.ID, "sim-result").text == expected)
    box = browser.find_element(By.ID, "q")
    box.clear()
    box.send_keys("kign", Keys.ENTER)
    wait(browser, lambda d: d.find_element(By.ID, "error").is_displayed() and "unknown word 'kign'" in d.find_element(By.ID, "error").text)
    browser.find_element(By.CSS_SELECTOR, '#error button.word').click()  # the close spelling
    wait(browser, lambda d: d.find_element(By.ID, "results-query").text == "king" and not d.find_element(By.ID, "error").is_displayed())


def browser_store_path(server: str, name: str) -> Path:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{server}/v1/info?store={name}") as response:
        return Path(json.load(response)["path"])


def test_switch_store_and_search_in_korean(browser, server, tmp_path: Path):
    open_page(browser, server)
    picker = Select(browser.find_element(By.ID, "store"))
    assert [o.text for o in picker.options] == ["toy", "lee", "ko"]
    picker.select_by_visible_text("ko")
    wait(browser, lambda d: "5 words" in d.find_element(By.ID, "store-info").text)
    box = browser.find_element(By.ID, "q")
    box.clear()
    box.send_keys("서")
    wait(browser, lambda d: [li.text for li in d.find_elements(By.CSS_SELECTOR, "#suggest li")] == ["서울", "서울역"])
    box.send_keys("울", Keys.ENTER)
    wait(browser, lambda d: result_words(d)[:2] == ["서울역", "부산"])
    assert "store=ko" in browser.current_url
    shot = tmp_path / "korean.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
