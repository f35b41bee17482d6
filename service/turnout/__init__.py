"""turnout: an OpenAI-compatible semantic router for LLM traffic."""

from __future__ import annotations

__version__ = "0.1.0"
