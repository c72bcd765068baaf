"""Open a page in a real headless chromium and report what a reader would get.

Talks the Chrome DevTools Protocol over a websocket (the `websockets` package, no browser
driver to download): chromium starts with its own throw-away profile and a debugging port
on 127.0.0.1, loads the page, and we collect console errors, uncaught exceptions, every
network request that is not the page itself or an embedded data: URI, each image's decoded
size, the section ids and headings, and a screenshot of the top of the page (check_page). `Browser`
drives a live page for the app's test: JavaScript, mouse events (Input.dispatchMouseEvent, which
the page gets as pointer events), screenshots. The browser process is always stopped, even when a
check fails.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]
PAGE_FACTS = """(() => ({
  images: [...document.images].map(i => ({src: i.src.slice(0, 40), complete: i.complete, w: i.naturalWidth, h: i.naturalHeight})),
  sections: [...document.querySelectorAll('section[id]')].map(s => s.id),
  headings: [...document.querySelectorAll('h1, h2, h3')].map(h => h.textContent),
  rows: [...document.querySelectorAll('tr[data-generator]')].map(r => r.dataset.generator),
  lang: document.documentElement.lang,
}))()"""


def find_chromium() -> str | None:
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    return None


@dataclass
class PageCheck:
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # network requests other than the page and data: URIs
    images: list[dict] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)
    lang: str = ""


class _Cdp:
    def __init__(self, ws_url: str):
        from websockets.sync.client import connect

        self.ws = connect(ws_url, max_size=64 * 2**20, open_timeout=20)
        self.next_id, self.events = 0, []

    def call(self, method: str, timeout: float = 60, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = json.loads(self.ws.recv(timeout=max(deadline - time.time(), 0.1)))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)
        raise TimeoutError(f"chromium did not answer {method} within {timeout} s")

    def wait_for(self, event: str, timeout: float = 60) -> None:
        if any(e.get("method") == event for e in self.events):
            return
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = json.loads(self.ws.recv(timeout=max(deadline - time.time(), 0.1)))
            self.events.append(msg)
            if msg.get("method") == event:
                return
        raise TimeoutError(f"no {event} within {timeout} s")


class Browser:
    """A headless chromium with one page, driven over the DevTools protocol; a context manager that always stops it.

    check_page below loads a local file and reads it; the app's test drives a live page: navigate,
    evaluate JavaScript, wait for a condition, press and drag the mouse (Input.dispatchMouseEvent,
    which the page receives as pointer events), take screenshots.
    """

    def __init__(self, width: int = 1280, height: int = 900):
        self.width, self.height = width, height
        self.proc: subprocess.Popen | None = None
        self.cdp: _Cdp | None = None
        self.url = ""

    def __enter__(self) -> Browser:
        browser = find_chromium()
        if browser is None:
            raise FileNotFoundError("no chromium on PATH; install it with `apt-get install chromium` (scripts/ensure-chromium.sh)")
        self.profile = Path(tempfile.mkdtemp(prefix="oekaki-chromium-"))
        self.proc = subprocess.Popen(
            [browser, *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = self.profile / "DevToolsActivePort"
            deadline = time.time() + 60
            while not (port_file.is_file() and port_file.read_text().strip()) and time.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{browser} exited with status {self.proc.returncode} before opening its debugging port")
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                target = next(t for t in json.load(r) if t["type"] == "page")
            self.cdp = _Cdp(target["webSocketDebuggerUrl"])
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.cdp.call(f"{domain}.enable")
            self.cdp.call("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height, deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.cdp is not None:
            self.cdp.ws.close()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def open(self, url: str, timeout: float = 90) -> None:
        self.url = url
        self.cdp.events = [e for e in self.cdp.events if e.get("method") != "Page.loadEventFired"]
        self.cdp.call("Page.navigate", url=url)
        self.cdp.wait_for("Page.loadEventFired", timeout)

    def evaluate(self, expression: str, await_promise: bool = False):
        """The value of a JavaScript expression (JSON-serialisable); a page exception is raised here."""
        result = self.cdp.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}: {result['exceptionDetails'].get('exception', {}).get('description', result)}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float = 30, poll: float = 0.1):
        """Evaluate `expression` until it is truthy; its value."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if value := self.evaluate(expression):
                return value
            time.sleep(poll)
        raise TimeoutError(f"not within {timeout} s: {expression}")

    def mouse(self, kind: str, x: float, y: float, pressed: bool) -> None:
        """One mouse event at page coordinates (CSS pixels): kind is mousePressed, mouseMoved or mouseReleased."""
        buttons = 1 if pressed else 0
        self.cdp.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", buttons=buttons, clickCount=1)

    def drag(self, points: list[tuple[float, float]]) -> None:
        """Press the left button at the first point, move through the others, release at the last: one stroke."""
        self.mouse("mouseMoved", *points[0], pressed=False)
        self.mouse("mousePressed", *points[0], pressed=True)
        for x, y in points[1:]:
            self.mouse("mouseMoved", x, y, pressed=True)
        self.mouse("mouseReleased", *points[-1], pressed=False)

    def click(self, x: float, y: float) -> None:
        self.mouse("mouseMoved", x, y, pressed=False)
        self.mouse("mousePressed", x, y, pressed=True)
        self.mouse("mouseReleased", x, y, pressed=False)

    def centre_of(self, selector: str) -> tuple[float, float]:
        """The page coordinates of an element's centre (scrolled into view first)."""
        r = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center'}}); "
            "const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        return r[0], r[1]

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        height = self.evaluate("document.documentElement.scrollHeight") if full_page else self.height
        shot = self.cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=full_page, clip={
            "x": 0, "y": 0, "width": self.width, "height": height, "scale": 1})  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def problems(self) -> PageCheck:
        """Console errors, exceptions and requests to anywhere but the page's own origin, so far."""
        return _summarise(self.cdp.events, {k: [] for k in ("images", "sections", "headings", "rows")} | {"lang": ""}, self.url)


def check_page(page: Path, screenshot: Path | None = None, width: int = 1280, height: int = 900, timeout: float = 90) -> PageCheck:
    """Load `page` (a local HTML file) headless and collect what the test asserts on."""
    with Browser(width, height) as b:
        url = page.resolve().as_uri()
        b.open(url, timeout)
        b.evaluate("new Promise(r => setTimeout(r, 300))", await_promise=True)
        facts = b.evaluate(PAGE_FACTS)
        if screenshot is not None:
            b.screenshot(screenshot)
        return _summarise(b.cdp.events, facts, url)


def _summarise(events: list[dict], facts: dict, url: str) -> PageCheck:
    check = PageCheck(**{k: facts[k] for k in ("images", "sections", "headings", "rows", "lang")})
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            check.console_errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            check.console_errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            check.console_errors.append(params["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            req = params["request"]["url"]
            if req != url and not req.startswith("data:"):
                check.requests.append(req)
    return check
