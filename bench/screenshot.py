"""Screenshots of the search page answering the CPTPP question, for docs/.

    .venv/bin/python bench/screenshot.py                 # builds the seeds' index in a temp folder, serves it
    .venv/bin/python bench/screenshot.py --url http://127.0.0.1:8000   # a server already running
    .venv/bin/python bench/screenshot.py --mode search --out docs/search-results.png

Writes docs/search-page.png (desktop, 1280 px wide) and docs/search-page-phone.png (375 px wide). Uses
Debian's Chromium (/usr/bin/chromium, or $EDSEARCH_CHROMIUM) through Playwright; downloads nothing.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
QUESTION = "what did the board recommend on CPTPP?"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("EDSEARCH_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def serve_seeds():
    """Build the seeds' index in a temp folder and serve it with uvicorn in a thread; returns (url, server)."""
    import uvicorn

    from api.server import create_app
    from indexer import build_index
    from indexer.config import Settings

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = Settings.from_env(api_token="")
    index = Path(tempfile.mkdtemp(prefix="edsearch-shot-"))
    build_index([ROOT / "seeds"], index, settings=settings, progress=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(index, settings), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.time() + 60
    while not server.started:
        if time.time() > deadline:
            raise SystemExit("uvicorn did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def shoot(url: str, out: Path, phone_out: Path | None, mode: str = "ask", question: str = QUESTION) -> list[Path]:
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if not exe:
        raise SystemExit("no Chromium found: install Debian's chromium or set EDSEARCH_CHROMIUM")
    params = {"q": question}
    if mode == "ask":
        params["mode"] = "ask"
    page_url = f"{url.rstrip('/')}/?{urlencode(params)}"
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=LAUNCH_ARGS)
        try:
            for path, viewport, full in ((out, {"width": 1280, "height": 900}, False),
                                         (phone_out, {"width": 375, "height": 812}, True)):
                if path is None:
                    continue
                context = browser.new_context(viewport=viewport, device_scale_factor=1 if viewport["width"] > 500 else 2)
                page = context.new_page()
                page.goto(page_url)
                page.wait_for_selector("#results .card", timeout=60_000)
                state = page.locator("#status").get_attribute("data-state")
                if mode == "ask" and state != "ok":
                    print(f"warning: the page did not answer ({state}): {page.locator('#status').inner_text()!r}",
                          file=sys.stderr)
                page.wait_for_timeout(200)
                path.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(path), full_page=full)
                written.append(path)
                context.close()
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running edsearch server (default: serve the seeds' index here)")
    ap.add_argument("--mode", choices=["ask", "search"], default="ask")
    ap.add_argument("--question", default=QUESTION)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "search-page.png")
    ap.add_argument("--phone-out", type=Path, default=ROOT / "docs" / "search-page-phone.png")
    ap.add_argument("--no-phone", action="store_true")
    args = ap.parse_args(argv)
    server = None
    url = args.url
    if not url:
        url, server = serve_seeds()
    try:
        for path in shoot(url, args.out, None if args.no_phone else args.phone_out, args.mode, args.question):
            print(f"wrote {path}")
    finally:
        if server:
            server.should_exit = True
    return 0


if __name__ == "__main__":
    sys.exit(main())
