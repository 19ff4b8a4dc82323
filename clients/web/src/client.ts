// A small typed client for llm-gateway over any Connect-ES transport.
//
// The messages and service descriptors are generated from ../../proto into ./gen (see
// buf.gen.yaml); this module only adds what every caller would otherwise write again: one
// object for the four services, listing every endpoint across pages, folding a stream into the
// final text with its usage and serving provider, an API-key interceptor and readable errors.
//
// The transport decides the protocol, so the same client runs in a browser and in Node:
//   createGrpcWebTransport / createConnectTransport from "@connectrpc/connect-web" (browsers)
//   createGrpcWebTransport / createConnectTransport / createGrpcTransport from
//   "@connectrpc/connect-node" (Node >= 22)

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { CallOptions, Client, Interceptor, Transport } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";

import { ChatService } from "./gen/llmgateway/v1/chat_pb.ts";
import type {
  ChatChunk,
  ChatRequestSchema,
  ChatResponse,
  MessageSchema,
} from "./gen/llmgateway/v1/chat_pb.ts";
import type { Usage } from "./gen/llmgateway/v1/common_pb.ts";
import { CompletionsService } from "./gen/llmgateway/v1/completions_pb.ts";
import type {
  CompletionChunk,
  CompletionRequestSchema,
  CompletionResponse,
} from "./gen/llmgateway/v1/completions_pb.ts";
import { EmbeddingsService } from "./gen/llmgateway/v1/embeddings_pb.ts";
import type { EmbedRequestSchema, EmbedResponse } from "./gen/llmgateway/v1/embeddings_pb.ts";
import { EndpointsService } from "./gen/llmgateway/v1/endpoints_pb.ts";
import type { Endpoint } from "./gen/llmgateway/v1/endpoints_pb.ts";

export { Code, ConnectError };
export { ChatService, CompletionsService, EmbeddingsService, EndpointsService };
export type * from "./gen/llmgateway/v1/chat_pb.ts";
export type * from "./gen/llmgateway/v1/common_pb.ts";
export type * from "./gen/llmgateway/v1/completions_pb.ts";
export type * from "./gen/llmgateway/v1/embeddings_pb.ts";
export type * from "./gen/llmgateway/v1/endpoints_pb.ts";

/** A chat request as a plain object: `{ endpoint, messages: [{ role, content }], ... }`. */
export type ChatRequestInit = MessageInitShape<typeof ChatRequestSchema>;
/** One message of a conversation as a plain object: `{ role: "user", content: "Hi" }`. */
export type MessageInit = MessageInitShape<typeof MessageSchema>;
/** A completion request as a plain object: `{ endpoint, prompt, ... }`. */
export type CompletionRequestInit = MessageInitShape<typeof CompletionRequestSchema>;
/** An embeddings request as a plain object: `{ endpoint, texts: [...] }`. */
export type EmbedRequestInit = MessageInitShape<typeof EmbedRequestSchema>;

/** What a finished stream added up to. */
export interface StreamResult {
  /** The text of alternative 0, all deltas appended. */
  text: string;
  /** How many chunks arrived (usage-only chunks included). */
  chunks: number;
  /** Why alternative 0 stopped, when the stream said. */
  finishReason?: string;
  /** The usage of the whole call, from the final usage chunk, when one came. */
  usage?: Usage;
  /** The configured provider of the endpoint that served the call. */
  provider: string;
  /** The model, as the provider reported it. */
  model: string;
}

/** The gateway's services behind one object, over `transport`. */
export class GatewayClient {
  readonly chatService: Client<typeof ChatService>;
  readonly completionsService: Client<typeof CompletionsService>;
  readonly embeddingsService: Client<typeof EmbeddingsService>;
  readonly endpointsService: Client<typeof EndpointsService>;

  constructor(transport: Transport) {
    this.chatService = createClient(ChatService, transport);
    this.completionsService = createClient(CompletionsService, transport);
    this.embeddingsService = createClient(EmbeddingsService, transport);
    this.endpointsService = createClient(EndpointsService, transport);
  }

