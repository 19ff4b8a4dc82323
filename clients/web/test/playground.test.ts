// The /playground page end to end: served by a live gateway (embedded files, headers), then
// driven in headless Chromium (Debian's /usr/bin/chromium through playwright-core): it lists
// the endpoints, chats over grpc-web, Connect JSON and Connect binary, shows the answer as it
// streams from the mock upstream, with usage and the serving provider, and keeps the
// conversation. A screenshot is saved as a test artifact.
//
// Environment: CHROMIUM (default /usr/bin/chromium); PLAYGROUND_SCREENSHOT (default
// $CARGO_TARGET_DIR/artifacts/playground.png).

import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";
import type { BrowserContext, Page } from "playwright-core";

import { ENDPOINTS, startGateway } from "./gateway.ts";
import type { Gateway } from "./gateway.ts";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
// The page and its style are embedded from their sources; the script from its bundle.
const PAGE_SOURCES = join(REPO, "clients/web/playground");
const BUNDLE = join(REPO, "src/rest/playground");
const CHROMIUM = process.env["CHROMIUM"] || "/usr/bin/chromium";
const TARGET = process.env["CARGO_TARGET_DIR"] || join(homedir(), ".cache/llm-gateway/target");
const SCREENSHOT = process.env["PLAYGROUND_SCREENSHOT"] || join(TARGET, "artifacts/playground.png");
const TIMEOUT_MS = 15_000;

let gw: Gateway;
let profile: string;
let browser: BrowserContext;

before(async () => {
  gw = await startGateway();
  profile = await mkdtemp(join(tmpdir(), "llm-gateway-chromium-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    // Playwright adds --headless and --user-data-dir (the fresh profile above). Without the
    // background-networking flags Chromium keeps calling home over a network that is closed.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1000, height: 900 },
  });
});

after(async () => {
  await browser?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  await gw?.stop();
});

test("the page and its assets are the embedded files, with their headers", async () => {
  const assets: Array<[string, string, string]> = [
    ["/playground", join(PAGE_SOURCES, "index.html"), "text/html; charset=utf-8"],
    ["/playground/app.js", join(BUNDLE, "app.js"), "text/javascript; charset=utf-8"],
    ["/playground/style.css", join(PAGE_SOURCES, "style.css"), "text/css; charset=utf-8"],
  ];
  for (const [path, file, contentType] of assets) {
    const r = await fetch(gw.url + path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get("content-type"), contentType, path);
    assert.equal(r.headers.get("cache-control"), "no-cache", path);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff", path);
    const csp = r.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/, path);
    for (const directive of ["script-src", "style-src", "connect-src"]) {
      assert.match(csp, new RegExp(`${directive} 'self'(;|$)`), `${path}: ${csp}`);
    }
    const body = Buffer.from(await r.arrayBuffer());
    assert.ok(body.equals(await readFile(file)), `${path} is not ${file}`);
    // Revalidation: the ETag answers 304 without a body.
    const etag = r.headers.get("etag");
    assert.ok(etag, path);
    const again = await fetch(gw.url + path, { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304, path);
    assert.equal((await again.arrayBuffer()).byteLength, 0);
  }
  const slash = await fetch(`${gw.url}/playground/`, { redirect: "manual" });
  assert.equal(slash.status, 307);
  assert.equal(new URL(slash.headers.get("location") ?? "", gw.url).pathname, "/playground");
});

/** The calls the page made to the typed API: method, path, content type. */
interface ApiCall {
  method: string;
  path: string;
  contentType: string;
}

