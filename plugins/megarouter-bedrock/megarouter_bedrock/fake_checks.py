"""What the fake Bedrock checks before answering, as Bedrock itself does.

Each check raises :class:`BedrockRefusal` carrying the error answer the real
service gives: the status, the ``x-amzn-ErrorType`` header and a
``{"message": ...}`` body.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from megarouter.testing.fake_http import FakeRequest, FakeResponse

JSON = dict[str, Any]

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
_CONVERSE_FIELDS = frozenset(
    {
        "messages",
        "system",
        "inferenceConfig",
        "toolConfig",
        "guardrailConfig",
        "additionalModelRequestFields",
        "additionalModelResponseFieldPaths",
        "promptVariables",
        "requestMetadata",
        "performanceConfig",
    }
)
_INFERENCE_FIELDS = frozenset({"maxTokens", "temperature", "topP", "stopSequences"})
_BLOCK_KINDS = frozenset(
    {
        "text",
        "image",
        "document",
        "video",
        "toolUse",
        "toolResult",
        "guardContent",
        "cachePoint",
        "reasoningContent",
    }
)
_IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})
_TITAN_DIMENSIONS = frozenset({256, 512, 1024})


class BedrockRefusal(Exception):
    """A request the real service would refuse; carries its error answer."""

    def __init__(self, response: FakeResponse) -> None:
        super().__init__(response.status)
        self.response = response


def aws_error_response(status: int, error_type: str, message: str) -> FakeResponse:
    """An AWS JSON-protocol error answer."""
    return FakeResponse(
        status,
        {"message": message},
        headers={
            "x-amzn-errortype": f"{error_type}:http://internal.amazon.com/coral/"
            "com.amazon.bedrock/",
        },
    )


def validation_error(message: str) -> BedrockRefusal:
    return BedrockRefusal(aws_error_response(400, "ValidationException", message))


def _signature_error(message: str) -> BedrockRefusal:
    return BedrockRefusal(aws_error_response(403, "InvalidSignatureException", message))


# --- SigV4 -----------------------------------------------------------------


def check_sigv4(
    request: FakeRequest,
    *,
    access_key: str,
    secret_key: str,
    session_token: str,
    region: str,
) -> None:
    """Check the request's SigV4 signature by computing it again."""
    authorization = request.headers.get("authorization")
    if authorization is None:
        raise BedrockRefusal(
            aws_error_response(
                403,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            )
        )
    match = _AUTHORIZATION.fullmatch(authorization)
    if match is None:
        raise BedrockRefusal(
            aws_error_response(
                403,
                "IncompleteSignatureException",
                "Authorization header requires 'Credential', 'SignedHeaders' and "
                "'Signature' parameters.",
            )
        )
    if match["key"] != access_key:
        raise BedrockRefusal(
            aws_error_response(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        )
    if session_token and request.headers.get("x-amz-security-token") != session_token:
        raise BedrockRefusal(
            aws_error_response(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        )
    if match["service"] != "bedrock":
        raise _signature_error(
            "Credential should be scoped to correct service: 'bedrock'."
        )
    if match["region"] != region:
        raise _signature_error(
            f"Credential should be scoped to a valid region, not '{match['region']}'."
        )

    amz_date = request.headers.get("x-amz-date", "")
    signed = match["signed"].split(";")
    if not amz_date.startswith(match["date"]) or "x-amz-date" not in signed:
        raise _signature_error(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
            "of date from HTTP."
        )
    if "host" not in signed or any(name not in request.headers for name in signed):
        raise _signature_error("'Host' or a signed header is missing from the request.")

    expected = _signature(
        request, signed, amz_date, Credentials(access_key, secret_key), region
    )
    if expected != match["signature"]:
        raise _signature_error(
            "The request signature we calculated does not match the signature you "
            "provided. Check your AWS Secret Access Key and signing method. Consult "
            "the service documentation for details."
        )


def _signature(
    request: FakeRequest,
    signed: Sequence[str],
    amz_date: str,
    credentials: Credentials,
    region: str,
) -> str:
    """The signature of ``request`` over ``signed`` headers, as botocore computes it."""
    url = f"http://{request.headers['host']}{request.path}"
    aws_request = AWSRequest(
        method=request.method,
        url=url,
        data=request.body,
        headers={name: request.headers[name] for name in signed},
    )
    aws_request.context["timestamp"] = amz_date
    signer = SigV4Auth(credentials, "bedrock", region)
    canonical = signer.canonical_request(aws_request)
    return signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)


# --- Converse --------------------------------------------------------------


def check_converse(request: FakeRequest) -> JSON:
    """The Converse body, after the checks Bedrock makes."""
    body = _json_body(request)
    for name in body:
        if name not in _CONVERSE_FIELDS:
            raise validation_error(
                f"Malformed input request: extraneous key [{name}] is not permitted, "
                "please reformat your input and try again."
            )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise validation_error("The messages field is required and cannot be empty.")
    if messages[0].get("role") != "user":
        raise validation_error(
            "A conversation must start with a user message. Try again with a "
            "conversation that starts with a user message."
        )
    for index, message in enumerate(messages):
        if index and message.get("role") == messages[index - 1].get("role"):
            raise validation_error(
                "A conversation must alternate between user and assistant roles. "
                "Make sure the conversation alternates between user and assistant "
                "roles and try again."
            )
        _check_blocks(message.get("content"), f"messages.{index}.content")
    for block in body.get("system", []):
        if not str(block.get("text", "")).strip():
            raise validation_error("The text field in the system block is blank.")
    for name in body.get("inferenceConfig", {}):
        if name not in _INFERENCE_FIELDS:
            raise validation_error(
                f"Malformed input request: extraneous key [{name}] in inferenceConfig."
            )
    _check_tools(body, messages)
    return body


def _check_blocks(blocks: Any, where: str) -> None:
    """Check the content blocks of one message."""
    if not isinstance(blocks, list) or not blocks:
        raise validation_error(f"The content field in {where} is empty.")
    for index, block in enumerate(blocks):
        place = f"{where}.{index}"
        if len(block) != 1 or not _BLOCK_KINDS & set(block):
            raise validation_error(
                f"The ContentBlock object at {place} must set exactly one of the "
                "following keys: text, image, document, video, toolUse, toolResult."
            )
        if "text" in block and not str(block["text"]).strip():
            raise validation_error(
                f"The text field in the ContentBlock object at {place} is blank. "
                "Add text to the text field, and try again."
            )
        if "image" in block:
            _check_image(block["image"], place)
        if "toolUse" in block:
            use = block["toolUse"]
            if not (use.get("toolUseId") and use.get("name")) or not isinstance(
                use.get("input"), dict
            ):
                raise validation_error(f"The toolUse block at {place} is malformed.")
        if "toolResult" in block:
            result = block["toolResult"]
            content = result.get("content")
            if not result.get("toolUseId") or not isinstance(content, list):
                raise validation_error(f"The toolResult block at {place} is malformed.")


def _check_image(image: Mapping[str, Any], place: str) -> None:
    """Check an image block: a known format and base64 bytes or S3."""
    if image.get("format") not in _IMAGE_FORMATS:
        raise validation_error(f"The image format at {place} is not supported.")
    source = image.get("source", {})
    if "s3Location" in source:
        return
    try:
        base64.b64decode(source.get("bytes", ""), validate=True)
    except binascii.Error as exc:
        raise validation_error(
            f"Malformed input request: the image bytes at {place} are not base64."
        ) from exc


def _check_tools(body: Mapping[str, Any], messages: Sequence[JSON]) -> None:
    """Check toolConfig, and that tool blocks come with one."""
    uses_tools = any(
        "toolUse" in b or "toolResult" in b for m in messages for b in m["content"]
    )
    config = body.get("toolConfig")
    if config is None:
        if uses_tools:
            raise validation_error(
                "The toolConfig field must be defined when using toolUse and "
                "toolResult content blocks."
            )
        return
    tools = config.get("tools")
    if not isinstance(tools, list) or not tools:
        raise validation_error("The toolConfig.tools field must not be empty.")
    names = set()
    for tool in tools:
        spec = tool.get("toolSpec", {})
        if not spec.get("name") or not isinstance(
            spec.get("inputSchema", {}).get("json"), dict
        ):
            raise validation_error("Each toolSpec needs a name and inputSchema.json.")
        names.add(spec["name"])
    choice = config.get("toolChoice")
    if choice is not None:
        if len(choice) != 1 or not {"auto", "any", "tool"} & set(choice):
            raise validation_error(
                "toolChoice must set exactly one of auto, any, tool."
            )
        if "tool" in choice and choice["tool"].get("name") not in names:
            raise validation_error("The tool named in toolChoice is not in tools.")
    _check_results_answer_uses(messages)


def _check_results_answer_uses(messages: Sequence[JSON]) -> None:
    """Every toolResult answers a toolUse of the assistant turn just before."""
    for index, message in enumerate(messages):
        results = [
            b["toolResult"]["toolUseId"]
            for b in message["content"]
            if "toolResult" in b
        ]
        if not results:
            continue
        previous = messages[index - 1]["content"] if index else []
        uses = {b["toolUse"]["toolUseId"] for b in previous if "toolUse" in b}
        unknown = [r for r in results if r not in uses]
        if unknown:
            raise validation_error(
                f"The toolUseId {unknown[0]} in messages.{index} does not match a "
                "toolUse block in the previous turn."
            )


def prompt_words(body: Mapping[str, Any]) -> int:
    """Words of text in the prompt: the fake's stand-in for tokens."""
    blocks = [b for m in body["messages"] for b in m["content"]]
    blocks += list(body.get("system", []))
    return sum(len(str(b.get("text", "")).split()) for b in blocks)


# --- InvokeModel (Titan text embeddings) -----------------------------------


def check_titan(request: FakeRequest) -> tuple[str, int]:
    """The text and dimensions of a Titan text embeddings v2 request."""
    body = _json_body(request)
    extra = set(body) - {"inputText", "dimensions", "normalize", "embeddingTypes"}
    if extra:
        raise validation_error(
            f"Malformed input request: extraneous key [{sorted(extra)[0]}] is not "
            "permitted, please reformat your input and try again."
        )
    text = body.get("inputText")
    if not isinstance(text, str) or not text:
        raise validation_error(
            "Malformed input request: expected minLength: 1, actual: 0, please "
            "reformat your input and try again."
        )
    dimensions = body.get("dimensions", 1024)
    if dimensions not in _TITAN_DIMENSIONS:
        raise validation_error(
            f"Malformed input request: {dimensions} is not a valid enum value, please "
            "reformat your input and try again."
        )
    return text, int(dimensions)


def _json_body(request: FakeRequest) -> JSON:
    """The request body as a JSON object."""
    try:
        body = json.loads(request.body)
    except ValueError as exc:
        raise BedrockRefusal(
            aws_error_response(
                400,
                "SerializationException",
                "Could not parse the request body as JSON.",
            )
        ) from exc
    if not isinstance(body, dict):
        raise validation_error("Malformed input request: expected a JSON object.")
    return body


def example_for(schema: Mapping[str, Any]) -> Any:
    """A value that satisfies a simple JSON Schema (objects, arrays, scalars)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = str(schema.get("type", "object"))
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: example_for(sub) for name, sub in properties.items()}
    if kind == "array":
        return [example_for(schema.get("items", {"type": "string"}))]
    return {"string": "example", "integer": 1, "number": 1.5, "boolean": True}.get(kind)