  /**
   * Every configured endpoint, in config order, following page tokens to the end; `pageSize`
   * endpoints per call (0: the gateway's default, 3000).
   */
  async listEndpoints(pageSize = 0, options?: CallOptions): Promise<Endpoint[]> {
    const all: Endpoint[] = [];
    let pageToken = "";
    do {
      const page = await this.endpointsService.listEndpoints({ pageToken, pageSize }, options);
      all.push(...page.endpoints);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return all;
  }

  /** One endpoint by name; `Code.NotFound` when there is none. */
  getEndpoint(name: string, options?: CallOptions): Promise<Endpoint> {
    return this.endpointsService.getEndpoint({ name }, options);
  }

  chat(request: ChatRequestInit, options?: CallOptions): Promise<ChatResponse> {
    return this.chatService.chat(request, options);
  }

  /** The chat as it is generated; usage comes in a final chunk unless `streamOptions` say no. */
  streamChat(request: ChatRequestInit, options?: CallOptions): AsyncIterable<ChatChunk> {
    return this.chatService.streamChat(withUsage(request), options);
  }

  complete(request: CompletionRequestInit, options?: CallOptions): Promise<CompletionResponse> {
    return this.completionsService.complete(request, options);
  }

  streamComplete(
    request: CompletionRequestInit,
    options?: CallOptions,
  ): AsyncIterable<CompletionChunk> {
    return this.completionsService.streamComplete(withUsage(request), options);
  }

  embed(request: EmbedRequestInit, options?: CallOptions): Promise<EmbedResponse> {
    return this.embeddingsService.embed(request, options);
  }
}

/** Asks for the final usage chunk unless the caller decided otherwise. */
function withUsage<R extends { streamOptions?: unknown }>(request: R): R {
  return request.streamOptions === undefined
    ? { ...request, streamOptions: { includeUsage: true } }
    : request;
}

/** Folds a chat stream into its text, usage and provider; `onChunk` sees each chunk first. */
export async function collectChat(
  stream: AsyncIterable<ChatChunk>,
  onChunk?: (chunk: ChatChunk, soFar: StreamResult) => void,
): Promise<StreamResult> {
  const result: StreamResult = { text: "", chunks: 0, provider: "", model: "" };
  for await (const chunk of stream) {
    result.chunks += 1;
    for (const choice of chunk.choices) {
      if (choice.index !== 0) continue;
      result.text += choice.delta?.content ?? "";
      if (choice.finishReason !== undefined) result.finishReason = choice.finishReason;
    }
    absorb(result, chunk);
    onChunk?.(chunk, result);
  }
  return result;
}

/** Folds a completion stream the same way as [`collectChat`]. */
export async function collectCompletion(
  stream: AsyncIterable<CompletionChunk>,
  onChunk?: (chunk: CompletionChunk, soFar: StreamResult) => void,
): Promise<StreamResult> {
  const result: StreamResult = { text: "", chunks: 0, provider: "", model: "" };
  for await (const chunk of stream) {
    result.chunks += 1;
    for (const choice of chunk.choices) {
      if (choice.index !== 0) continue;
      result.text += choice.text;
      if (choice.finishReason !== undefined) result.finishReason = choice.finishReason;
    }
    absorb(result, chunk);
    onChunk?.(chunk, result);
  }
  return result;
}

function absorb(result: StreamResult, chunk: ChatChunk | CompletionChunk): void {
  if (chunk.usage !== undefined) result.usage = chunk.usage;
  if (chunk.provider !== "") result.provider = chunk.provider;
  if (chunk.model !== "") result.model = chunk.model;
}

/**
 * An interceptor sending a gateway API key as `Authorization: Bearer KEY`; pass it in the
 * transport's `interceptors`. An empty key sends nothing.
 */
export function bearerAuth(apiKey: string): Interceptor {
  return (next) => (req) => {
    if (apiKey !== "") req.header.set("authorization", `Bearer ${apiKey}`);
    return next(req);
  };
}

/** "not_found: no endpoint named 'x'" for any error a call threw. */
export function describeError(err: unknown): string {
  const e = ConnectError.from(err);
  return `${codeName(e.code)}: ${e.rawMessage}`;
}

/** The protocol name of a code, as gRPC and Connect spell it ("not_found", "invalid_argument"). */
export function codeName(code: Code): string {
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}