function watch(page: Page): { calls: ApiCall[]; problems: string[] } {
  const calls: ApiCall[] = [];
  const problems: string[] = [];
  page.on("request", (req) => {
    const url = new URL(req.url());
    if (url.pathname.startsWith("/llmgateway.v1.")) {
      calls.push({
        method: req.method(),
        path: url.pathname,
        contentType: req.headers()["content-type"] ?? "",
      });
    }
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (msg) => {
    // The browser's own favicon request is not the page's doing.
    if (msg.type() === "error" && !msg.location().url.endsWith("/favicon.ico")) {
      problems.push(`console: ${msg.text()}`);
    }
  });
  return { calls, problems };
}

async function chatTurn(
  page: Page,
  transport: string,
  text: string,
  turn: number,
): Promise<{ snapshots: string[] }> {
  await page.check(`#transport-${transport}`);
  // Switching the transport lists the endpoints again, over that transport.
  await page.waitForSelector(`#endpoint[data-loaded-via="${transport}"]:not([disabled])`, {
    timeout: TIMEOUT_MS,
  });
  // Every text the answer shows while it streams.
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { seen: string[] }).seen = seen;
    new MutationObserver(() => {
      const answer = document.querySelector("#transcript li.assistant.streaming");
      if (answer?.textContent) seen.push(answer.textContent);
    }).observe(document.getElementById("transcript") as Node, {
      childList: true,
      subtree: true,
      characterData: true,
    });
  });
  await page.fill("#message", text);
  await page.click("#send");
  await page.waitForSelector(`#chat-form[data-turns="${turn}"][data-state="idle"]`, {
    timeout: TIMEOUT_MS,
  });
  const snapshots = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
  return { snapshots };
}

test("the page lists the endpoints and chats over grpc-web and Connect", async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  const { calls, problems } = watch(page);
  await page.goto(`${gw.url}/playground`);
  await page.waitForSelector('#endpoint[data-loaded-via="grpc-web"]:not([disabled])', {
    timeout: TIMEOUT_MS,
  });

  // Every configured endpoint is listed, in config order; only chat endpoints can be picked.
  const options = await page.$$eval("#endpoint option", (os) =>
    os.map((o) => [(o as HTMLOptionElement).value, (o as HTMLOptionElement).disabled]),
  );
  assert.deepEqual(
    options,
    ENDPOINTS.map(([name, type]) => [name, type !== "llm/v1/chat"]),
  );
  assert.equal(await page.inputValue("#endpoint"), "chat");
  assert.match((await page.textContent("#endpoint-info")) ?? "", /llm\/v1\/chat.*openai.*gpt-4o-mini/);

  const turns: Array<[string, string, RegExp]> = [
    ["grpc-web", "grpc-web", /^application\/grpc-web\+proto$/],
    ["connect", "Connect (JSON)", /^application\/connect\+json$/],
    ["connect-binary", "Connect (binary)", /^application\/connect\+proto$/],
  ];
  for (const [i, [transport, label, contentType]] of turns.entries()) {
    const text = `Hello over ${label} (${Date.now()})`;
    const { snapshots } = await chatTurn(page, transport, text, i + 1);

    // The answer is the mock upstream's, built up piece by piece as it streamed.
    const answers = await page.$$eval("#transcript li.assistant", (li) => li.map((x) => x.textContent));
    const answer = answers[i];
    assert.equal(answers.length, i + 1);
    assert.equal(answer, "Hello from mock");
    assert.ok(snapshots.length > 1, `one update only: ${JSON.stringify(snapshots)}`);
    for (const s of snapshots) assert.ok(answer.startsWith(s), `${JSON.stringify(s)} is not a prefix`);
    assert.equal(snapshots.at(-1), answer);
    const questions = await page.$$eval("#transcript li.user", (li) => li.map((x) => x.textContent));
    assert.equal(questions.at(-1), text);

    // Usage and the serving provider, as the gateway reported them.
    assert.equal(await page.textContent("#provider"), "openai");
    assert.equal(await page.textContent("#model"), "gpt-4o-mini");
    assert.equal(await page.textContent("#used-transport"), label);
    assert.equal(await page.textContent("#finish-reason"), "stop");
    const tokens = await Promise.all(
      ["#usage-prompt", "#usage-completion", "#usage-total"].map(
        async (id) => Number(await page.textContent(id)),
      ),
    );
    assert.ok(tokens[0]! > 0 && tokens[1]! > 0, `usage ${tokens.join(", ")}`);
    assert.equal(tokens[2], tokens[0]! + tokens[1]!);
    assert.equal(await page.isHidden("#error"), true);

    // It went over the chosen protocol: ListEndpoints (as GET for Connect), then StreamChat.
    const stream = calls.filter((c) => c.path === "/llmgateway.v1.ChatService/StreamChat");
    assert.equal(stream.length, 1, JSON.stringify(calls));
    assert.equal(stream[0]?.method, "POST");
    assert.match(stream[0]?.contentType ?? "", contentType);
    const list = calls.filter((c) => c.path === "/llmgateway.v1.EndpointsService/ListEndpoints");
    assert.equal(list.length, 1, JSON.stringify(calls));
    assert.equal(list[0]?.method, transport === "grpc-web" ? "POST" : "GET");

    // The upstream got the whole conversation: earlier turns, then this message.
    const sent = (await gw.mockRequests()).filter((r) => JSON.stringify(r.body).includes(text));
    assert.equal(sent.length, 1);
    const body = sent[0]?.body as { stream?: boolean; messages?: Array<{ role: string; content: string }> };
    assert.equal(body.stream, true);
    assert.equal(body.messages?.length, 2 * i + 1);
    assert.deepEqual(body.messages?.at(-1), { role: "user", content: text });
    if (i > 0) assert.deepEqual(body.messages?.at(-2), { role: "assistant", content: "Hello from mock" });
    calls.length = 0;
  }

  await mkdir(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  console.log(`playground screenshot: ${SCREENSHOT}`);
  assert.deepEqual(problems, []);

  // A failing call: the error is shown with its code, the failed turn is taken back and its
  // message returned to the input, and the conversation so far is kept.
  await page.selectOption("#endpoint", "chat-bad");
  await page.fill("#message", "this one fails");
  await page.click("#send");
  await page.waitForSelector("#error:not([hidden])");
  await page.waitForSelector('#chat-form[data-state="idle"]');
  assert.match((await page.textContent("#error")) ?? "", /^invalid_argument: .*upstream bad request/);
  assert.equal(await page.inputValue("#message"), "this one fails");
  assert.equal(await page.locator("#transcript li").count(), 2 * turns.length);
  assert.equal(await page.getAttribute("#chat-form", "data-turns"), String(turns.length));
});

