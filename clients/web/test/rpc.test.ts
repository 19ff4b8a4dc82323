// Every RPC of the four services through the typed client (src/client.ts), against one live
// gateway in front of the recording mock upstream, over each transport the client supports:
// grpc-web, Connect with JSON and with binary Protobuf (GET for side-effect-free calls), and
// plain gRPC. Errors arrive as ConnectErrors with the right code and a readable message.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import type { Interceptor, Transport } from "@connectrpc/connect";

import {
  Code,
  ConnectError,
  GatewayClient,
  codeName,
  collectChat,
  collectCompletion,
  describeError,
} from "../src/client.ts";
import { ENDPOINTS, startGateway } from "./gateway.ts";
import type { Gateway, MockRequest } from "./gateway.ts";

interface TransportCase {
  name: string;
  make(baseUrl: string, interceptors: Interceptor[]): Transport;
  /** The request content type of this transport's unary and streaming calls. */
  contentType: RegExp;
}

const TRANSPORTS: TransportCase[] = [
  {
    name: "grpc-web (binary, HTTP/1.1)",
    make: (baseUrl, interceptors) =>
      createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors }),
    contentType: /^application\/grpc-web\+proto$/,
  },
  {
    name: "Connect (JSON, HTTP/1.1)",
    make: (baseUrl, interceptors) =>
      // connect-node defaults to binary; connect-web to JSON.
      createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors }),
    contentType: /^application\/(connect\+)?json$/,
  },
  {
    name: "Connect (binary, HTTP/2, GET for side-effect-free calls)",
    make: (baseUrl, interceptors) =>
      createConnectTransport({
        baseUrl,
        httpVersion: "2",
        useBinaryFormat: true,
        useHttpGet: true,
        interceptors,
      }),
    contentType: /^application\/(connect\+)?proto$/,
  },
  {
    name: "gRPC (HTTP/2)",
    make: (baseUrl, interceptors) => createGrpcTransport({ baseUrl, interceptors }),
    contentType: /^application\/grpc\+proto$/,
  },
];

interface UsageShape {
  promptTokens?: number | undefined;
  completionTokens?: number | undefined;
  totalTokens?: number | undefined;
}

function assertUsage(usage: UsageShape | undefined, what: string): void {
  assert.ok(usage !== undefined, `${what}: no usage`);
  assert.ok((usage.promptTokens ?? 0) > 0, `${what}: prompt tokens`);
  assert.ok((usage.completionTokens ?? 0) > 0, `${what}: completion tokens`);
  assert.equal(usage.totalTokens, (usage.promptTokens ?? 0) + (usage.completionTokens ?? 0));
}

async function rejection(call: () => Promise<unknown>): Promise<ConnectError> {
  try {
    await call();
  } catch (e) {
    assert.ok(e instanceof ConnectError, `not a ConnectError: ${String(e)}`);
    return e;
  }
  assert.fail("the call succeeded");
}

let gw: Gateway;
before(async () => {
  gw = await startGateway();
});
after(async () => {
  await gw?.stop();
});

/** The mock's requests whose JSON body mentions `marker`. */
async function upstreamCalls(marker: string): Promise<MockRequest[]> {
  return (await gw.mockRequests()).filter((r) => JSON.stringify(r.body).includes(marker));
}

