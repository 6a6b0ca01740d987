"""WeChat Pay v2 wire helpers: signatures, XML bodies and the refund notification's req_info.

Pure functions, no simulator state: the simulator uses them, and tests (or a shop-side test helper)
may import them to forge, replay or check messages. Rules are wechat-protocol.md §4.1 and §3.9.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from collections.abc import Mapping
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SIGN_TYPE_MD5 = "MD5"
SIGN_TYPE_HMAC_SHA256 = "HMAC-SHA256"
SIGN_TYPES = (SIGN_TYPE_MD5, SIGN_TYPE_HMAC_SHA256)
NONCE_ALPHABET = string.ascii_letters + string.digits


class PayXmlError(ValueError):
    """The body is not a flat <xml> (or <root>) document."""


def nonce_str(length: int = 32) -> str:
    return "".join(secrets.choice(NONCE_ALPHABET) for _ in range(length))


def sign_string(params: Mapping[str, Any], api_key: str) -> str:
    """`k1=v1&k2=v2…&key=API_KEY`: sorted keys, `sign` and empty values left out, nothing escaped.

    Only None and "" count as empty. wechatpy also drops an int 0, but on the wire every value is a
    string and WeChat keeps "0", so a shop must not send int 0 fields (§4.1).
    """
    pairs = [
        f"{key}={params[key]}"
        for key in sorted(params)
        if key != "sign" and params[key] is not None and params[key] != ""
    ]
    return "&".join([*pairs, f"key={api_key}"])


def sign(params: Mapping[str, Any], api_key: str, sign_type: str = SIGN_TYPE_MD5) -> str:
    """WeChat Pay v2 signature: uppercase hex MD5, or HMAC-SHA256 keyed with the API key."""
    text = sign_string(params, api_key).encode()
    if sign_type == SIGN_TYPE_MD5:
        return hashlib.md5(text).hexdigest().upper()
    if sign_type == SIGN_TYPE_HMAC_SHA256:
        return hmac.new(api_key.encode(), text, hashlib.sha256).hexdigest().upper()
    raise ValueError(f"unknown sign_type {sign_type!r}")


def signature_is_valid(params: Mapping[str, Any], api_key: str) -> bool:
    """Check `params["sign"]` with the algorithm its `sign_type` names (MD5 when absent)."""
    given = params.get("sign")
    sign_type = params.get("sign_type") or SIGN_TYPE_MD5
    if not isinstance(given, str) or sign_type not in SIGN_TYPES:
        return False
    return hmac.compare_digest(given, sign(params, api_key, sign_type))


def signed(params: Mapping[str, Any], api_key: str) -> dict[str, str]:
    """`params` as strings (None dropped) with an MD5 `sign` appended, ready for to_xml()."""
    body = {key: str(value) for key, value in params.items() if value is not None}
    body.pop("sign", None)
    body["sign"] = sign(body, api_key)
    return body


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside one CDATA section: split it across two.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def to_xml(params: Mapping[str, Any], *, root: str = "xml") -> str:
    """One element per key in the given order; digit-only values bare, others in CDATA (like WeChat)."""
    parts = [f"<{root}>"]
    for key, value in params.items():
        if value is None:
            continue
        text = str(value)
        parts.append(f"<{key}>{text if text.isdigit() else _cdata(text)}</{key}>")
    parts.append(f"</{root}>")
    return "".join(parts)


def parse_xml(body: bytes | str, *, root: str = "xml") -> dict[str, str]:
    """Children of the root element as strings (empty elements as ""); raises PayXmlError."""
    if not body or not body.strip():
        raise PayXmlError("empty body")
    try:
        # Values are signed as sent, surrounding spaces included: do not let xmltodict strip them.
        document = xmltodict.parse(body, strip_whitespace=False)
    except (ExpatError, ValueError, TypeError) as exc:
        raise PayXmlError(str(exc)) from exc
    if not isinstance(document, dict) or list(document) != [root]:
        raise PayXmlError(f"root element must be <{root}>")
    children = document[root] or {}
    if isinstance(children, str) and not children.strip():
        children = {}
    if not isinstance(children, dict):
        raise PayXmlError(f"<{root}> must contain elements")
    if children.get("#text", "").strip():
        raise PayXmlError(f"text outside elements in <{root}>")
    children.pop("#text", None)  # the line breaks between elements
    flat: dict[str, str] = {}
    for key, value in children.items():
        if value is not None and not isinstance(value, str):
            raise PayXmlError(f"<{key}> must be a text element")
        flat[key] = value or ""
    return flat


def notify_ack(*, is_success: bool = True, message: str = "OK") -> str:
    """The reply a shop gives to a notification; anything but SUCCESS makes WeChat retry."""
    return to_xml({"return_code": "SUCCESS" if is_success else "FAIL", "return_msg": message})


def notify_ack_is_success(body: bytes | str) -> bool:
    try:
        return parse_xml(body).get("return_code") == "SUCCESS"
    except PayXmlError:
        return False


# --- refund notification: req_info = base64(AES-256-ECB(PKCS#7(<root>…</root>))) ---


def refund_notify_key(api_key: str) -> bytes:
    """The AES-256 key: the lowercase hex MD5 of the API key, used as 32 ASCII bytes."""
    return hashlib.md5(api_key.encode()).hexdigest().encode()


def _refund_cipher(api_key: str) -> Cipher[Any]:
    # ECB is WeChat's choice for req_info, not ours (pay.weixin.qq.com chapter 9_16).
    return Cipher(algorithms.AES(refund_notify_key(api_key)), modes.ECB())  # noqa: S305


def encrypt_req_info(root_params: Mapping[str, Any], api_key: str) -> str:
    plaintext = to_xml(root_params, root="root").encode()
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = _refund_cipher(api_key).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def decrypt_req_info(req_info: str, api_key: str) -> dict[str, str]:
    """The `<root>` children of a refund notification; raises PayXmlError if it does not decrypt."""
    try:
        ciphertext = base64.b64decode(req_info, validate=True)
        decryptor = _refund_cipher(api_key).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
        plaintext = unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise PayXmlError(f"req_info does not decrypt: {exc}") from exc
    return parse_xml(plaintext, root="root")
