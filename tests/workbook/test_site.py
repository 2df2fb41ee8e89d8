"""The course website (`make site`, `course-api build-site`, course_api/workbook/website.py): its pages in course
order with the stored outputs, the solutions left out or folded, copy buttons and search, nothing loaded from another
site (checked in the files and in Chromium), a build that stops on a notebook's error output, and the Pages workflow.

Each site is built once per module into a temporary folder (a few seconds each), never into the repository's site/.
"""

from __future__ import annotations

import functools
import re
import shutil
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nbformat
import pytest
import yaml

from course_api.system import ports
from course_api.workbook.exercises import BEGIN, END, HINT
from course_api.workbook.website import Page, SiteError, build_site, fold_solutions, rewrite_links
from helpers import ROOT, answer_lines, guarded_page, page_assets

LESSON = "[0-9][0-9]_*.ipynb"
slow = pytest.mark.slow  # each site takes Sphinx a few seconds to build
# Sphinx 9 warns the themes and MyST about its next major version; that is theirs to change, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated. Check CHANGES for Sphinx API")


def build(tmp_path_factory: pytest.TempPathFactory, solutions: str) -> tuple[Path, list[Page]]:
    work = tmp_path_factory.mktemp(f"site-{solutions}")
    pages = build_site(ROOT, work / "site", solutions=solutions, work=work / "build")
    return work / "site", pages


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, list[Page]]:
    """The site as published: worksheets without their answers."""
    return build(tmp_path_factory, "omit")


@pytest.fixture(scope="module")
def folded_site(tmp_path_factory) -> tuple[Path, list[Page]]:
    return build(tmp_path_factory, "collapsed")


