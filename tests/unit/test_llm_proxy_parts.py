"""The LLM proxy's pure parts: which provider a model goes to, reading usage from answers and streams,
and the OpenClaw provider config pointing at the platform's proxy."""

from __future__ import annotations

import json

from fly.agent.bridge.openclaw_config import managed_config
from shared.llm.providers import route_model
from shared.llm.usage import StreamMeter, from_json


def test_models_are_routed_by_their_prefix():
    assert route_model("openai", "gpt-4o") == ("openai", "gpt-4o")
    assert route_model("openai", "openai/gpt-4o") == ("openai", "gpt-4o")
    assert route_model("openai", "openrouter/meta/llama-3") == ("openrouter", "meta/llama-3")
    assert route_model("openai", "google/gemini-2.5-pro") == ("google", "gemini-2.5-pro")
    assert route_model("openai", "gemini-2.5-flash") == ("google", "gemini-2.5-flash")
    assert route_model("openai", "meta/llama-3") == ("openai", "meta/llama-3")
    assert route_model("anthropic", "anthropic/claude-haiku-4-5") == ("anthropic", "claude-haiku-4-5")


def _sse(*events: object, named: bool = False) -> bytes:
    out = b""
    for e in events:
        if named and isinstance(e, dict):
            out += f"event: {e['type']}\n".encode()
        out += b"data: " + (e.encode() if isinstance(e, str) else json.dumps(e).encode()) + b"\n\n"
    return out


def test_openai_stream_usage_is_read_across_chunk_boundaries():
    body = _sse({"id": "c1", "model": "gpt-4o", "choices": [{"delta": {"content": "Hi"}}]},
                {"id": "c1", "choices": [{"delta": {"content": " there"}}]},
                {"id": "c1", "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 2}}, "[DONE]")
    meter = StreamMeter("openai", "gpt-4o", estimated_input=99)
    for i in range(0, len(body), 7):  # bytes arrive in arbitrary pieces
        meter.feed(body[i:i + 7])
    u = meter.result()
    assert (u.response_id, u.input_tokens, u.output_tokens, u.reported) == ("c1", 11, 2, True)


def test_a_stream_cut_off_before_its_usage_counts_what_went_by():
    meter = StreamMeter("openai", "gpt-4o", estimated_input=40)
    meter.feed(_sse({"id": "c2", "choices": [{"delta": {"content": "a"}}]},
                    {"id": "c2", "choices": [{"delta": {"content": "b"}}]}))
    u = meter.result()
    assert (u.input_tokens, u.output_tokens, u.reported) == (40, 2, False)


def test_anthropic_stream_and_answer_usage():
    meter = StreamMeter("anthropic", "claude", estimated_input=1)
    meter.feed(_sse({"type": "message_start", "message": {"id": "msg_1", "model": "claude-x",
                                                          "usage": {"input_tokens": 20, "cache_read_input_tokens": 5,
                                                                    "output_tokens": 1}}},
                    {"type": "content_block_delta", "delta": {"text": "x"}},
                    {"type": "message_delta", "usage": {"output_tokens": 9}}, named=True))
    u = meter.result()
    assert (u.response_id, u.input_tokens, u.output_tokens, u.reported) == ("msg_1", 25, 9, True)
    whole = from_json("anthropic", json.dumps({"id": "msg_2", "usage": {"input_tokens": 3, "output_tokens": 4}}).encode(),
                      "m", 0)
    assert (whole.response_id, whole.input_tokens, whole.output_tokens) == ("msg_2", 3, 4)
    assert from_json("openai", b"not json", "m", 7).input_tokens == 7


def test_openclaw_uses_the_platform_proxy_when_provisioned(tmp_path):
    direct = managed_config(tmp_path, {"AGENT_LLM_BASE_URL": "http://127.0.0.1:9/v1"})
    assert direct["models"]["providers"]["platform"]["apiKey"] == "${AGENT_LLM_API_KEY}"
    proxied = managed_config(tmp_path, {"AGENT_LLM_BASE_URL": "http://127.0.0.1:9/v1", "AGENT_LLM_MODEL": "gpt-4o",
                                        "OPENAI_BASE_URL": "https://platform.example/llm/v1/"})
    provider = proxied["models"]["providers"]["platform"]
    assert provider["baseUrl"] == "https://platform.example/llm/v1" and provider["apiKey"] == "${OPENAI_API_KEY}"
    assert proxied["agents"]["defaults"]["model"]["primary"] == "platform/gpt-4o"
    assert "models" not in managed_config(tmp_path, {})
