"""An optional LLM rewrite of the executive summary, from a Databricks foundation-model serving endpoint.
Off by default; any failure (no credentials, timeout, an answer without the key numbers) returns the
template unchanged with a one-line note, so a summary is always produced."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

PROMPT = (
    "You write executive summaries for finance leaders. Rewrite the forecasting report below as a short "
    "markdown summary (at most 200 words, then the tables unchanged). Use only numbers that appear in the "
    "report; never invent or round differently. Say what needs action first."
)


class SummaryConfig(BaseModel):
    """Where an LLM summary comes from. Credentials come from the environment or a Databricks profile,
    never from these parameters."""

    llm_endpoint: str | None = Field(None, description="Databricks serving endpoint of a chat model, e.g. databricks-meta-llama-3-3-70b-instruct (empty: template only)")
    databricks_profile: str | None = None
    timeout_seconds: int = Field(30, ge=1, le=300)
    max_tokens: int = Field(600, ge=50, le=4000)


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:\.\d+)?%?", text))


def llm_rewrite(template: str, config: SummaryConfig) -> str:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config
    from databricks.sdk.service.serving import ChatMessage, ChatMessageRole

    kwargs = {"profile": config.databricks_profile} if config.databricks_profile else {}
    client = WorkspaceClient(config=Config(retry_timeout_seconds=config.timeout_seconds, http_timeout_seconds=config.timeout_seconds, **kwargs))
    response = client.serving_endpoints.query(
        config.llm_endpoint,
        messages=[ChatMessage(role=ChatMessageRole.SYSTEM, content=PROMPT), ChatMessage(role=ChatMessageRole.USER, content=template)],
        max_tokens=config.max_tokens,
        temperature=0.0,
    )
    text = (response.choices[0].message.content or "").strip() if response.choices else ""
    if not text:
        raise ValueError("the endpoint returned no text")
    invented = _numbers(text) - _numbers(template)
    if invented:
        raise ValueError(f"the answer has numbers the report does not: {sorted(invented)[:3]}")
    return text + "\n"


def executive_summary(template: str, config: SummaryConfig | None = None) -> tuple[str, str]:
    """The summary and where it came from (``template``, ``llm:<endpoint>`` or ``template (LLM failed: …)``)."""
    if config is None or not config.llm_endpoint:
        return template, "template"
    try:
        return llm_rewrite(template, config), f"llm:{config.llm_endpoint}"
    except Exception as exc:  # any LLM problem falls back to the template, and says so
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        return template + f"\n_(LLM summary unavailable — {reason}; template shown.)_\n", f"template (LLM failed: {reason})"
