// Screenshots of the search page for the README: node screenshots.mjs BASE_URL OUT_DIR
// (scripts/screenshots.sh starts a server over the ingested corpus and calls this).
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { DESKTOP, NARROW, launch, watch } from "./lib.mjs";

const [base, out] = process.argv.slice(2);
if (!base || !out) {
  console.error("usage: node screenshots.mjs BASE_URL OUT_DIR");
  process.exit(2);
}
await mkdir(out, { recursive: true });
const query = "/?q=" + encodeURIComponent("How many A100 GPUs does ChatGPT need?") + "&lang=zh";

const browser = await launch();
const problems = [];
async function shot(name, viewport, path, act) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, locale: "en-GB" });
  const page = await context.newPage();
  const seen = watch(page);
  await page.goto(base + path);
  await page.locator(".hit").first().waitFor();
  if (act) await act(page);
  await page.screenshot({ path: join(out, name) });
  for (const [kind, list] of Object.entries(seen)) for (const x of list) problems.push(`${name}: ${kind}: ${x}`);
  await context.close();
  console.log(join(out, name));
}
const pairFirst = async (page) => {
  const hit = page.locator(".hit:has(.toggle-cp:not([hidden]))").first();
  await hit.locator(".toggle-cp").click();
  await hit.locator(".counterpart").waitFor();
  await hit.evaluate((el) => el.scrollIntoView({ block: "start" }));
  await page.evaluate(() => window.scrollBy(0, -12));
};
const scrollToCounterpart = async (page) => {
  await pairFirst(page);
  await page.locator(".hit.paired .counterpart").evaluate((el) => el.scrollIntoView({ block: "start" }));
  await page.evaluate(() => window.scrollBy(0, -80));
};
await shot("desktop-results.png", DESKTOP, query);
await shot("desktop-counterpart.png", DESKTOP, query, pairFirst);
await shot("narrow-results.png", NARROW, query);
await shot("narrow-counterpart.png", NARROW, query, scrollToCounterpart);
await browser.close();
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
