"""Credentials out of text: every URL and error message that may hold a camera or Redis password goes through
:func:`redact` before it is logged or shown."""

from __future__ import annotations

import re

__all__ = ["redact"]

# scheme://user:password@host  or  scheme://:password@host  -> scheme://user:***@host
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_PASSWORD_KV = re.compile(r"(?i)\b(password|passwd|pwd|secret|token)=([^&\s]+)")


def redact(text: str) -> str:
    """Hide passwords in URLs (``rtsp://user:pass@`` -> ``rtsp://user:***@``) and ``password=`` pairs."""
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _PASSWORD_KV.sub(lambda m: f"{m.group(1)}=***", text)
