"""``course-api build-site`` (``make site``): the course as a static website, built with Sphinx and MyST-NB.

The pages, in course order: the README as the home page; for each lesson its walkthrough (``notebooks/``, with
the stored outputs: text, images and tables) and then its worksheet; then the model card and the instructors'
page (``docs/CLASSROOM.md``). The theme (sphinx-book-theme) gives the navigation sidebar, Sphinx its search
page (a local index, no service), sphinx-copybutton a copy button on every code cell.

Nothing is executed: the notebooks are rendered as stored, and the build stops, naming the notebook and the
cell, when one holds an error output. The solutions are left out (``omit``: the worksheets come from
``exercises/``) or folded (``collapsed``: they come from ``solutions/``, each answer cell closed in a
``<details>`` block that needs no JavaScript). The pages load nothing from another site: no fonts, MathJax,
widget scripts or analytics; the theme's launch and repository buttons stay off.

How: :func:`build_site` stages the sources into a build folder (``build/site/src``: the notebooks, the Markdown
pages with their links rewritten for the site, a generated ``conf.py``), runs Sphinx there with warnings as
errors, and copies the result to ``site/``.
"""

from __future__ import annotations

import posixpath
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from course_api.workbook.exercises import BEGIN, END, HINT

SOLUTION_MODES = ("omit", "collapsed")
LESSON = "[0-9][0-9]_*.ipynb"
# Pages after the lessons: (source in the course folder, page in the site).
REFERENCE_PAGES = (
    ("notebooks/glossary.md", "glossary.md"),
    ("course_api/weights/MODEL_CARD.md", "model-card.md"),
    ("docs/CLASSROOM.md", "instructors.md"),
)
FOLD_TAG = "hide-cell"  # MyST-NB renders the cell, source and output, inside a closed <details> block
SHOW_ANSWER = "Show the worked answer"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"  # needs widget scripts from a CDN: the text is shown
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#2563eb"/>'
    '<text x="16" y="21" font-family="sans-serif" font-size="12" font-weight="bold" text-anchor="middle" '
    'fill="#fff">API</text></svg>\n'
)
# Accessibility (WCAG 2.1 AA, checked with axe-core by tests/course/test_accessibility.py): the course's fixes to
# the theme.
# The search button in the sidebar: the theme names it "Search" (aria-label) while it shows "Search Ctrl+K", and a
# name must contain the words shown (speech users say what they see); without the label, its text is its name.
SEARCH_BUTTON = (
    '<button class="btn search-button-field search-button__button pst-js-only" title="{{ _(\'Search\') }}" '
    'data-bs-placement="bottom" data-bs-toggle="tooltip">\n <i class="fa-solid fa-magnifying-glass"></i>\n'
    " <span class=\"search-button__default-text\">{{ _('Search') }}</span>\n"
    ' <span class="search-button__kbd-shortcut"><kbd class="kbd-shortcut__modifier">Ctrl</kbd>+'
    '<kbd class="kbd-shortcut__modifier">K</kbd></span>\n</button>\n'
)
# MyST-NB names each folded cell "Toggle hidden content" while it shows "Show the worked answer": the same rule, so
# the site's own extension (setup() below) takes that label out, and the summary's text becomes its name.
MYST_NB_SUMMARY = ('<summary aria-label="Toggle hidden content">', "<summary>")
# In dark mode, a search result's highlighted word is a link's blue on the theme's dark yellow (2:1), and a link in
# an HTML output (a notebook's server.link()) the same blue on the light box the theme draws for outputs (2.2:1): the
# page's text colour on the yellow, a dark blue in the box.
COURSE_CSS = """/* The course's fixes to the theme (course_api/workbook/website.py). */
html[data-theme="dark"] span.highlighted { color: var(--pst-color-text-base); }
html[data-theme="dark"] .bd-content div.cell_output .text_html a { color: #1e40af; }
"""
LINK = re.compile(r"(!?)\[([^\]\n]*)\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)


class SiteError(RuntimeError):
    """The site cannot be built: a missing source, a notebook with an error output, Sphinx warnings."""


@dataclass(frozen=True)
class Page:
    source: Path  # in the course folder, e.g. notebooks/01_requests.ipynb
    target: str  # in the site's sources, e.g. walkthroughs/01_requests.ipynb (the page walkthroughs/01_requests.html)

    @property
    def docname(self) -> str:
        return posixpath.splitext(self.target)[0]


def site_pages(root: Path, solutions: str = "omit") -> list[Page]:
    """Every page of the site in course order: the README, each lesson's walkthrough then worksheet, the rest."""
    if solutions not in SOLUTION_MODES:
        raise ValueError(f"solutions must be one of {', '.join(SOLUTION_MODES)}, not {solutions!r}")
    for required in ("README.md", "notebooks"):
        if not (root / required).exists():
            raise SiteError(f"no {required} in {root}: run it from the course folder")
    worksheets = "exercises" if solutions == "omit" else "solutions"
    lessons: dict[str, list[Page]] = {}
    for folder, section in (("notebooks", "walkthroughs"), (worksheets, "worksheets")):
        for path in sorted((root / folder).glob(LESSON)):
            lessons.setdefault(path.name[:2], []).append(Page(Path(folder, path.name), f"{section}/{path.name}"))
    pages = [Page(Path("README.md"), "index.md")]
    for number in sorted(lessons):
        pages += lessons[number]
    pages += [Page(Path(source), target) for source, target in REFERENCE_PAGES if (root / source).is_file()]
    return pages


# ------------------------------------------------------------------------------------ error outputs
def error_outputs(path: Path, name: str) -> list[str]:
    """One line per error output stored in the notebook: its name, the cell (counted from 1) and the error."""
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as exc:
        return [f"{name}: cannot be read as a notebook ({exc})"]
    found = []
    for number, cell in enumerate(nb.cells, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                error = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip().rstrip(":")
                found.append(f"{name}, cell {number} of {len(nb.cells)}: {error}")
    return found


def check_outputs(root: Path, pages: list[Page]) -> None:
    """Raise :class:`SiteError` naming every notebook cell of the site that holds an error output."""
    notebooks = [page.source for page in pages if page.source.suffix == ".ipynb"]
    errors = [line for source in notebooks for line in error_outputs(root / source, source.as_posix())]
    if errors:
        advice = "fix the cell, run the notebook again and save it (or clear that output), then build again"
        raise SiteError(f"a notebook of the site holds an error output; {advice}:\n  " + "\n  ".join(errors))


# -------------------------------------------------------------------------------------- notebooks
def fold_solutions(nb: nbformat.NotebookNode) -> int:
    """Strip the solution marker lines and fold each answer: a code cell gets the tag that MyST-NB renders as a
    closed <details> block, a Markdown answer is wrapped in one. Returns how many cells were folded."""
    folded = 0
    for cell in nb.cells:
        lines = cell.source.splitlines()
        if not any(line.strip().startswith(BEGIN) for line in lines):
            continue
        folded += 1
        if cell.cell_type == "code":
            cell.source = "\n".join(line for line in lines if not line.strip().startswith((BEGIN, END, HINT)))
            tags = cell.metadata.setdefault("tags", [])
            if FOLD_TAG not in tags:
                tags.append(FOLD_TAG)
            continue
        out = []
        for line in lines:
            if line.strip().startswith(BEGIN):
                out += [f"<details><summary>{SHOW_ANSWER}</summary>", ""]
            elif line.strip().startswith(END):
                out += ["", "</details>"]
            elif not line.strip().startswith(HINT):
                out.append(line)
        cell.source = "\n".join(out)
    return folded


def stage_notebook(root: Path, page: Page, source: Path, targets: dict[str, str]) -> None:
    nb = nbformat.read(root / page.source, as_version=4)
    if page.source.parts[0] == "solutions":
        fold_solutions(nb)
    here = posixpath.dirname(page.target) or "."

    def to_page(match: re.Match[str]) -> str:  # a link to another page of the site (the glossary) points to it there
        bang, label, address = match.groups()
        path, _, anchor = address.partition("#")
        resolved = posixpath.normpath(posixpath.join(page.source.parent.as_posix(), path))
        if bang or not path or resolved not in targets:
            return match.group(0)  # anything else stays, and Sphinx warns about a broken one
        return f"[{label}]({posixpath.relpath(targets[resolved], here)}" + (f"#{anchor})" if anchor else ")")

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = LINK.sub(to_page, cell.source)
    nb.metadata.pop("widgets", None)  # the widgets' saved state: no widget scripts on the site
    nbformat.write(nb, source / page.target)


# ------------------------------------------------------------------------------------ Markdown pages
def rewrite_links(text: str, page: Page, targets: dict[str, str], root: Path, source: Path) -> str:
    """Links to other pages of the site point to them; images are copied along; a link to a file that is not
    on the site becomes its name as code (no broken links). Code blocks stay as they are."""
    here = posixpath.dirname(page.target) or "."

    def replace(match: re.Match[str]) -> str:
        bang, label, address = match.groups()
        if address.startswith("#") or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", address):
            return match.group(0)  # an anchor on the page, or another site (a link, not a load)
        path, _, anchor = address.partition("#")
        resolved = posixpath.normpath(posixpath.join(page.source.parent.as_posix(), path))
        if resolved in targets:
            link = posixpath.relpath(targets[resolved], here) + (f"#{anchor}" if anchor else "")
            return f"{bang}[{label}]({link})"
        if bang and not resolved.startswith("..") and (root / resolved).is_file():
            (source / resolved).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / resolved, source / resolved)
            return f"![{label}]({posixpath.relpath(resolved, here)})"
        return f"`{path}`" if label.strip("`") == path else f"{label} (`{path}`)"

    parts, start = [], 0
    for block in FENCE.finditer(text):
        parts += [LINK.sub(replace, text[start : block.start()]), block.group(0)]
        start = block.end()
    return "".join([*parts, LINK.sub(replace, text[start:])])


def toctrees(pages: list[Page]) -> str:
    """The site's navigation, added to the home page: the lessons in course order, then the reference pages."""
    lessons = [p.docname for p in pages if p.target.endswith(".ipynb")]
    reference = [p.docname for p in pages if p.target.endswith(".md") and p.docname != "index"]
    blocks = []
    for caption, names in (("Lessons", lessons), ("Reference", reference)):
        if names:
            blocks.append("```{toctree}\n:hidden:\n:caption: " + caption + "\n\n" + "\n".join(names) + "\n```\n")
    return "\n\n" + "\n".join(blocks)


# --------------------------------------------------------------------------------------- Sphinx
def sphinx_settings(solutions: str) -> dict[str, object]:
    """The settings written into the staged conf.py."""
    return {
        "project": "Creating APIs",
        "author": "the Creating APIs course",
        "extensions": ["myst_nb", "sphinx_copybutton", "sphinx.ext.githubpages", "course_api.workbook.website"],
        "html_theme": "sphinx_book_theme",
        "html_title": "Creating APIs",
        "html_theme_options": {
            "home_page_in_toc": True,
            "show_toc_level": 2,
            "use_download_button": True,
            "use_repository_button": False,
            "use_issues_button": False,
            "use_source_button": False,
            "use_edit_page_button": False,
            "launch_buttons": {},
            "analytics": {},
        },
        "html_context": {"default_mode": "auto"},  # light or dark as the system says (and no console error)
        "html_favicon": "favicon.svg",  # else browsers ask for /favicon.ico, which is not there
        "templates_path": ["_templates"],  # SEARCH_BUTTON replaces the theme's search-button-field.html
        "html_static_path": ["_static"],
        "html_css_files": ["course.css"],  # COURSE_CSS
        "html_sourcelink_suffix": "",  # the download button gives the notebook itself
        "myst_heading_anchors": 3,  # the README's links to its sections, the lessons' to the glossary's terms
        "myst_enable_extensions": [],  # no $...$ math: "$PORT" in a lesson is text, and no page needs MathJax
        "nb_execution_mode": "off",  # render the stored outputs; never run a notebook
        "nb_ipywidgets_js": {},
        "nb_mime_priority_overrides": [("html", WIDGET_VIEW, None)],
        "nb_render_markdown_format": "gfm",  # tables shown with IPython.display.Markdown
        "nb_code_prompt_show": SHOW_ANSWER if solutions == "collapsed" else "Show code cell {type}",
        "nb_code_prompt_hide": "Hide the worked answer" if solutions == "collapsed" else "Hide code cell {type}",
        # Copy buttons on code (the cells' inputs and the pages' code blocks), not on outputs.
        "copybutton_selector": "div:not(.output) > div.highlight pre",
    }


def setup(app: Any) -> dict[str, bool]:
    """The site's own Sphinx extension (listed in its ``extensions``): MYST_NB_SUMMARY on every page."""

    def name_folds_by_their_text(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
        if "body" in context:
            context["body"] = context["body"].replace(*MYST_NB_SUMMARY)

    app.connect("html-page-context", name_folds_by_their_text)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def stage(root: Path, pages: list[Page], source: Path, solutions: str) -> None:
    """Write the site's sources into ``source``: pages, images and conf.py."""
    targets = {page.source.as_posix(): page.target for page in pages}
    for page in pages:
        (source / page.target).parent.mkdir(parents=True, exist_ok=True)
        if page.source.suffix == ".ipynb":
            stage_notebook(root, page, source, targets)
            continue
        text = rewrite_links((root / page.source).read_text(encoding="utf-8"), page, targets, root, source)
        if page.target == "index.md":
            text += toctrees(pages)
        (source / page.target).write_text(text, encoding="utf-8")
    (source / "favicon.svg").write_text(FAVICON, encoding="utf-8")
    (source / "_templates").mkdir(exist_ok=True)
    (source / "_templates" / "search-button-field.html").write_text(SEARCH_BUTTON, encoding="utf-8")
    (source / "_static").mkdir(exist_ok=True)
    (source / "_static" / "course.css").write_text(COURSE_CSS, encoding="utf-8")
    settings = sphinx_settings(solutions)
    conf = "\n".join(f"{name} = {value!r}" for name, value in settings.items())
    header = (
        "# Generated by course_api.workbook.website for `course-api build-site`: edit that module, not this file.\n"
    )
    (source / "conf.py").write_text(header + conf + "\n", encoding="utf-8")


def check_output(output: Path) -> None:
    """Refuse an output folder that holds something other than an earlier site (which the new one replaces)."""
    if output.exists() and any(output.iterdir()) and not (output / ".buildinfo").is_file():
        raise SiteError(f"{output} is not empty and holds no earlier site: choose another output folder")


def run_sphinx(work: Path, output: Path, *, strict: bool = True) -> None:
    """Build ``work/src`` into ``work/html`` (MyST-NB writes its files beside it, in ``work``), then copy the
    site to ``output``, replacing an earlier one there: a failed build leaves ``output`` as it was."""
    try:
        from sphinx.cmd.build import build_main
    except ImportError:
        raise SiteError("Sphinx is not installed: run `make site`, which installs the site extra") from None
    check_output(output)  # before the build: refuse at once to replace a folder that is not a site
    html = work / "html"
    arguments = ["-b", "html", "-q", "-E", "-d", str(work / "doctrees"), *(["-W", "--keep-going"] if strict else [])]
    if build_main([*arguments, str(work / "src"), str(html)]):
        copies = "index.md is README.md, walkthroughs/ notebooks/, worksheets/ exercises/ or solutions/"
        where = f"in the copies staged in {work / 'src'}: {copies}"
        raise SiteError(f"Sphinx reported the warnings above ({where}); the site was not written")
    if output.exists():
        shutil.rmtree(output)
    shutil.copytree(html, output)


def build_site(
    root: Path, output: Path, *, solutions: str = "omit", work: Path | None = None, strict: bool = True
) -> list[Page]:
    """Build the website of the course in ``root`` into ``output``; returns its pages in course order.

    ``work`` holds the staged sources and Sphinx's cache (default ``build/site``); ``strict`` turns Sphinx's
    warnings into errors. Raises :class:`SiteError` with what to do when the site cannot be built.
    """
    root = root.resolve()
    work = (work or root / "build" / "site").resolve()
    pages = site_pages(root, solutions)
    check_outputs(root, pages)
    if work.exists():
        shutil.rmtree(work)
    stage(root, pages, work / "src", solutions)
    run_sphinx(work, output.resolve(), strict=strict)
    return pages