for (const [i, tc] of TRANSPORTS.entries()) {
  describe(tc.name, () => {
    // The content type of every call, as the transport sends it.
    const contentTypes: string[] = [];
    const recordWire: Interceptor = (next) => (req) => {
      contentTypes.push(req.header.get("content-type") ?? "");
      return next(req);
    };
    after(() => {
      assert.ok(contentTypes.length >= 15, `${contentTypes.length} calls seen`);
      const other = contentTypes.filter((ct) => !tc.contentType.test(ct));
      assert.deepEqual(other, [], `${tc.name}: unexpected content types`);
    });
    let client: GatewayClient;
    before(() => {
      client = new GatewayClient(tc.make(gw.url, [recordWire]));
    });
    /** A text no other test sends, to find this call in the mock's log. */
    const marker = (what: string) => `web-client ${i} ${what} ${Date.now()}`;

    test("ListEndpoints lists the configured endpoints in config order", async () => {
      const endpoints = await client.listEndpoints();
      assert.deepEqual(
        endpoints.map((e) => [e.name, e.endpointType, e.model?.provider, e.model?.name]),
        ENDPOINTS.map((e) => [...e]),
      );
      // One endpoint per page: the client follows the page tokens to the same list.
      const first = await client.endpointsService.listEndpoints({ pageSize: 1 });
      assert.equal(first.endpoints.length, 1);
      assert.notEqual(first.nextPageToken, "");
      const paged = await client.listEndpoints(1);
      assert.deepEqual(
        paged.map((e) => e.name),
        endpoints.map((e) => e.name),
      );
    });

    test("GetEndpoint describes one endpoint", async () => {
      const e = await client.getEndpoint("completions");
      assert.equal(e.name, "completions");
      assert.equal(e.endpointType, "llm/v1/completions");
      assert.equal(e.model?.provider, "openai");
      assert.equal(e.model?.name, "gpt-3.5-turbo-instruct");
      assert.equal(e.endpointUrl, "/gateway/completions/invocations");
    });

    test("Chat answers with the upstream's message, usage and provider", async () => {
      const text = marker("chat");
      const r = await client.chat({
        endpoint: "chat",
        messages: [{ role: "user", content: text }],
        maxTokens: 16,
      });
      const sent = await upstreamCalls(text);
      assert.equal(sent.length, 1, "one upstream call");
      assert.equal(sent[0]?.path_and_query, "/v1/chat/completions");
      const body = sent[0]?.body as Record<string, unknown>;
      assert.equal(body["model"], "gpt-4o-mini");
      assert.equal(body["max_tokens"], 16);
      assert.equal(r.provider, "openai");
      assert.equal(r.choices.length, 1);
      assert.equal(r.choices[0]?.message?.role, "assistant");
      assert.equal(r.choices[0]?.message?.content, "Hello from mock");
      assert.equal(r.choices[0]?.finishReason, "stop");
      assertUsage(r.usage, "chat");
    });

    test("StreamChat streams the same answer in pieces, then usage", async () => {
      const text = marker("stream-chat");
      const unary = await client.chat({ endpoint: "chat", messages: [{ role: "user", content: text }] });
      const deltas: string[] = [];
      const r = await collectChat(
        client.streamChat({ endpoint: "chat", messages: [{ role: "user", content: text }] }),
        (chunk) => {
          for (const c of chunk.choices) if (c.delta?.content) deltas.push(c.delta.content);
        },
      );
      assert.ok(deltas.length > 1, `streamed in ${deltas.length} piece(s)`);
      assert.equal(r.text, unary.choices[0]?.message?.content);
      assert.equal(r.finishReason, "stop");
      assert.equal(r.provider, "openai");
      assertUsage(r.usage, "stream chat");
      const streamed = (await upstreamCalls(text)).filter(
        (c) => (c.body as Record<string, unknown>)["stream"] === true,
      );
      assert.equal(streamed.length, 1, "the upstream was asked to stream");
    });

    test("Complete answers with the upstream's text", async () => {
      const prompt = marker("complete");
      const r = await client.complete({ endpoint: "completions", prompt });
      const sent = await upstreamCalls(prompt);
      assert.equal(sent.length, 1);
      assert.equal(sent[0]?.path_and_query, "/v1/completions");
      assert.equal(r.provider, "openai");
      assert.equal(r.choices[0]?.text, "This is a test");
      assertUsage(r.usage, "complete");
    });

    test("StreamComplete streams the same text in pieces, then usage", async () => {
      const prompt = marker("stream-complete");
      const unary = await client.complete({ endpoint: "completions", prompt });
      const pieces: string[] = [];
      const r = await collectCompletion(
        client.streamComplete({ endpoint: "completions", prompt }),
        (chunk) => {
          for (const c of chunk.choices) if (c.text) pieces.push(c.text);
        },
      );
      assert.ok(pieces.length > 1, `streamed in ${pieces.length} piece(s)`);
      assert.equal(r.text, unary.choices[0]?.text);
      assert.equal(r.provider, "openai");
      assertUsage(r.usage, "stream complete");
    });

    test("Embed returns one vector per input, in input order", async () => {
      const a = marker("embed a");
      const b = marker("embed b");
      const r = await client.embed({ endpoint: "embeddings", texts: [a, b, a], dimensions: 4 });
      const sent = await upstreamCalls(a);
      assert.equal(sent.length, 1);
      assert.deepEqual((sent[0]?.body as Record<string, unknown>)["input"], [a, b, a]);
      assert.equal(r.provider, "openai");
      assert.equal(r.model, "text-embedding-3-small");
      assert.deepEqual(
        r.data.map((d) => d.index),
        [0, 1, 2],
      );
      for (const d of r.data) assert.equal(d.values.length, 4);
      // The mock derives each vector from its input: equal inputs, equal vectors.
      assert.deepEqual(r.data[0]?.values, r.data[2]?.values);
      assert.notDeepEqual(r.data[0]?.values, r.data[1]?.values);
      assert.ok((r.usage?.promptTokens ?? 0) > 0);
    });

    test("an unknown endpoint is NotFound, naming it", async () => {
      const calls: Array<[string, () => Promise<unknown>]> = [
        ["GetEndpoint", () => client.getEndpoint("no-such-endpoint")],
        [
          "Chat",
          () => client.chat({ endpoint: "no-such-endpoint", messages: [{ role: "user", content: "hi" }] }),
        ],
        [
          "StreamChat",
          () =>
            collectChat(
              client.streamChat({
                endpoint: "no-such-endpoint",
                messages: [{ role: "user", content: "hi" }],
              }),
            ),
        ],
        ["Complete", () => client.complete({ endpoint: "no-such-endpoint", prompt: "hi" })],
        ["Embed", () => client.embed({ endpoint: "no-such-endpoint", texts: ["hi"] })],
      ];
      for (const [rpc, call] of calls) {
        const e = await rejection(call);
        assert.equal(e.code, Code.NotFound, `${rpc}: ${describeError(e)}`);
        assert.match(e.rawMessage, /no-such-endpoint/, `${rpc}: ${e.rawMessage}`);
      }
    });

    test("an upstream's 400 is InvalidArgument with its message, for streams too", async () => {
      const request = { endpoint: "chat-bad", messages: [{ role: "user", content: "hi" }] };
      for (const call of [() => client.chat(request), () => collectChat(client.streamChat(request))]) {
        const e = await rejection(call);
        assert.equal(e.code, Code.InvalidArgument, describeError(e));
        assert.match(e.rawMessage, /upstream bad request/);
      }
    });

    test("an invalid request is InvalidArgument, saying what is wrong", async () => {
      const calls: Array<[string, () => Promise<unknown>]> = [
        ["Chat", () => client.chat({ endpoint: "chat", messages: [] })],
        ["StreamChat", () => collectChat(client.streamChat({ endpoint: "chat", messages: [] }))],
        // A chat request to an embeddings endpoint.
        [
          "Chat on embeddings",
          () => client.chat({ endpoint: "embeddings", messages: [{ role: "user", content: "hi" }] }),
        ],
        ["Embed", () => client.embed({ endpoint: "embeddings", texts: [] })],
      ];
      for (const [rpc, call] of calls) {
        const e = await rejection(call);
        assert.equal(e.code, Code.InvalidArgument, `${rpc}: ${describeError(e)}`);
        assert.ok(e.rawMessage.length > 10, `${rpc}: message ${JSON.stringify(e.rawMessage)}`);
        assert.equal(describeError(e), `${codeName(Code.InvalidArgument)}: ${e.rawMessage}`);
      }
    });
  });
}
