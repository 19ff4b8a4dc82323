// The /playground page: pick an endpoint (ListEndpoints), chat with it (StreamChat) over
// grpc-web or Connect, watch the answer stream in, and see the usage and serving provider.
// Bundled by scripts/build.mjs into src/rest/playground/app.js, which the gateway embeds and
// serves same-origin (its Content-Security-Policy allows only 'self': no inline code here).

import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import type { Transport } from "@connectrpc/connect";

import { GatewayClient, bearerAuth, collectChat, describeError } from "../src/client.ts";
import type { Endpoint, MessageInit, StreamResult } from "../src/client.ts";

type TransportKind = "grpc-web" | "connect" | "connect-binary";

const TRANSPORT_LABELS: Record<TransportKind, string> = {
  "grpc-web": "grpc-web",
  connect: "Connect (JSON)",
  "connect-binary": "Connect (binary)",
};

function element<T extends HTMLElement>(id: string, type: { new (): T }): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`the page has no #${id}`);
  return el;
}

const ui = {
  form: element("chat-form", HTMLFormElement),
  endpoint: element("endpoint", HTMLSelectElement),
  endpointInfo: element("endpoint-info", HTMLElement),
  apiKey: element("api-key", HTMLInputElement),
  transcript: element("transcript", HTMLOListElement),
  message: element("message", HTMLTextAreaElement),
  send: element("send", HTMLButtonElement),
  stop: element("stop", HTMLButtonElement),
  clear: element("clear", HTMLButtonElement),
  status: element("status", HTMLElement),
  error: element("error", HTMLElement),
  details: element("details", HTMLElement),
};

/** The conversation so far, sent whole with every turn. */
let conversation: MessageInit[] = [];
let endpoints: Endpoint[] = [];
let running: AbortController | undefined;
/** Numbers the endpoint-list loads: only the latest one's answer is shown. */
let loads = 0;

function transportKind(): TransportKind {
  const checked = ui.form.querySelector<HTMLInputElement>('input[name="transport"]:checked');
  const value = checked?.value;
  return value === "connect" || value === "connect-binary" ? value : "grpc-web";
}

function client(kind: TransportKind): GatewayClient {
  const baseUrl = window.location.origin;
  const interceptors = [bearerAuth(ui.apiKey.value.trim())];
  let transport: Transport;
  if (kind === "grpc-web") {
    transport = createGrpcWebTransport({ baseUrl, interceptors });
  } else {
    transport = createConnectTransport({
      baseUrl,
      interceptors,
      useBinaryFormat: kind === "connect-binary",
      // ListEndpoints and GetEndpoint are side-effect free: Connect sends them as GET.
      useHttpGet: true,
    });
  }
  return new GatewayClient(transport);
}

function showError(message: string | undefined): void {
  ui.error.hidden = message === undefined;
  ui.error.textContent = message ?? "";
}

function setText(id: string, value: string | number | undefined): void {
  element(id, HTMLElement).textContent = value === undefined ? "not reported" : String(value);
}

async function loadEndpoints(): Promise<void> {
  const load = ++loads;
  const kind = transportKind();
  ui.endpoint.disabled = true;
  let listed: Endpoint[];
  try {
    listed = await client(kind).listEndpoints();
  } catch (err) {
    if (load !== loads) return;
    ui.endpoint.replaceChildren(new Option("(could not list endpoints)", ""));
    showError(`ListEndpoints failed: ${describeError(err)}`);
    return;
  }
  if (load !== loads) return;
  endpoints = listed;
  const previous = ui.endpoint.value;
  const options = endpoints.map((e) => {
    const model = e.model?.name ? `${e.model.provider}/${e.model.name}` : (e.model?.provider ?? "");
    const option = new Option(`${e.name} (${model})`, e.name);
    // Only chat endpoints can answer StreamChat.
    option.disabled = e.endpointType !== "llm/v1/chat";
    return option;
  });
  ui.endpoint.replaceChildren(...options);
  const usable = endpoints.filter((e) => e.endpointType === "llm/v1/chat");
  const keep = usable.find((e) => e.name === previous) ?? usable[0];
  if (keep === undefined) {
    ui.endpoint.prepend(new Option("(no chat endpoint configured)", ""));
    ui.endpoint.value = "";
  } else {
    ui.endpoint.value = keep.name;
  }
  ui.endpoint.disabled = usable.length === 0;
  // For tests and curious users: which load this is, over which transport.
  ui.endpoint.dataset["load"] = String(load);
  ui.endpoint.dataset["loadedVia"] = kind;
  describeEndpoint();
  showError(undefined);
}

