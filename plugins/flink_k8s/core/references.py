"""Where things live: container image references, URLs, storage URIs, jar URIs and paths.

Pure checkers in the style of `validation` (return the value or raise `Invalid(rule)`); every one
applies the general argv rule first, then the grammar named next to it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from flink_k8s.core.validation import Invalid, argv_safe

# --- container image ---
# Docker distribution reference grammar (github.com/distribution/reference, regexp.go).
_IMG_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IMG_DOMAIN = rf"(?:{_IMG_DOMAIN_COMPONENT}(?:\.{_IMG_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_IMG_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMG_NAME = rf"(?:{_IMG_DOMAIN}/)?{_IMG_PATH_COMPONENT}(?:/{_IMG_PATH_COMPONENT})*"
_IMG_TAG = r"[\w][\w.-]{0,127}"
_IMG_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_IMAGE = re.compile(rf"(?P<name>{_IMG_NAME})(?::(?P<tag>{_IMG_TAG}))?(?:@(?P<digest>{_IMG_DIGEST}))?", re.ASCII)
RELEASE_PLACEHOLDER = "{release}"
_RELEASE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
SAMPLE_RELEASE = "0"


def release(value: object) -> str:
    """A release label substituted into `{release}`: a Docker tag's character set."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 10**18:  # str() of a huge int is slow and may raise; no tag is that long
            raise Invalid("a numeric release must be between 0 and 10**18 - 1")
        value = str(value)
    text = argv_safe(value, max_len=128)
    if not _RELEASE.fullmatch(text):
        raise Invalid("release must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} (a Docker tag)")
    return text


def image_reference(value: object) -> str:
    """A concrete image reference (after `{release}` substitution)."""
    text = argv_safe(value, max_len=512)
    match = _IMAGE.fullmatch(text)
    if not match or len(match.group("name")) > 255:
        raise Invalid("not a valid image reference ([registry[:port]/]name[:tag][@digest], lowercase repository path)")
    return text


def image_template(value: object) -> str:
    """An image that may contain `{release}` (only that placeholder); checked with a sample release."""
    if not isinstance(value, str):
        raise Invalid(f"must be a string, got {type(value).__name__}")
    if value.count(RELEASE_PLACEHOLDER) > 1:
        raise Invalid("'{release}' may appear at most once")
    rest = value.replace(RELEASE_PLACEHOLDER, "")
    if "{" in rest or "}" in rest:
        raise Invalid("the only placeholder allowed is '{release}'")
    image_reference(value.replace(RELEASE_PLACEHOLDER, SAMPLE_RELEASE))
    return value


def substitute_release(template: str, release_value: str | None) -> str:
    """The concrete image for a release; both parts checked again (defense in depth)."""
    image_template(template)
    if RELEASE_PLACEHOLDER in template:
        if release_value is None:
            raise Invalid("the image contains '{release}': a release is required")
        return image_reference(template.replace(RELEASE_PLACEHOLDER, release(release_value)))
    return image_reference(template)


# --- URLs and URIs ---
_HOST = re.compile(rf"{_IMG_DOMAIN_COMPONENT}(?:\.{_IMG_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\]", re.ASCII)
_PATH = re.compile(r"[A-Za-z0-9._~%/+,=:@-]*")


MAX_DECODE_ROUNDS = 3


def _no_traversal(path: str) -> None:
    """The path as any layer may end up reading it must stay a plain path.

    Percent-encoding is decoded until nothing changes (a filesystem, proxy or shell may decode once more
    than we expect), at most MAX_DECODE_ROUNDS times; the result must have no '..' segment ('\\' counts
    as a separator) and no control or non-ASCII character (an encoded NUL cuts a Java/C path short).
    """
    decoded = path
    for _ in range(MAX_DECODE_ROUNDS):
        once = unquote(decoded)  # invalid UTF-8 becomes U+FFFD, refused below
        if once == decoded:
            break
        decoded = once
    else:
        if unquote(decoded) != decoded:
            raise Invalid(f"percent-encoded more than {MAX_DECODE_ROUNDS} times; write the path plainly")
    if any(not (" " < ch <= "~") for ch in decoded):
        raise Invalid("percent-encoding must not hide whitespace, control or non-ASCII characters")
    if any(segment == ".." for segment in decoded.replace("\\", "/").split("/")):
        raise Invalid("'..' path segments are not allowed")


def _check_port(netloc: str) -> None:
    match = re.search(r":([0-9]*)$", netloc)
    if match and not (match.group(1) and 0 < int(match.group(1)[:6]) < 65536):
        raise Invalid("port must be 1-65535")


