"""The built book as a reader meets it: every page opened in headless Chromium.

Fails on an error output in an executed cell, a missing image or a broken
internal link; saves screenshots of the landing page and the results chapter
to ``_build/screenshots/``.
"""
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


def pages():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML / 'index.html'} missing: run `make book` first")
    return sorted(p for p in HTML.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts
                  and p.name not in ("genindex.html", "search.html", "py-modindex.html"))


def chromium(*args, timeout=90):
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=timeout)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.links, self.errors = [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class", "") or ""
        if tag == "img" and a.get("src"):
            self.imgs.append(a["src"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if "output_error" in cls or "traceback" in cls.split() or "stderr" in cls.split() and "ansi-red-fg" in cls:
            self.errors += 1


def _local(page: Path, ref: str) -> Path | None:
    u = urlparse(ref)
    if u.scheme or ref.startswith(("#", "mailto:", "data:", "javascript:")):
        return None
    return (page.parent / unquote(u.path)).resolve() if u.path else None


@pytest.fixture(scope="module")
def all_pages():
    return pages()


def test_every_page_loads_without_errors_broken_images_or_links(all_pages):
    problems = []
    for page in all_pages:
        m = re.search(r'http-equiv="refresh" content="\d+;\s*url=([^"]+)"', page.read_text(), re.I)
        if m:  # a redirect (the landing page): check where it leads
            target = _local(page, m.group(1))
            if target is None or not target.is_file():
                problems.append(f"{page.name}: redirects to a missing page {m.group(1)}")
            continue
        dom = chromium("--dump-dom", "--virtual-time-budget=3000", page.as_uri()).stdout
        if "<body" not in dom:
            problems.append(f"{page.name}: Chromium rendered nothing")
            continue
        p = _Links()
        p.feed(dom)
        if p.errors or re.search(r"Traceback \(most recent call last\)", dom):
            problems.append(f"{page.relative_to(HTML)}: an executed cell shows an error")
        for src in p.imgs:
            f = _local(page, src)
            if f is not None and not f.is_file():
                problems.append(f"{page.relative_to(HTML)}: missing image {src}")
        for href in p.links:
            f = _local(page, href)
            if f is not None and not f.exists():
                problems.append(f"{page.relative_to(HTML)}: broken link {href}")
    assert not problems, "\n".join(problems)


def test_screenshots_of_the_landing_page_and_the_results(all_pages):
    SHOTS.mkdir(parents=True, exist_ok=True)
    targets = {"landing.png": HTML / "index.html", "results.png": HTML / "book" / "executed" / "04_results.html"}
    for name, page in targets.items():
        assert page.is_file(), page
        out = SHOTS / name
        out.unlink(missing_ok=True)
        chromium(f"--screenshot={out}", "--window-size=1280,1600", "--virtual-time-budget=5000", page.as_uri())
        assert out.is_file() and out.stat().st_size > 10_000, f"no screenshot of {page}"


def test_the_book_has_every_chapter(all_pages):
    names = {p.relative_to(HTML).as_posix() for p in all_pages}
    for need in ("index.html", "book/data.html", "book/executed/01_data_preparation.html", "book/executed/02_training.html",
                 "book/executed/03_near_limb_analysis.html", "book/executed/05_explanations.html", "book/executed/04_results.html",
                 "book/api.html", "book/bibliography.html"):
        assert need in names, f"{need} missing from the book"
