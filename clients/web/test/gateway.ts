// A live llm-gateway in front of the recording mock upstream, for the tests in this folder.
//
// The binaries come from LLM_GATEWAY_BIN / MOCK_UPSTREAM_BIN, else from
// $CARGO_TARGET_DIR/debug/ (default ~/.cache/llm-gateway/target/debug/); scripts/test.sh builds
// them first. Both listen on 127.0.0.1 only, on free ports. Readiness is observed, never
// assumed: the mock prints its URL once it listens, and the gateway is polled on /health.

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { access, constants, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const HEALTH_POLLS = 200;
const HEALTH_INTERVAL_MS = 50;
const BANNER_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

/** The configured endpoints, in config order: [name, type, provider, model]. */
export const ENDPOINTS: ReadonlyArray<readonly [string, string, string, string]> = [
  ["chat", "llm/v1/chat", "openai", "gpt-4o-mini"],
  ["completions", "llm/v1/completions", "openai", "gpt-3.5-turbo-instruct"],
  ["embeddings", "llm/v1/embeddings", "openai", "text-embedding-3-small"],
  // The mock upstream answers this model with a 400 "upstream bad request".
  ["chat-bad", "llm/v1/chat", "openai", "err400"],
  ["offline", "llm/v1/chat", "mock", "mock-model"],
];

/** A request the mock upstream received. */
export interface MockRequest {
  method: string;
  path_and_query: string;
  headers: Record<string, string>;
  body: unknown;
}

export interface Gateway {
  /** http://127.0.0.1:PORT */
  url: string;
  mockUrl: string;
  /** Everything the mock upstream recorded so far. */
  mockRequests(): Promise<MockRequest[]>;
  stop(): Promise<void>;
}

function targetDir(): string {
  return process.env["CARGO_TARGET_DIR"] || join(homedir(), ".cache", "llm-gateway", "target");
}

async function binary(envVar: string, name: string): Promise<string> {
  const path = process.env[envVar] || join(targetDir(), "debug", name);
  try {
    await access(path, constants.X_OK);
  } catch {
    throw new Error(`${name} not found at ${path}: run \`cargo build --bins\` (or set ${envVar})`);
  }
  return path;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port"))));
    });
  });
}

function config(mockUrl: string, extra: string): string {
  const lines = ["endpoints:"];
  for (const [name, type, provider, model] of ENDPOINTS) {
    const modelConfig =
      provider === "openai"
        ? `{openai_api_key: sk-test, openai_api_base: "${mockUrl}/v1"}`
        : "{}";
    lines.push(
      `  - name: ${name}`,
      `    endpoint_type: ${type}`,
      `    model: {provider: ${provider}, name: ${model}, config: ${modelConfig}}`,
    );
  }
  return lines.join("\n") + "\n" + extra;
}

/** The first stdout line of `child`: "listening on URL". */
function banner(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    if (child.stdout === null) return reject(new Error("no stdout"));
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => {
      lines.close();
      reject(new Error("mock-upstream did not announce its address in time"));
    }, BANNER_TIMEOUT_MS);
    lines.once("line", (line) => {
      clearTimeout(timer);
      lines.close();
      resolve(line);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`mock-upstream exited with ${code} before announcing its address`));
    });
  });
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

async function tail(path: string): Promise<string> {
  try {
    return (await readFile(path, "utf8")).slice(-4000) || "(empty)";
  } catch {
    return "(no output)";
  }
}

async function waitHealthy(child: ChildProcess, url: string, log: string): Promise<void> {
  let last = "no answer";
  for (let i = 0; i < HEALTH_POLLS; i++) {
    if (child.exitCode !== null) {
      throw new Error(`llm-gateway exited with ${child.exitCode}; output:\n${await tail(log)}`);
    }
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      const body = await r.text();
      if (r.status === 200 && body === '{"status":"OK"}') return;
      last = `${r.status} ${body}`;
    } catch (e) {
      last = String(e);
    }
    await new Promise((resolve) => setTimeout(resolve, HEALTH_INTERVAL_MS));
  }
  throw new Error(`llm-gateway not healthy at ${url}/health (last: ${last}); output:\n${await tail(log)}`);
}

/**
 * Starts the mock upstream and a gateway in front of it; `stop()` ends both. `extraConfig` is
 * appended to the config (top-level YAML keys such as `api_keys:`); /health must stay exempt.
 */
export async function startGateway(extraConfig = ""): Promise<Gateway> {
  const [gatewayBin, mockBin] = await Promise.all([
    binary("LLM_GATEWAY_BIN", "llm-gateway"),
    binary("MOCK_UPSTREAM_BIN", "mock-upstream"),
  ]);
  const work = await mkdtemp(join(tmpdir(), "llm-gateway-web-test-"));
  const env = { ...process.env, NO_COLOR: "1", RUST_LOG: process.env["RUST_LOG"] ?? "info" };
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(stopProcess));
    await rm(work, { recursive: true, force: true });
  };
  try {
    const mockLog = createWriteStream(join(work, "mock-upstream.log"));
    const mock = spawn(mockBin, ["--host", "127.0.0.1", "--port", "0", "--record"], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(mock);
    mock.stderr?.pipe(mockLog);
    const line = await banner(mock);
    const prefix = "listening on ";
    if (!line.startsWith(prefix)) throw new Error(`mock-upstream said ${JSON.stringify(line)}`);
    const mockUrl = line.slice(prefix.length).trim().replace(/\/$/, "");

    const configPath = join(work, "config.yaml");
    await writeFile(configPath, config(mockUrl, extraConfig));
    const port = await freePort();
    const gatewayLog = join(work, "llm-gateway.log");
    const out = createWriteStream(gatewayLog);
    const gateway = spawn(
      gatewayBin,
      ["start", "--config-path", configPath, "--host", "127.0.0.1", "--port", String(port)],
      { env, stdio: ["ignore", "pipe", "pipe"] },
    );
    children.push(gateway);
    gateway.stdout?.pipe(out);
    gateway.stderr?.pipe(out);
    const url = `http://127.0.0.1:${port}`;
    await waitHealthy(gateway, url, gatewayLog);
    return {
      url,
      mockUrl,
      async mockRequests() {
        const r = await fetch(`${mockUrl}/__mock/requests`);
        return (await r.json()) as MockRequest[];
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
