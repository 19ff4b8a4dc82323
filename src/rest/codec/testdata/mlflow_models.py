# Reconstruction of MLflow 3.x gateway request models (mlflow/types/chat.py + gateway/schemas) for
# verifying the Rust codec's 422 output. Reference only.
from __future__ import annotations
from typing import Annotated, Any, Literal
from pydantic import BaseModel, ConfigDict, Field

class RequestModel(BaseModel, extra="allow"):
    pass

class TextContentPart(BaseModel):
    type: Literal["text"]
    text: str

class ImageUrl(BaseModel):
    url: str
    detail: Literal["auto", "low", "high"] | None = None

class ImageContentPart(BaseModel):
    type: Literal["image_url"]
    image_url: ImageUrl

class InputAudio(BaseModel):
    data: str
    format: Literal["wav", "mp3"]

class AudioContentPart(BaseModel):
    type: Literal["input_audio"]
    input_audio: InputAudio

class SummaryText(BaseModel):
    type: Literal["summary_text"]
    text: str

class ReasoningContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["reasoning"]
    summary: list[SummaryText]

ContentPartsList = list[Annotated[TextContentPart | ImageContentPart | AudioContentPart | ReasoningContentPart, Field(discriminator="type")]]
ContentType = Annotated[str | ContentPartsList, Field(union_mode="left_to_right")]

class Function(BaseModel):
    name: str | None = None
    arguments: str | None = None

class ToolCall(BaseModel):
    id: str
    type: str = Field(default="function")
    function: Function
    thought_signature: str | None = Field(default=None)

class ChatMessage(BaseModel):
    role: str
    content: ContentType | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None
    tool_call_id: str | None = None

class FunctionToolDefinition(BaseModel):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None   # MLflow: FunctionParams (we forward unchanged)
    strict: bool | None = None

class JsonSchemaSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    schema_: dict[str, Any] = Field(..., alias="schema")
    strict: bool = True

class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None

class ToolChoiceFunction(BaseModel):
    name: str

class ToolChoice(BaseModel):
    type: Literal["function"]
    function: ToolChoiceFunction

class BaseRequestPayload(BaseModel):
    n: int = Field(1, ge=1)
    stop: list[str] | None = Field(None, min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None
    model: str | None = None
    response_format: ResponseFormat | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    top_k: int | None = Field(None, ge=1)

class UnityCatalogFunctionToolDefinition(RequestModel):
    name: str

class ChatToolWithUC(RequestModel):
    type: Literal["function", "uc_function"]
    function: FunctionToolDefinition | None = None
    uc_function: UnityCatalogFunctionToolDefinition | None = None

class ChatCompletionRequest(BaseRequestPayload):
    messages: list[ChatMessage] = Field(..., min_length=1)
    tools: list[ChatToolWithUC] | None = Field(None, min_length=1)
    tool_choice: Literal["none", "auto", "required"] | ToolChoice | None = None

class ChatPayload(ChatCompletionRequest, RequestModel):
    messages: list[ChatMessage] = Field(..., min_length=1)
    tools: list[ChatToolWithUC] | None = None

class CompletionsPayload(BaseRequestPayload, RequestModel):
    prompt: str

class EmbeddingsPayload(RequestModel):
    input: str | list[str] | list[int] | list[list[int]]