class PageText(HTMLParser):
    """A page's text (scripts and styles left out), the text inside its <details> blocks, and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.folded: list[str] = []
        self.open_details = 0
        self.links: list[str] = []
        self._details = 0
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "details":
            self._details += 1
            self.open_details += "open" in dict(attrs)
        elif tag in ("script", "style"):
            self._skip += 1
        elif tag == "a" and dict(attrs).get("href"):
            self.links.append(str(dict(attrs)["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "details":
            self._details -= 1
        elif tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)
            if self._details:
                self.folded.append(data)


def read_page(path: Path) -> PageText:
    parser = PageText()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def lesson_order() -> list[str]:
    """Every walkthrough and worksheet page, lesson by lesson: the walkthrough, then the worksheet."""
    names = [(p.name, 0, f"walkthroughs/{p.stem}") for p in (ROOT / "notebooks").glob(LESSON)]
    names += [(p.name, 1, f"worksheets/{p.stem}") for p in (ROOT / "exercises").glob(LESSON)]
    return [docname for *_, docname in sorted(names)]


# ------------------------------------------------------------------------------- pages and content
@slow
def test_every_page_is_there_in_course_order(site):
    folder, pages = site
    expected = ["index", *lesson_order(), "glossary", "model-card", "instructors"]
    assert [page.docname for page in pages] == expected
    for docname in expected:
        assert (folder / f"{docname}.html").is_file(), docname
    nav = re.search(r'<nav class="bd-links bd-docs-nav".*?</nav>', (folder / "index.html").read_text(), re.S)
    assert nav, "the home page has no navigation sidebar"
    linked = [href.removesuffix(".html") for href in re.findall(r'href="([^"#]+\.html)"', nav.group(0))]
    assert [name for name in linked if name != "index"] == expected[1:], "the sidebar is not in course order"


@slow
def test_stored_outputs_images_and_tables_are_kept(site):
    folder, _ = site
    for notebook in sorted((ROOT / "notebooks").glob(LESSON)):
        outputs = [o for c in nbformat.read(notebook, as_version=4).cells for o in c.get("outputs", [])]
        html = (folder / "walkthroughs" / f"{notebook.stem}.html").read_text(encoding="utf-8")
        cells_html = html.split('<div class="cell_output', 1)[-1]
        images = [o for o in outputs if "image/png" in o.get("data", {})]
        shown = re.findall(r'<img[^>]*src="(\.\./_images/[^"]+\.png)"', cells_html)
        assert len(shown) == len(images), f"{notebook.name}: {len(images)} image outputs, {len(shown)} shown"
        for source in shown:
            assert (folder / "walkthroughs" / source).read_bytes().startswith(b"\x89PNG"), source
        text = "".join(read_page(folder / "walkthroughs" / f"{notebook.stem}.html").text)
        for output in outputs:
            if output["output_type"] == "stream" and output["text"].strip():
                first_line = output["text"].strip().splitlines()[0].strip()
                assert first_line in text, f"{notebook.name}: the output {first_line!r} is not on its page"
    load_test = (folder / "walkthroughs" / "06_going_further.html").read_text(encoding="utf-8")
    table = re.search(r"<table[^>]*>(?:(?!</table>).)*<td><p>Aggregated</p></td>", load_test, re.S)
    assert table, "notebook 06's load-test table (a Markdown output) is not rendered as a table"
    home = (folder / "index.html").read_text(encoding="utf-8")
    for screenshot in ("docs.png", "playground.png"):  # the README's images, copied along
        assert f'src="_images/{screenshot}"' in home
        assert (folder / "_images" / screenshot).is_file()


@slow
def test_links_between_pages_resolve(site):
    folder, _ = site
    for html in sorted(folder.rglob("*.html")):
        if "_static" in html.parts:
            continue
        for href in read_page(html).links:
            target = href.split("#")[0].split("?")[0]
            if not target or urlsplit(href).scheme:
                continue
            assert (html.parent / target).exists(), f"{html.relative_to(folder)} links to {href}, which is not there"
    home = read_page(folder / "index.html")
    assert "instructors.html" in home.links, "the README's link to docs/CLASSROOM.md should lead to its page"


@slow
def test_worksheets_without_answers_by_default(site):
    folder, _ = site
    for solution in sorted((ROOT / "solutions").glob(LESSON)):
        lines = answer_lines(nbformat.read(solution, as_version=4), min_length=20)
        assert lines, solution.name
        page = read_page(folder / "worksheets" / f"{solution.stem}.html")
        download = (folder / "_sources" / "worksheets" / solution.name).read_text(encoding="utf-8")
        leaked = [line for line in lines if line in "".join(page.text) or line in download]
        assert not leaked, f"answers of {solution.name} are on its worksheet's page: {leaked}"
        assert "raise NotImplementedError(" in "".join(page.text)
    assert "<details" not in (folder / "worksheets" / "01_requests.html").read_text()


@slow
def test_collapsed_answers_are_folded_and_closed(folded_site):
    folder, _ = folded_site
    for solution in sorted((ROOT / "solutions").glob(LESSON)):
        page = read_page(folder / "worksheets" / f"{solution.stem}.html")
        folded = "".join(page.folded)
        missing = [
            line for line in answer_lines(nbformat.read(solution, as_version=4), min_length=20) if line not in folded
        ]
        assert not missing, f"{solution.name}: these answer lines are not inside a folded block: {missing}"
        assert page.open_details == 0, f"{solution.name}: an answer is shown unfolded"
        assert "Show the worked answer" in folded
        text = "".join(page.text)
        for marker in (BEGIN, END, HINT):
            assert marker not in text, f"{solution.name}: the marker {marker!r} is on the page"


@slow
def test_copy_buttons_and_search_come_with_the_site(site):
    folder, _ = site
    for asset in ("_static/copybutton.js", "_static/clipboard.min.js", "_static/searchtools.js", "searchindex.js"):
        assert (folder / asset).is_file(), asset
    assert "fastapi" in (folder / "searchindex.js").read_text(encoding="utf-8").lower()
    for html in ("index.html", "walkthroughs/03_fastapi.html", "search.html"):
        scripts = [a.split("?")[0] for a in page_assets((folder / html).read_text(encoding="utf-8"))]
        assert any(s.endswith("_static/copybutton.js") for s in scripts), html


# A page "loads" what these name; an <a href> to another site is only a link and stays allowed.
LOADING = {("script", "src"), ("img", "src"), ("iframe", "src"), ("source", "src"), ("video", "src"), ("audio", "src")}
LINK_LOADS = {"stylesheet", "icon", "preload", "modulepreload", "prefetch", "preconnect", "dns-prefetch", "manifest"}
CSS_URL = re.compile(r"""@import\s+(?:url\()?\s*['"]?([^'")\s;]+)|url\(\s*['"]?([^'")]+)""")
CDN_HOSTS = ("cdn.jsdelivr", "unpkg.com", "cdnjs.", "googleapis.com", "googletagmanager", "google-analytics", "mathjax")


class Loads(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.addresses: list[str] = []
        self.styles: list[str] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.addresses += [values[name] for t, name in LOADING if t == tag and values.get(name)]
        if tag == "link" and set(values.get("rel", "").lower().split()) & LINK_LOADS:
            self.addresses.append(values.get("href", ""))
        self.styles.append(values.get("style", ""))
        self._style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._style:
            self.styles.append(data)


def remote(address: str) -> bool:
    return address.strip().startswith("//") or urlsplit(address.strip()).scheme in ("http", "https")


@slow
def test_no_page_loads_anything_from_another_site(site):
    folder, _ = site
    found = []
    for path in sorted(folder.rglob("*")):
        where = path.relative_to(folder)
        if path.suffix == ".html":
            parser = Loads()
            parser.feed(path.read_text(encoding="utf-8"))
            found += [f"{where}: {a}" for a in parser.addresses if remote(a)]
            css = "\n".join(parser.styles)
            found += [f"{where} (style): {u}" for m in CSS_URL.finditer(css) for u in m.groups() if u and remote(u)]
            text = path.read_text(encoding="utf-8").lower()
            found += [f"{where}: names {h}" for h in ("mathjax", "require.min.js", "require.js") if h in text]
        elif path.suffix == ".css":
            css = path.read_text(encoding="utf-8")
            found += [f"{where}: {u}" for m in CSS_URL.finditer(css) for u in m.groups() if u and remote(u)]
        elif path.suffix in (".js", ".mjs"):
            script = path.read_text(encoding="utf-8", errors="replace").lower()
            found += [f"{where}: names {host}" for host in CDN_HOSTS if host in script]
    assert not found, "the site loads from other sites:\n" + "\n".join(found)


# ------------------------------------------------------------------------ the build and its sources
def tiny_course(root: Path, outputs: list) -> Path:
    """A course folder with one walkthrough whose second cell holds ``outputs``."""
    (root / "notebooks").mkdir(parents=True)
    (root / "exercises").mkdir()
    (root / "README.md").write_text("# A course\n", encoding="utf-8")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 01 · Broken"), nbformat.v4.new_code_cell("1 / 0", outputs=outputs)]
    nbformat.write(nb, root / "notebooks" / "01_broken.ipynb")
    return root


def test_a_notebook_with_an_error_output_stops_the_build(tmp_path):
    error = nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])
    root = tiny_course(tmp_path / "course", [error])
    with pytest.raises(SiteError) as raised:
        build_site(root, tmp_path / "site", work=tmp_path / "build")
    message = str(raised.value)
    assert "notebooks/01_broken.ipynb, cell 2 of 2: ZeroDivisionError: division by zero" in message
    assert not (tmp_path / "site").exists(), "nothing is built when a notebook holds an error"


def test_build_site_command_names_the_broken_notebook_and_fails(tmp_path, monkeypatch, capsys):
    from course_api.cli import main

    error = nbformat.v4.new_output("error", ename="NameError", evalue="name 'x' is not defined", traceback=[])
    monkeypatch.chdir(tiny_course(tmp_path / "course", [error]))
    assert main(["build-site", "--output", str(tmp_path / "site")]) == 1
    assert "notebooks/01_broken.ipynb, cell 2 of 2: NameError" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse refuses a mode that does not exist
        main(["build-site", "--solutions", "shown"])


def test_build_site_command_passes_its_options_and_says_where_the_site_is(tmp_path, monkeypatch, capsys):
    from course_api.cli import main
    from course_api.workbook import website

    calls = []

    def fake_build(root: Path, output: Path, *, solutions: str) -> list[Page]:
        calls.append((root, output, solutions))
        return [Page(Path("README.md"), "index.md")]

    monkeypatch.setattr(website, "build_site", fake_build)
    monkeypatch.chdir(tmp_path)
    assert main(["build-site"]) == 0
    assert main(["build-site", "--solutions", "collapsed", "--output", "public"]) == 0
    assert calls == [(tmp_path, Path("site"), "omit"), (tmp_path, Path("public"), "collapsed")]
    out = capsys.readouterr().out
    assert "site/index.html" in out
    assert "-m http.server 8080 --bind 127.0.0.1 -d site" in out


@pytest.mark.subprocess
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not on the PATH: course.py site is the same")
def test_make_site_runs_the_command_with_the_solutions_switch():
    import subprocess

    def dry_run(*args: str) -> str:
        result = subprocess.run(["make", "-n", "site", *args], cwd=ROOT, capture_output=True, text=True, check=True)
        return result.stdout

    assert re.search(r"course\.py\s+site\s*$", dry_run(), re.M)
    assert re.search(r"course\.py\s+site --solutions collapsed\s*$", dry_run("SOLUTIONS=collapsed"), re.M)
    import course

    assert course.COURSE_API["site"] == ["build-site"]  # and course.py site runs course-api build-site


def test_the_build_refuses_to_empty_a_folder_that_is_not_a_site(tmp_path):
    root = tiny_course(tmp_path / "course", [])
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(SiteError, match="holds no earlier site"):
        build_site(root, tmp_path / "mine", work=tmp_path / "build")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


@slow
def test_a_sphinx_warning_fails_the_build_and_keeps_the_earlier_site(tmp_path, capfd):
    root = tiny_course(tmp_path / "course", [])
    nb = nbformat.read(root / "notebooks" / "01_broken.ipynb", as_version=4)
    nb.cells[0].source += "\n\nSee [the missing page](missing.md)."
    nbformat.write(nb, root / "notebooks" / "01_broken.ipynb")
    earlier = tmp_path / "site"
    earlier.mkdir()
    (earlier / ".buildinfo").write_text("an earlier build")
    with pytest.raises(SiteError, match="Sphinx reported the warnings above"):
        build_site(root, earlier, work=tmp_path / "build")
    assert "missing.md" in capfd.readouterr().err, "Sphinx's warning is shown"
    assert (earlier / ".buildinfo").read_text() == "an earlier build"


def test_links_are_rewritten_for_the_site(tmp_path):
    root, source = tmp_path / "course", tmp_path / "src"
    (root / "docs" / "images").mkdir(parents=True)
    (root / "docs" / "images" / "shot.png").write_bytes(b"\x89PNG")
    text = (
        "See [the classroom](docs/CLASSROOM.md#binder), [docs/ARCHITECTURE.md](docs/ARCHITECTURE.md), "
        "[the setup](notebooks/00_setup.ipynb), [FastAPI](https://fastapi.tiangolo.com) and [below](#limits).\n"
        "![a shot](docs/images/shot.png)\n\n```markdown\n[kept](as/is.md)\n```\n"
    )
    targets = {"docs/CLASSROOM.md": "instructors.md", "notebooks/00_setup.ipynb": "walkthroughs/00_setup.ipynb"}
    out = rewrite_links(text, Page(Path("README.md"), "index.md"), targets, root, source)
    assert "[the classroom](instructors.md#binder)" in out
    assert "`docs/ARCHITECTURE.md`" in out, "a file that is not on the site becomes its name"
    assert "](docs/ARCHITECTURE.md)" not in out
    assert "[the setup](walkthroughs/00_setup.ipynb)" in out
    assert "[FastAPI](https://fastapi.tiangolo.com)" in out
    assert "[below](#limits)" in out
    assert "![a shot](docs/images/shot.png)" in out
    assert (source / "docs" / "images" / "shot.png").is_file(), "images are copied along"
    assert "[kept](as/is.md)" in out, "code blocks stay as they are"


def test_folding_strips_the_markers_and_tags_the_answer():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f"def f():\n    {BEGIN}\n    {HINT} add one\n    return 1\n    {END}"),
        nbformat.v4.new_code_cell('check("01.1")'),
        nbformat.v4.new_markdown_cell(f"Why?\n{BEGIN}\nBecause.\n{END}"),
    ]
    assert fold_solutions(nb) == 2
    answer, check, why = nb.cells
    assert answer.source == "def f():\n    return 1"
    assert "hide-cell" in answer.metadata["tags"]
    assert "tags" not in check.metadata
    assert why.source.startswith("Why?\n<details><summary>")
    assert why.source.endswith("Because.\n\n</details>")


