"""Protobuf request bodies (placeholder; filled in by the protobuf step)."""

from __future__ import annotations

from typing import Any

__all__ = ["PROTOBUF", "ProtobufError", "decode_protobuf"]

PROTOBUF = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    """A protobuf body the fake cannot decode."""


def decode_protobuf(data: bytes) -> Any:
    """Decode a ``k8s\\x00``-framed protobuf body to its JSON form."""
    raise ProtobufError("protobuf bodies are not supported yet")
