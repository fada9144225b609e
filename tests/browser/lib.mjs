// Shared by the browser scenarios and the screenshot script: launch Debian's Chromium through
// playwright-core (never a downloaded browser) and record what goes wrong on a page.
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.REPORTRAG_CHROMIUM || "/usr/bin/chromium";

// Offline-safe flags: no first-run, sync, component or background network traffic.
// playwright starts every launch with a fresh, empty profile directory of its own.
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export const DESKTOP = { width: 1280, height: 800 };
export const NARROW = { width: 390, height: 844 };

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

// Console errors, uncaught exceptions, failed requests and HTTP errors seen by ``page``.
export function watch(page) {
  const seen = { console: [], pageErrors: [], failedRequests: [], httpErrors: [] };
  page.on("console", (m) => {
    if (m.type() === "error") seen.console.push(m.text());
  });
  page.on("pageerror", (e) => seen.pageErrors.push(String(e)));
  page.on("requestfailed", (r) =>
    seen.failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`),
  );
  page.on("response", (r) => {
    if (r.status() >= 400) seen.httpErrors.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  return seen;
}
