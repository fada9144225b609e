// Browser scenarios for the search page, driven from tests/test_page_browser.py:
//   node e2e.mjs BASE_URL OUT.json SCENARIO...
// Each scenario drives a real page in headless Chromium and records what a reader would see
// (texts, languages, URLs, layout boxes); pytest asserts on those observations and compares
// them with the API. A scenario fails here too when the page never reaches the state it waits
// for. Everything the page logged as an error, every uncaught exception, failed request and
// HTTP error is recorded per scenario in ``seen``.
import { readFile, writeFile } from "node:fs/promises";
import { DESKTOP, NARROW, launch, watch } from "./lib.mjs";

const [base, out, ...wanted] = process.argv.slice(2);
if (!base || !out || !wanted.length) {
  console.error("usage: node e2e.mjs BASE_URL OUT.json SCENARIO...");
  process.exit(2);
}
const READ_KEY = process.env.REPORTRAG_E2E_READ_KEY || "";
const ADMIN_KEY = process.env.REPORTRAG_E2E_ADMIN_KEY || "";
const UPLOAD_PDF = process.env.REPORTRAG_E2E_PDF || "";
const TIMEOUT = 30_000;

// The page is settled when it shows something other than "starting" or "loading".
async function settled(page) {
  await page.waitForFunction(
    () => !["starting", "loading"].includes(document.body.dataset.state),
    null,
    { timeout: TIMEOUT },
  );
  return page.evaluate(() => document.body.dataset.state);
}

async function expectState(page, want) {
  const got = await settled(page);
  if (got !== want) {
    const error = await page.locator("#error").textContent();
    throw new Error(`page state is ${got}, expected ${want} (error box: ${error.trim()})`);
  }
}

// What the results list shows, card by card.
function readHits(page) {
  return page.$$eval(".hit", (cards) =>
    cards.map((c) => ({
      chunk_id: c.dataset.chunkId,
      doc_id: c.dataset.docId,
      lang: c.dataset.lang,
      badge: c.querySelector(".lang-badge").textContent,
      title: c.querySelector(".hit-title").textContent,
      section: c.querySelector(".hit-section").textContent,
      score: c.querySelector(".score").textContent,
      text_lang: c.querySelector(".original .passage-text").lang,
      text: c.querySelector(".original .passage-text").innerText,
      marks: [...c.querySelectorAll(".original mark")].map((m) => m.textContent),
      // Anything but <p> and <mark> inside a passage would mean text became markup.
      foreign_nodes: [...c.querySelectorAll(".passage-text *")]
        .map((e) => e.tagName)
        .filter((t) => t !== "P" && t !== "MARK"),
      has_toggle: !c.querySelector(".toggle-cp").hidden,
      context_href: c.querySelector(".context-link").getAttribute("href"),
    })),
  );
}

function readControls(page) {
  return page.evaluate(() => ({
    q: document.getElementById("q").value,
    lang: document.querySelector("#lang-chips [aria-pressed=true]")?.dataset.lang ?? null,
    mode: document.querySelector("#modes [aria-pressed=true]")?.dataset.mode ?? null,
    modes: [...document.querySelectorAll("#modes button")].map((b) => b.dataset.mode),
    doc: document.getElementById("doc").value,
    section: document.getElementById("section").value,
    url: location.pathname + location.search,
  }));
}

function box(locator) {
  return locator.evaluate((el) => {
    const r = el.getBoundingClientRect();
    return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width };
  });
}