def test_pages_workflow_builds_with_make_site_and_deploys_site():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in triggers
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert workflow["concurrency"]["group"] == "pages"
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    uses = [step.get("uses", "").split("@")[0] for step in steps]
    assert any("make site" in step.get("run", "") for step in steps)
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "site"
    for action in ("actions/checkout", "actions/configure-pages", "actions/deploy-pages"):
        assert action in uses, action


# --------------------------------------------------------------------------------------- Chromium
class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served_site(site) -> Iterator[str]:
    """The built site on a local HTTP server (stdlib http.server), as `python -m http.server -d site` serves it."""
    folder, _ = site
    server = ThreadingHTTPServer(
        (ports.LOOPBACK, ports.free_port()), functools.partial(QuietHandler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{ports.LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@slow
@pytest.mark.browser
def test_every_page_opens_in_chromium_and_asks_only_the_local_server(browser, site, served_site):
    _, pages = site
    paths = [f"{page.docname}.html" for page in pages] + ["search.html", "genindex.html"]
    local = urlsplit(served_site).netloc
    with guarded_page(browser) as (page, outside):
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        failed: list[str] = []

        def note_failure(response: Any) -> None:
            if response.status >= 400:
                failed.append(f"{response.status} {response.url}")

        page.on("response", note_failure)
        for path in paths:
            page.goto(f"{served_site}/{path}", wait_until="load")
            assert page.title(), path
        elsewhere = [url for url in requests if urlsplit(url).scheme not in ("data", "blob", "about")]
        elsewhere = [url for url in elsewhere if urlsplit(url).netloc != local]
        assert outside == [], f"requests beyond 127.0.0.1 (aborted): {outside}"
        assert elsewhere == [], f"requests beyond {served_site}: {elsewhere}"
        assert failed == [], f"requests that failed: {failed}"
        assert page.errors == [], page.errors
        assert page.console_errors == [], page.console_errors


@slow
@pytest.mark.browser
def test_search_finds_fastapi_and_code_cells_have_copy_buttons(browser, served_site):
    with guarded_page(browser) as (page, outside):
        page.goto(f"{served_site}/search.html?q=FastAPI")
        results = page.locator("#search-results ul.search li")
        results.first.wait_for(timeout=20_000)
        assert results.count() >= 3
        assert "03_fastapi.html" in page.locator("#search-results").inner_html()
        page.goto(f"{served_site}/walkthroughs/03_fastapi.html")
        buttons = page.locator("div.cell_input button.copybtn")
        buttons.first.wait_for(state="attached")
        assert buttons.count() == page.locator("div.cell_input div.highlight pre").count()
        assert page.locator("div.cell_output button.copybtn").count() == 0, "outputs need no copy button"
        assert outside == []
