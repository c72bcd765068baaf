"""Open a page in a real headless chromium and report what a reader would get.

Talks the Chrome DevTools Protocol over a websocket (the `websockets` package, no browser
driver to download): chromium starts with its own throw-away profile and a debugging port
on 127.0.0.1, loads the page, and we collect console errors, uncaught exceptions, every
network request that is not the page itself or an embedded data: URI, each image's decoded
size, the section ids and headings, and a screenshot of the top of the page. The browser
process is always stopped, even when a check fails.
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


def check_page(page: Path, screenshot: Path | None = None, width: int = 1280, height: int = 900, timeout: float = 90) -> PageCheck:
    """Load `page` (a local HTML file) headless and collect what the test asserts on."""
    browser = find_chromium()
    if browser is None:
        raise FileNotFoundError("no chromium on PATH; install it with `apt-get install chromium` (scripts/ensure-chromium.sh)")
    profile = Path(tempfile.mkdtemp(prefix="oekaki-chromium-"))
    proc = subprocess.Popen(
        [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.time() + 60
        while not (port_file.is_file() and port_file.read_text().strip()) and time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{browser} exited with status {proc.returncode} before opening its debugging port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            target = next(t for t in json.load(r) if t["type"] == "page")
        cdp = _Cdp(target["webSocketDebuggerUrl"])
        try:
            for domain in ("Page", "Runtime", "Log", "Network"):
                cdp.call(f"{domain}.enable")
            cdp.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
            url = page.resolve().as_uri()
            cdp.call("Page.navigate", url=url)
            cdp.wait_for("Page.loadEventFired", timeout)
            cdp.call("Runtime.evaluate", expression="new Promise(r => setTimeout(r, 300))", awaitPromise=True)
            facts = cdp.call("Runtime.evaluate", expression=PAGE_FACTS, returnByValue=True)["result"]["value"]
            if screenshot is not None:
                shot = cdp.call("Page.captureScreenshot", format="png", clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                screenshot.write_bytes(base64.b64decode(shot["data"]))
            return _summarise(cdp.events, facts, url)
        finally:
            cdp.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


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
