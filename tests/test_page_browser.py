"""The search page in headless Chromium against a live ``reportrag serve`` (whole corpus).

The server is the real CLI entry point in its own process, on a free loopback port, over a
copy of the Milvus Lite data that ``lite_settings`` ingested (a copy because Milvus Lite holds
a lock on its folder while this test process has it open). tests/browser/e2e.mjs drives the
page with playwright-core and records what it shows; the assertions below check those
observations against the API's own answers.

Needs /usr/bin/chromium and tests/browser/node_modules (scripts/browser-setup.sh installs
both). Without them these tests skip, unless REPORTRAG_REQUIRE_BROWSER=1 (scripts/test.sh
sets it), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from reportrag.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REPO = Path(__file__).resolve().parent.parent
BROWSER_DIR = REPO / "tests" / "browser"
CHROMIUM = Path(os.environ.get("REPORTRAG_CHROMIUM", "/usr/bin/chromium"))
READ_KEY = "page-reader-key-42"
SCENARIOS = (
    "zh_chip",
    "counterpart",
    "error",
    "loading",
    "url_roundtrip",
    "context",
    "empty",
    "untrusted_text",
    "narrow",
)


def _need_browser() -> None:
    missing = [
        what
        for what, ok in (
            (str(CHROMIUM), CHROMIUM.exists()),
            ("node", shutil.which("node") is not None),
            ("playwright-core", (BROWSER_DIR / "node_modules" / "playwright-core").is_dir()),
        )
        if not ok
    ]
    if not missing:
        return
    msg = f"browser tests need {', '.join(missing)}: run scripts/browser-setup.sh"
    if os.environ.get("REPORTRAG_REQUIRE_BROWSER") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``reportrag serve`` in a subprocess, over its own copy of the ingested collection."""

    def __init__(self, settings: Settings, workdir: Path, read_key: str | None = None,
                 admin_key: str | None = None) -> None:
        self.workdir = workdir
        data = workdir / "data"
        shutil.copytree(
            Path(settings.data_dir) / "milvus.db",
            data / "milvus.db",
            ignore=shutil.ignore_patterns("LOCK"),
        )
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTRAG_")}
        env.update(
            REPORTRAG_DATA_DIR=str(data),
            REPORTRAG_CORPUS_DIR=str(settings.corpus_dir),
            REPORTRAG_MODEL=str(settings.model),
            REPORTRAG_THREADS="2",
            REPORTRAG_COLLECTION=settings.collection,
            HF_HUB_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
        )
        if read_key:
            env["REPORTRAG_READ_API_KEY"] = read_key
        if admin_key:
            env["REPORTRAG_API_KEY"] = admin_key
        self.log = workdir / "serve.log"
        reportrag = Path(sys.executable).with_name("reportrag")
        with self.log.open("wb") as log:
            # cwd: an empty folder, so no .env of the checkout leaks into the server.
            self.proc = subprocess.Popen(
                [str(reportrag), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"reportrag serve exited {self.proc.returncode}: {self.tail()}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"reportrag serve not ready after {timeout:.0f} s: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-2000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def api(
        self, method: str, path: str, *, json: dict | None = None, params: dict | None = None
    ) -> httpx.Response:
        return httpx.request(method, self.base + path, json=json, params=params, timeout=60)


@pytest.fixture(scope="session")
def browser_tools() -> None:
    """Chromium, node and playwright-core are there (checked before the corpus is ingested)."""
    _need_browser()


@pytest.fixture(scope="module")
def live(
    browser_tools: None, lite_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    server = LiveServer(lite_settings, tmp_path_factory.mktemp("live"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _run_scenarios(base: str, names: tuple[str, ...], out: Path, **env: str) -> dict:
    proc = subprocess.run(
        ["node", str(BROWSER_DIR / "e2e.mjs"), base, str(out), *names],
        cwd=BROWSER_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0 and out.exists(), f"node e2e.mjs failed:\n{proc.stderr[-3000:]}"
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runs(live: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every scenario, run once in one browser (a few seconds each)."""
    return _run_scenarios(live.base, SCENARIOS, tmp_path_factory.mktemp("e2e") / "out.json")


def _observed(runs: dict, name: str, base: str, allowed_http: tuple[str, ...] = ()) -> dict:
    """The scenario's observations, after checking that the browser saw nothing go wrong."""
    run = runs[name]
    assert run["ok"], run.get("error")
    seen = run["seen"]
    assert seen["pageErrors"] == [] and seen["failedRequests"] == []
    expected_http = [" ".join((*h.split()[:2], base + h.split()[2])) for h in allowed_http]
    assert sorted(seen["httpErrors"]) == sorted(expected_http)
    # Chromium logs each HTTP error answer as a console error; nothing else may be logged.
    statuses = sorted(h.split()[0] for h in allowed_http)
    logged = sorted(
        m.group(1) if (m := re.match(r"Failed to load resource: .* status of (\d{3})", c)) else c
        for c in seen["console"]
    )
    assert logged == statuses, seen["console"]
    return run["observed"]


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _squash(text: str) -> str:
    return "".join(text.split())


def _search(live: LiveServer, query: str, **filters: object) -> dict:
    body = {"query": query, "top_k": 10, "with_counterparts": True, "filters": filters}
    r = live.api("POST", "/v1/search", json=body)
    assert r.status_code == 200, r.text
    return r.json()


HAN = re.compile(r"[\u4e00-\u9fff]")


def test_english_question_with_the_zh_chip_shows_chinese_passages(
    runs: dict, live: LiveServer
) -> None:
    obs = _observed(runs, "zh_chip", live.base)
    query = "How many A100 GPUs does ChatGPT need?"
    assert obs["focused_on_load"] == "q"
    assert {h["lang"] for h in obs["hits_all"]} != {"zh"}  # the chip is what made it Chinese
    assert obs["controls"]["q"] == query and obs["controls"]["lang"] == "zh"
    assert _query(obs["controls"]["url"]) == {"q": query, "lang": "zh"}
    hits = obs["hits"]
    assert hits
    for h in hits:
        assert h["lang"] == h["badge"] == h["text_lang"] == "zh"
        assert HAN.search(h["text"]), h["chunk_id"]
        assert h["foreign_nodes"] == []
    api = _search(live, query, lang=["zh"])["hits"]
    assert [h["chunk_id"] for h in hits] == [h["chunk_id"] for h in api]
    assert [h["title"] for h in hits] == [h["title"] for h in api]
    assert [h["section"] for h in hits] == [h["section"] or "—" for h in api]
    assert hits[0]["score"] == f"score {api[0]['score']:.4f}"
    marks = [m for h in hits for m in h["marks"]]
    assert {"A100", "ChatGPT"} <= set(marks)
    assert all(m.lower() in query.lower() for m in marks)
    assert "crosslingual" in obs["status"]


def test_counterpart_toggle_places_the_aligned_passage_side_by_side(
    runs: dict, live: LiveServer
) -> None:
    obs = _observed(runs, "counterpart", live.base)
    assert obs["hidden_before"] is True
    assert obs["toggle_before"] == {"pressed": "false", "label": "Show in 中文"}
    assert obs["toggle_after"] == {"pressed": "true", "label": "Hide 中文"}
    assert obs["counterpart_lang"] == obs["counterpart_text_lang"] == "zh"
    api = live.api("GET", f"/v1/chunks/{obs['chunk_id']}/counterparts").json()["counterparts"]
    assert api and _squash(obs["counterpart_text"]) == _squash(api[0]["text"])
    left, right = obs["original_box"], obs["counterpart_box"]
    assert right["left"] >= left["right"] - 1  # beside it, not below
    assert abs(right["top"] - left["top"]) < 40
    assert min(left["width"], right["width"]) > 300
    assert obs["paired_class"] is True and obs["hidden_after_second_click"] is True


def test_a_query_over_the_limit_shows_the_apis_error_message(runs: dict, live: LiveServer) -> None:
    obs = _observed(runs, "error", live.base, allowed_http=("422 POST /v1/search",))
    r = live.api("POST", "/v1/search", json={"query": ("open source " * 200).strip()})
    assert r.status_code == 422
    expected = r.json()["error"]
    err = obs["error"]
    assert err["status"] == "422" and err["code"] == expected["code"]
    assert err["message"] == expected["message"] and "2000 characters" in err["message"]
    assert err["title"] == f"Error 422 · {expected['code']}" and err["role"] == "alert"
    assert err["results_hidden"] is True and err["loading_hidden"] is True
    assert obs["error_hidden_after_retry"] is True and obs["hits_after_retry"] > 0


def test_loading_indicator_shows_until_the_answer_arrives(runs: dict, live: LiveServer) -> None:
    obs = _observed(runs, "loading", live.base)
    assert obs["during"] == {
        "state": "loading",
        "loading_visible": True,
        "busy": "true",
        "button_disabled": True,
    }
    assert obs["after"] == {"loading_visible": False, "busy": "false", "button_disabled": False}
    assert obs["hits"] > 0


def test_urls_round_trip(runs: dict, live: LiveServer) -> None:
    obs = _observed(runs, "url_roundtrip", live.base)
    ready = live.api("GET", "/readyz").json()
    offered = [m for m in ("auto", "dense", "hybrid") if m in ready["modes"]]

    example = obs["example"]
    assert example["controls"]["url"] == example["href"]
    assert _query(example["href"])["q"] == example["controls"]["q"]
    langs = {h["lang"] for h in example["hits"]}
    assert example["hits"] and langs == {_query(example["href"])["lang"]}

    opened = obs["opened"]
    assert opened["controls"]["modes"] == offered
    shared = {"q": "Stable Diffusion", "lang": "zh", "mode": "dense"}
    assert {k: opened["controls"][k] for k in ("q", "lang", "mode")} == shared
    assert _query(opened["controls"]["url"]) == shared
    assert opened["hits"] and {h["lang"] for h in opened["hits"]} == {"zh"}

    chip = obs["chip"]
    assert _query(chip["controls"]["url"]) == {**shared, "lang": "en"}
    assert chip["hits"] and {h["lang"] for h in chip["hits"]} == {"en"}

    typed = obs["typed"]
    assert _query(typed["controls"]["url"]) == {"q": "开源商业化", "lang": "en", "mode": "dense"}
    assert typed["hits"] and {h["lang"] for h in typed["hits"]} == {"en"}
    assert typed["hits"] != chip["hits"]

    back = obs["back"]  # history.back() restores the box and the chip and searches again
    assert back["controls"]["q"] == "Stable Diffusion" and back["controls"]["lang"] == "en"
    assert [h["chunk_id"] for h in back["hits"]] == [h["chunk_id"] for h in chip["hits"]]

    doc, section = "oss-report-2023-commercialization-en", "3. Open source security challenges"
    filtered = obs["filtered"]
    assert filtered["controls"]["doc"] == doc and filtered["controls"]["section"] == section
    assert filtered["hits"]
    assert all(h["doc_id"] == doc and h["section"].startswith("3.") for h in filtered["hits"])
    assert _query(obs["unfiltered"]["controls"]["url"]) == {"q": "security", "doc": doc}


def test_context_link_shows_the_neighbouring_chunks(runs: dict, live: LiveServer) -> None:
    obs = _observed(runs, "context", live.base)
    first = obs["first"]
    view = obs["in_context"]
    assert _query(view["url"]) == {
        "q": "Stability AI Stable Diffusion", "lang": "en", "chunk": first["chunk_id"]
    }
    assert view["results_hidden"] is True
    api = live.api("GET", f"/v1/chunks/{first['chunk_id']}", params={"neighbors": 2}).json()
    expected = (
        [(c["chunk_id"], "before") for c in api["before"]]
        + [(api["chunk"]["chunk_id"], "focus")]
        + [(c["chunk_id"], "after") for c in api["after"]]
    )
    assert [(c["chunk_id"], c["role"]) for c in view["chunks"]] == expected
    assert len(expected) >= 3  # the passage and at least two neighbours
    ordinals = [c["ordinal"] for c in view["chunks"]]
    assert ordinals == sorted(ordinals)
    texts = {c["chunk_id"]: c["text"] for c in [*api["before"], api["chunk"], *api["after"]]}
    assert all(_squash(c["text"]) == _squash(texts[c["chunk_id"]]) for c in view["chunks"])
    assert "chunk" not in _query(obs["back_url"]) and obs["back_hits"] > 0
    assert obs["direct"]["chunks"] == view["chunks"]


def test_filters_that_match_nothing_show_the_empty_state(runs: dict, live: LiveServer) -> None:
    obs = _observed(runs, "empty", live.base)
    filters = {"lang": ["de"], "doc_id": ["rise-of-open-source-llms"], "section": "No such section"}
    assert _search(live, "security", **filters)["hits"] == []
    shown = obs["shown"]
    assert shown["heading"] == "No passages found"
    assert "security" in shown["detail"] and "No such section" in shown["detail"]
    assert shown["hits"] == 0 and shown["results_hidden"] is True and shown["clear_visible"]
    after = obs["after_clear"]
    assert _query(after["controls"]["url"]) == {"q": "security"} and after["hits"] > 0


def test_markup_in_the_query_stays_text(runs: dict, live: LiveServer) -> None:
    obs = _observed(runs, "untrusted_text", live.base)
    q = '<img src=x id=injected> <b id="bold">Stable</b> Diffusion'
    assert obs["injected"] == 0
    assert q in obs["detail"] and obs["q_value"] == q


def test_narrow_viewport_has_no_horizontal_overflow_and_stacks_the_pair(
    runs: dict, live: LiveServer
) -> None:
    obs = _observed(runs, "narrow", live.base)
    for layout in (obs["layout"], obs["layout_key_open"]):
        assert 350 <= layout["viewport"] <= 390
        assert layout["scroll_width"] <= layout["viewport"], layout
        assert layout["body_scroll_width"] <= layout["viewport"], layout
        assert layout["outside"] == []
    top, below = obs["original_box"], obs["counterpart_box"]
    assert below["top"] >= top["bottom"] - 1  # stacked under the original
    assert abs(below["left"] - top["left"]) < 2 and below["width"] > 300
    assert obs["counterpart_lang"] == "en"  # a Chinese hit, its English counterpart
    assert obs["hits"] > 0


@pytest.fixture(scope="module")
def keyed(
    browser_tools: None, lite_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    server = LiveServer(lite_settings, tmp_path_factory.mktemp("live-keyed"), read_key=READ_KEY)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_read_key_server_asks_for_the_key_and_the_page_uses_it(
    keyed: LiveServer, tmp_path: Path
) -> None:
    runs = _run_scenarios(
        keyed.base, ("read_key",), tmp_path / "out.json", REPORTRAG_E2E_READ_KEY=READ_KEY
    )
    obs = _observed(
        runs, "read_key", keyed.base,
        allowed_http=("401 GET /v1/documents", "401 GET /v1/documents"),
    )
    refused = obs["refused"]
    assert refused["status"] == "401" and refused["title"] == "An API key is needed"
    assert "requires a read key" in refused["message"]
    assert refused["panel_open"] is True and refused["focused"] == "key-input"
    assert "refused" in obs["wrong_key_message"]
    assert obs["hits"] > 0 and obs["hits_after_reload"] > 0  # the key stays for the tab
    assert obs["key_state"] == "· set"


ADMIN_KEY = "page-admin-key-7"
PDF = REPO / "tests" / "data" / "formats" / "report-excerpt.pdf"


@pytest.fixture(scope="module")
def admin(
    browser_tools: None, lite_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    server = LiveServer(lite_settings, tmp_path_factory.mktemp("live-admin"), admin_key=ADMIN_KEY)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_dropped_files_upload_with_progress_and_become_searchable(
    admin: LiveServer, tmp_path: Path
) -> None:
    runs = _run_scenarios(admin.base, ("upload",), tmp_path / "out.json",
                          REPORTRAG_E2E_ADMIN_KEY=ADMIN_KEY, REPORTRAG_E2E_PDF=str(PDF))
    obs = _observed(runs, "upload", admin.base)
    rows = {r["name"]: r for r in obs["rows"]}
    assert rows["report-excerpt.pdf"]["state"] == "done", rows
    assert rows["report-excerpt.pdf"]["text"].startswith("done · ")
    assert rows["report-excerpt.pdf"]["progress"] == 100
    assert rows["tea.md"]["state"] == "done" and rows["tea.md"]["doc"] == "tea"
    assert rows["tool.exe"]["state"] == "failed"
    assert "not a supported type" in rows["tool.exe"]["text"]
    # each file's row went through the upload and the job's states, in order
    pdf_states = [s for name, s in obs["seen"] if name == "report-excerpt.pdf"]
    assert pdf_states[0] == "uploading" and pdf_states[-1] == "done"
    assert "queued" in pdf_states or "parsing" in pdf_states or "embedding" in pdf_states
    assert {"report-excerpt", "tea"} <= set(obs["docOptions"])
    # the metadata filter in the URL: only the uploads carry team=e2e; the hit names its page
    assert obs["hits"] and {h["doc"] for h in obs["hits"]} <= {"report-excerpt", "tea"}
    top = obs["hits"][0]
    assert top["doc"] == "report-excerpt" and top["page"] == "3" and top["section"].endswith("p. 3")
    assert "team: e2e" in top["meta"] and "year: 2024" in top["meta"]
    assert '"team"' in obs["chip"]
    assert "meta=" not in obs["url_after_clear"]