def http_url(value: object) -> str:
    """http(s)://host[:port][/path], no credentials, query or fragment (Pushgateway hostUrl)."""
    text = argv_safe(value)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise Invalid("must be an http:// or https:// URL")
    if "@" in parts.netloc:
        raise Invalid("credentials in URLs are not allowed (they would be logged)")
    if parts.query or parts.fragment or "?" in text:
        raise Invalid("query strings and fragments are not allowed")
    try:
        port = parts.port
    except ValueError:
        raise Invalid("invalid port") from None
    host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    if not host or not _HOST.fullmatch(host):
        raise Invalid("must name a host")
    if port is not None and not (0 < port < 65536):
        raise Invalid("port must be 1-65535")
    if not _PATH.fullmatch(parts.path):
        raise Invalid("path has characters outside [A-Za-z0-9._~%/+,=:@-]")
    _no_traversal(parts.path)
    return text


STORAGE_SCHEMES = ("hdfs", "s3", "s3a", "s3p", "gs", "oss", "abfs", "abfss", "wasb", "wasbs", "file")


def storage_uri(value: object, schemes: tuple[str, ...] = STORAGE_SCHEMES, need_path: bool = True) -> str:
    """A filesystem URI such as hdfs://datacluster/flink/recovery (HA, checkpoint, savepoint dirs)."""
    text = argv_safe(value)
    parts = urlsplit(text)
    if parts.scheme not in schemes:
        raise Invalid(f"scheme must be one of {', '.join(s + '://' for s in schemes)}")
    if not text.startswith(parts.scheme + "://"):
        raise Invalid(f"must look like {parts.scheme}://authority/path")
    if "@" in parts.netloc:
        raise Invalid("credentials in URIs are not allowed (they would be logged)")
    if parts.query or parts.fragment:
        raise Invalid("query strings and fragments are not allowed")
    if parts.netloc and not _HOST.fullmatch(parts.netloc.rsplit(":", 1)[0] if re.search(r":[0-9]*$", parts.netloc) else parts.netloc):
        raise Invalid("authority must be a host name[:port]")
    _check_port(parts.netloc)
    if parts.scheme != "file" and not parts.netloc:
        raise Invalid("must name an authority (e.g. hdfs://namenode-or-nameservice/...)")
    if need_path and (not parts.path or parts.path == "/"):
        raise Invalid("must include a path")
    if not _PATH.fullmatch(parts.path):
        raise Invalid("path has characters outside [A-Za-z0-9._~%/+,=:@-]")
    _no_traversal(parts.path)
    return text


def savepoint_path(value: object) -> str:
    """A savepoint/checkpoint to restore (`-s`): a storage URI, Flink's own `file:/abs/path` form (as
    its REST API reports local paths) or an absolute path (resolved against fs.default-scheme)."""
    text = argv_safe(value)
    if text.startswith("/"):
        return absolute_path(text)
    if text.startswith("file:/") and not text.startswith("file://"):
        absolute_path(text[len("file:"):])
        return text
    return storage_uri(text)


def fs_scheme(value: object) -> str:
    """fs.default-scheme: scheme://authority with an optional path (e.g. hdfs://datacluster)."""
    return storage_uri(value, need_path=False)


JAR_SCHEMES_LOCAL = ("local",)
JAR_SCHEMES_REMOTE = ("http", "https", "s3", "s3a", "s3p", "hdfs", "gs", "oss", "abfs", "abfss")
JAR_SCHEMES = JAR_SCHEMES_LOCAL + ("file",) + JAR_SCHEMES_REMOTE


def jar_uri(value: object) -> str:
    text = argv_safe(value)
    parts = urlsplit(text)
    if parts.scheme not in JAR_SCHEMES:
        raise Invalid(f"scheme must be one of {', '.join(s + '://' for s in JAR_SCHEMES)}")
    if parts.scheme in ("local", "file"):
        if not text.startswith(parts.scheme + ":///"):
            raise Invalid(f"must be an absolute path: {parts.scheme}:///path/to/job.jar")
    elif parts.scheme in ("http", "https"):
        http_url(text)
    else:
        storage_uri(text, schemes=JAR_SCHEMES_REMOTE)
    if not parts.path.endswith(".jar"):
        raise Invalid("must point to a .jar file")
    if not _PATH.fullmatch(parts.path):
        raise Invalid("path has characters outside [A-Za-z0-9._~%/+,=:@-]")
    _no_traversal(parts.path)
    return text


def absolute_path(value: object) -> str:
    text = argv_safe(value)
    if not re.fullmatch(r"/[A-Za-z0-9._/+-]*", text):
        raise Invalid("must be an absolute path of [A-Za-z0-9._/+-]")
    _no_traversal(text)
    return text