function describeEndpoint(): void {
  const e = endpoints.find((x) => x.name === ui.endpoint.value);
  ui.endpointInfo.textContent =
    e === undefined
      ? ""
      : `${e.endpointType} · provider ${e.model?.provider ?? "?"}` +
        (e.model?.name ? ` · model ${e.model.name}` : "") +
        (e.limit ? ` · limit ${e.limit.calls} per ${e.limit.renewalPeriod}` : "");
}

function addTurn(role: string, text: string): HTMLLIElement {
  const li = document.createElement("li");
  li.className = role;
  li.dataset["role"] = role;
  li.textContent = text;
  ui.transcript.append(li);
  return li;
}

function showDetails(result: StreamResult, kind: TransportKind, ms: number): void {
  ui.details.hidden = false;
  setText("provider", result.provider || undefined);
  setText("model", result.model || undefined);
  setText("used-transport", TRANSPORT_LABELS[kind]);
  setText("finish-reason", result.finishReason);
  setText("chunks", result.chunks);
  setText("usage-prompt", result.usage?.promptTokens);
  setText("usage-completion", result.usage?.completionTokens);
  setText("usage-total", result.usage?.totalTokens);
  setText("elapsed", `${ms} ms`);
}

function busy(on: boolean): void {
  ui.send.disabled = on;
  ui.stop.disabled = !on;
  ui.clear.disabled = on;
  ui.form.dataset["state"] = on ? "streaming" : "idle";
}

async function send(): Promise<void> {
  const text = ui.message.value.trim();
  const endpoint = ui.endpoint.value;
  if (text === "" || endpoint === "" || running !== undefined) return;
  const kind = transportKind();
  showError(undefined);
  addTurn("user", text);
  const answer = addTurn("assistant", "");
  answer.classList.add("streaming");
  const request: MessageInit[] = [...conversation, { role: "user", content: text }];
  ui.message.value = "";
  running = new AbortController();
  busy(true);
  ui.status.textContent = `streaming over ${TRANSPORT_LABELS[kind]}…`;
  const started = performance.now();
  try {
    const stream = client(kind).streamChat(
      { endpoint, messages: request },
      { signal: running.signal },
    );
    const result = await collectChat(stream, (_chunk, soFar) => {
      answer.textContent = soFar.text;
    });
    const ms = Math.round(performance.now() - started);
    conversation = [...request, { role: "assistant", content: result.text }];
    showDetails(result, kind, ms);
    ui.status.textContent = `done: ${result.chunks} chunks in ${ms} ms`;
    ui.form.dataset["turns"] = String(conversation.length / 2);
  } catch (err) {
    if (running.signal.aborted) {
      // Stopped by the user: keep what arrived, as the assistant's turn.
      conversation = [...request, { role: "assistant", content: answer.textContent ?? "" }];
      ui.status.textContent = "stopped";
      ui.form.dataset["turns"] = String(conversation.length / 2);
      return;
    }
    answer.remove();
    ui.transcript.lastElementChild?.remove();
    ui.message.value = text;
    ui.status.textContent = "";
    showError(describeError(err));
  } finally {
    answer.classList.remove("streaming");
    running = undefined;
    busy(false);
  }
}

ui.form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  void send();
});
ui.message.addEventListener("keydown", (ev) => {
  // Enter sends, Shift+Enter starts a new line.
  if (ev.key === "Enter" && !ev.shiftKey) {
    ev.preventDefault();
    void send();
  }
});
ui.stop.addEventListener("click", () => running?.abort());
ui.clear.addEventListener("click", () => {
  conversation = [];
  ui.transcript.replaceChildren();
  ui.details.hidden = true;
  ui.status.textContent = "";
  delete ui.form.dataset["turns"];
  showError(undefined);
});
ui.endpoint.addEventListener("change", describeEndpoint);
ui.apiKey.addEventListener("change", () => void loadEndpoints());
// The list is fetched again over the chosen transport, so a transport that cannot reach the
// gateway shows at once.
for (const radio of ui.form.querySelectorAll<HTMLInputElement>('input[name="transport"]')) {
  radio.addEventListener("change", () => void loadEndpoints());
}

busy(false);
void loadEndpoints();