async function pairFirst(page) {
  const card = page.locator(".hit:has(.toggle-cp:not([hidden]))").first();
  const id = await card.getAttribute("data-chunk-id");
  const toggle = card.locator(".toggle-cp");
  const before = { pressed: await toggle.getAttribute("aria-pressed"), label: await toggle.textContent() };
  const hiddenBefore = await card.locator(".counterpart").isHidden();
  await toggle.click();
  await card.locator(".counterpart").waitFor({ state: "visible", timeout: TIMEOUT });
  const cp = card.locator(".counterpart");
  return {
    chunk_id: id,
    hidden_before: hiddenBefore,
    toggle_before: before,
    toggle_after: { pressed: await toggle.getAttribute("aria-pressed"), label: await toggle.textContent() },
    counterpart_lang: await cp.getAttribute("lang"),
    counterpart_text: await cp.locator(".passage-text").first().innerText(),
    counterpart_text_lang: await cp.locator(".passage-text").first().getAttribute("lang"),
    original_box: await box(card.locator(".original")),
    counterpart_box: await box(cp),
    card,
    toggle,
  };
}

const scenarios = {
  // Focus on load, the zh chip, Enter: Chinese passages for an English question.
  async zh_chip(page) {
    await page.goto(base + "/");
    await expectState(page, "intro");
    const focused = await page.evaluate(() => document.activeElement?.id);
    // Typing goes straight into the box (focus on load); Enter searches.
    await page.keyboard.type("How many A100 GPUs does ChatGPT need?");
    await page.keyboard.press("Enter");
    await expectState(page, "results");
    const all = await readHits(page);
    await page.locator('#lang-chips [data-lang="zh"]').click();
    await expectState(page, "results");
    return {
      focused_on_load: focused,
      hits_all: all,
      hits: await readHits(page),
      controls: await readControls(page),
      status: await page.locator("#status").textContent(),
    };
  },

  // The counterpart toggle puts the aligned passage beside the original, and takes it away.
  async counterpart(page) {
    const q = "Stability AI open-sourced Stable Diffusion";
    await page.goto(`${base}/?q=${encodeURIComponent(q)}&lang=en&doc=oss-report-2023-commercialization-en`);
    await expectState(page, "results");
    const p = await pairFirst(page);
    const paired = await p.card.evaluate((el) => el.classList.contains("paired"));
    await p.toggle.click();
    const hiddenAgain = await p.card.locator(".counterpart").isHidden();
    const { card, toggle, ...obs } = p;
    return { ...obs, paired_class: paired, hidden_after_second_click: hiddenAgain };
  },

  // A query over the server's limit: the API's error message is shown; the next search recovers.
  async error(page) {
    await page.goto(base + "/");
    await expectState(page, "intro");
    await page.locator("#q").fill("open source ".repeat(200));
    await page.locator("#q").press("Enter");
    await expectState(page, "error");
    const err = await page.evaluate(() => ({
      status: document.getElementById("error").dataset.status,
      code: document.getElementById("error").dataset.code,
      title: document.getElementById("error-title").textContent,
      message: document.getElementById("error-message").textContent,
      role: document.getElementById("error").getAttribute("role"),
      results_hidden: document.getElementById("results").hidden,
      loading_hidden: document.getElementById("loading").hidden,
    }));
    await page.locator("#q").fill("Stable Diffusion");
    await page.locator("#q").press("Enter");
    await expectState(page, "results");
    return {
      error: err,
      error_hidden_after_retry: await page.locator("#error").isHidden(),
      hits_after_retry: (await readHits(page)).length,
    };
  },

  // The loading indicator shows while the API has not answered (the answer is held back).
  async loading(page) {
    await page.goto(base + "/");
    await expectState(page, "intro");
    let release;
    const held = new Promise((r) => (release = r));
    await page.route("**/v1/search", async (route) => {
      await held;
      await route.continue();
    });
    await page.locator("#q").fill("open source licences");
    await page.locator("#q").press("Enter");
    const during = await page.evaluate(() => ({
      state: document.body.dataset.state,
      loading_visible: !document.getElementById("loading").hidden,
      busy: document.getElementById("results").getAttribute("aria-busy"),
      button_disabled: document.getElementById("search-button").disabled,
    }));
    release();
    await expectState(page, "results");
    const after = await page.evaluate(() => ({
      loading_visible: !document.getElementById("loading").hidden,
      busy: document.getElementById("results").getAttribute("aria-busy"),
      button_disabled: document.getElementById("search-button").disabled,
    }));
    return { during, after, hits: (await readHits(page)).length };
  },

  // Shared URLs restore the controls and run the search; searching writes the URL.
  async url_roundtrip(page) {
    // An example question on the intro is a link that searches in place.
    await page.goto(base + "/");
    await expectState(page, "intro");
    const example = page.locator("#examples a").first();
    const exampleHref = await example.getAttribute("href");
    await example.click();
    await expectState(page, "results");
    const fromExample = { href: exampleHref, controls: await readControls(page), hits: await readHits(page) };

    const q = "Stable Diffusion";
    await page.goto(`${base}/?q=${encodeURIComponent(q)}&lang=zh&mode=dense`);
    await expectState(page, "results");
    const opened = { controls: await readControls(page), hits: await readHits(page) };

    await page.locator('#lang-chips [data-lang="en"]').click();
    await expectState(page, "results");
    const chip = { controls: await readControls(page), hits: await readHits(page) };

    await page.locator("#q").fill("开源商业化");
    await page.keyboard.press("Enter");
    await expectState(page, "results");
    const typed = { controls: await readControls(page), hits: await readHits(page) };

    await page.goBack();
    await expectState(page, "results");
    const back = { controls: await readControls(page), hits: await readHits(page) };

    const doc = "oss-report-2023-commercialization-en";
    const section = "3. Open source security challenges";
    await page.goto(`${base}/?q=security&doc=${doc}&section=${encodeURIComponent(section)}`);
    await expectState(page, "results");
    const filtered = { controls: await readControls(page), hits: await readHits(page) };
    await page.locator("#section").selectOption("");
    await expectState(page, "results");
    const unfiltered = { controls: await readControls(page) };
    return { example: fromExample, opened, chip, typed, back, filtered, unfiltered };
  },

  // "Read in context" shows the passage between its neighbours; back returns to the results.
  async context(page) {
    const q = "Stability AI Stable Diffusion";
    await page.goto(`${base}/?q=${encodeURIComponent(q)}&lang=en`);
    await expectState(page, "results");
    const first = (await readHits(page))[0];
    await page.locator(".hit .context-link").first().click();
    await expectState(page, "context");
    const view = () =>
      page.evaluate(() => ({
        url: location.pathname + location.search,
        title: document.querySelector(".ctx-title").textContent,
        chunks: [...document.querySelectorAll(".ctx")].map((li) => ({
          chunk_id: li.dataset.chunkId,
          ordinal: Number(li.dataset.ordinal),
          role: li.classList.contains("focus") ? "focus" : li.classList.contains("before") ? "before" : "after",
          text: li.querySelector(".passage-text").innerText,
          lang: li.querySelector(".passage-text").lang,
        })),
        results_hidden: document.getElementById("results").hidden,
      }));
    const inContext = await view();
    await page.locator(".back-link").click();
    await expectState(page, "results");
    const backHits = await readHits(page);
    const backUrl = await page.evaluate(() => location.pathname + location.search);
    // The context view is a URL of its own: open it directly.
    await page.goto(base + first.context_href);
    await expectState(page, "context");
    const direct = await view();
    return { first, in_context: inContext, back_url: backUrl, back_hits: backHits.length, direct };
  },

  // Filters that match nothing: a clear empty state; clearing the filters finds passages.
  async empty(page) {
    const url = `${base}/?q=security&lang=de&doc=rise-of-open-source-llms&section=${encodeURIComponent("No such section")}`;
    await page.goto(url);
    await expectState(page, "empty");
    const shown = await page.evaluate(() => ({
      heading: document.querySelector("#empty h2").textContent,
      detail: document.getElementById("empty-detail").textContent,
      hits: document.querySelectorAll(".hit").length,
      results_hidden: document.getElementById("results").hidden,
      clear_visible: !document.getElementById("clear-filters").hidden,
    }));
    await page.locator("#clear-filters").click();
    await expectState(page, "results");
    return { shown, after_clear: { controls: await readControls(page), hits: (await readHits(page)).length } };
  },

  // Markup in the query is shown as text, never parsed (the empty state repeats the query).
  async untrusted_text(page) {
    const q = '<img src=x id=injected> <b id="bold">Stable</b> Diffusion';
    await page.goto(`${base}/?q=${encodeURIComponent(q)}&section=${encodeURIComponent("No such section")}`);
    await expectState(page, "empty");
    return page.evaluate(() => ({
      detail: document.getElementById("empty-detail").textContent,
      injected: document.querySelectorAll("#injected, #bold").length,
      q_value: document.getElementById("q").value,
    }));
  },

  // A phone-sized viewport: nothing sticks out sideways; the counterpart stacks below.
  async narrow(page) {
    await page.setViewportSize(NARROW);
    const q = "How many A100 GPUs does ChatGPT need?";
    await page.goto(`${base}/?q=${encodeURIComponent(q)}&lang=zh`);
    await expectState(page, "results");
    const p = await pairFirst(page);
    const layout = () => page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      const wide = [...document.querySelectorAll("body *")]
        .filter((el) => el.checkVisibility())
        .map((el) => [el, el.getBoundingClientRect()])
        .filter(([, r]) => r.right > width + 0.5 || r.left < -0.5)
        .map(([el, r]) => `${el.tagName}.${el.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
      return {
        viewport: width,
        scroll_width: document.documentElement.scrollWidth,
        body_scroll_width: document.body.scrollWidth,
        outside: wide.slice(0, 20),
      };
    });
    const closed = await layout();
    await page.locator("#key-panel summary").click();
    await page.locator("#key-input").waitFor({ state: "visible" });
    const keyOpen = await layout();
    const { card, toggle, ...obs } = p;
    return { ...obs, layout: closed, layout_key_open: keyOpen, hits: (await readHits(page)).length };
  },

  // Drop files on the page (a real drop event with a DataTransfer), watch each file's row go
  // from uploading to done (or failed), then find the PDF's passage with a metadata filter
  // in the URL and its page on the hit.
  async upload(page) {
    await page.goto(`${base}/`);
    await settled(page);
    await page.locator("#key-panel summary").click();
    await page.locator("#key-input").fill(ADMIN_KEY);
    await page.locator("#key-input").press("Enter");
    await settled(page);
    await page.locator("#upload-panel summary").click();
    await page.locator("#upload-meta").fill('{"team": "e2e", "year": 2024}');
    const pdf = [...(await readFile(UPLOAD_PDF))];
    const seen = [];
    // Each job that ends "done" makes the page read /v1/documents once more: count the reads
    // that finished, so the page is left only once the last one has (not in flight).
    let documentReads = 0;
    const isDocumentRead = (r) =>
      r.method() === "GET" && new URL(r.url()).pathname === "/v1/documents";
    page.on("requestfinished", (r) => { if (isDocumentRead(r)) documentReads += 1; });
    page.on("requestfailed", (r) => { if (isDocumentRead(r)) documentReads += 1; });
    await page.exposeFunction("noteState", (name, state) => seen.push([name, state]));
    await page.evaluate(() => {
      new MutationObserver((records) => {
        for (const r of records) {
          const li = r.target.closest && r.target.closest("li.upload");
          if (li) window.noteState(li.querySelector(".upload-name").textContent, li.dataset.state);
        }
      }).observe(document.getElementById("uploads"), {
        subtree: true, attributes: true, attributeFilter: ["data-state"], childList: true,
      });
    });
    await page.evaluate((bytes) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(bytes)], "report-excerpt.pdf", { type: "application/pdf" }));
      dt.items.add(new File(["# Tea\n\nGreen tea is steeped at eighty degrees.\n"], "tea.md"));
      dt.items.add(new File(["MZ"], "tool.exe"));
      const zone = document.getElementById("drop-zone");
      zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, pdf);
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll("#uploads li.upload")];
      return rows.length === 3 && rows.every((r) => ["done", "failed"].includes(r.dataset.state));
    }, null, { timeout: 240_000 });
    const rows = await page.$$eval("#uploads li.upload", (lis) => lis.map((li) => ({
      name: li.querySelector(".upload-name").textContent,
      state: li.dataset.state,
      text: li.querySelector(".upload-state").textContent,
      progress: li.querySelector("progress").value,
      doc: li.dataset.docId || "",
    })));
    // Each finished job refreshes the document list: wait for both before leaving the page.
    await page.waitForFunction(() => {
      const values = [...document.querySelectorAll("#doc option")].map((o) => o.value);
      return values.includes("report-excerpt") && values.includes("tea");
    });
    const done = rows.filter((r) => r.state === "done" && !r.text.startsWith("already")).length;
    for (const deadline = Date.now() + 30_000; documentReads < done;) {
      if (Date.now() > deadline) throw new Error(`${documentReads} of ${done} document reads`);
      await page.waitForTimeout(50);
    }
    const docOptions = await page.$$eval("#doc option", (os) => os.map((o) => o.value));
    const meta = JSON.stringify({ key: "team", op: "eq", value: "e2e" });
    const q = "Into which three layers is the technical architecture of LLMs divided?";
    await page.goto(`${base}/?q=${encodeURIComponent(q)}&meta=${encodeURIComponent(meta)}`);
    await expectState(page, "results");
    const hits = await page.$$eval("#results article.hit", (as) => as.map((a) => ({
      doc: a.dataset.docId,
      page: a.dataset.page || "",
      section: a.querySelector(".hit-section").textContent,
      meta: a.querySelector(".hit-meta").textContent,
    })));
    const chip = await page.locator("#meta-filter-text").textContent();
    await page.locator("#meta-clear").click();
    await expectState(page, "results");
    return { seen, rows, docOptions, hits, chip, url_after_clear: page.url() };
  },

  // A server with REPORTRAG_READ_API_KEY: a clear message, then the key from the key field.
  async read_key(page) {
    const q = "Stable Diffusion";
    await page.goto(`${base}/?q=${encodeURIComponent(q)}`);
    await expectState(page, "error");
    const refused = await page.evaluate(() => ({
      status: document.getElementById("error").dataset.status,
      title: document.getElementById("error-title").textContent,
      message: document.getElementById("error-message").textContent,
      panel_open: document.getElementById("key-panel").open,
      focused: document.activeElement?.id,
    }));
    await page.locator("#key-input").fill("not-the-key");
    await page.locator("#key-input").press("Enter");
    await expectState(page, "error");
    const wrong = await page.locator("#error-message").textContent();
    await page.locator("#key-input").fill(READ_KEY);
    await page.locator("#key-input").press("Enter");
    await expectState(page, "results");
    const hits = (await readHits(page)).length;
    await page.reload();
    await expectState(page, "results");
    return {
      refused,
      wrong_key_message: wrong,
      hits,
      hits_after_reload: (await readHits(page)).length,
      key_state: await page.locator("#key-state").textContent(),
    };
  },
};

const browser = await launch();
const results = {};
for (const name of wanted) {
  const fn = scenarios[name];
  if (!fn) {
    results[name] = { ok: false, error: `no scenario ${name}` };
    continue;
  }
  const context = await browser.newContext({ viewport: DESKTOP, locale: "en-GB" });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const seen = watch(page);
  const t0 = Date.now();
  try {
    results[name] = { ok: true, observed: await fn(page) };
  } catch (err) {
    results[name] = { ok: false, error: String(err && err.stack ? err.stack : err) };
  }
  await context.close();
  results[name].seen = seen;
  results[name].seconds = (Date.now() - t0) / 1000;
}
await browser.close();
await writeFile(out, JSON.stringify(results, null, 1));