test("with API keys, the page sends the key it is given and shows refusals", async () => {
  const key = "web-test-key-0123456789abcdef";
  const locked = await startGateway(
    [
      "api_keys:",
      `  - {name: web, key: ${key}, endpoints: [offline]}`,
      "auth:",
      "  exempt_paths: [/health, /playground, /playground/app.js, /playground/style.css]",
      "",
    ].join("\n"),
  );
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  try {
    // Exempt: the page loads without a key, but its first call is refused, and says why.
    await page.goto(`${locked.url}/playground`);
    await page.waitForSelector("#error:not([hidden])");
    assert.match((await page.textContent("#error")) ?? "", /^ListEndpoints failed: unauthenticated: .+/);
    assert.equal(await page.isDisabled("#endpoint"), true);

    // With the key: the listing is the key's (only `offline`), and the chat goes through.
    await page.fill("#api-key", key);
    await page.press("#api-key", "Tab");
    await page.waitForSelector('#endpoint[data-load="2"]:not([disabled])');
    const names = await page.$$eval("#endpoint option", (os) => os.map((o) => (o as HTMLOptionElement).value));
    assert.deepEqual(names, ["offline"]);
    assert.equal(await page.isHidden("#error"), true);
    await page.check("#transport-connect");
    await page.waitForSelector('#endpoint[data-loaded-via="connect"]:not([disabled])');
    await page.fill("#message", "Hello with a key");
    await page.click("#send");
    await page.waitForSelector('#chat-form[data-turns="1"][data-state="idle"]');
    // The built-in offline `mock` provider answered: no upstream call.
    assert.equal(await page.textContent("#provider"), "mock");
    assert.ok(((await page.textContent("#transcript li.assistant")) ?? "").length > 0);
    assert.equal((await locked.mockRequests()).length, 0);
  } finally {
    await page.close();
    await locked.stop();
  }
});
