"""Cloud Functions' source upload: the signed URL ``generateUploadUrl`` hands out, and the zip behind it.

``generateUploadUrl`` answers a Cloud Storage signed URL; the emulator's is
``{emulator}/_upload/{bucket}/{object}?X-Goog-Signature=...``, outside the
API paths because a signed URL needs no Google credentials. A ``PUT`` there
stores the bytes (a second one replaces them), for the functions API to
build from and for tests to read (``Emulator.uploads``).

What Cloud Storage checks, it checks: the signature (a tampered or unknown
URL answers 403 ``SignatureDoesNotMatch``, as does a ``Content-Type`` other
than ``application/zip``, because the content type is part of what was
signed), the method (only PUT was signed) and the size (the URL carries a
content-length range up to 100 MiB: more is 400 ``EntityTooLarge``). Cloud
Storage does not look inside: a file that is not a zip uploads fine and the
build fails later, here as on Google.

Inferred, not confirmed: the bucket and object names (the shape Google's
answers show: ``gcf-v2-uploads-NUMBER.REGION.cloudfunctions.appspot.com``,
``UUID.zip``) and the exact XML wording.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import uuid
import zipfile
from dataclasses import dataclass
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request, Response

MAX_UPLOAD = 100 * 2**20


@dataclass
class Upload:
    bucket: str
    object: str
    signature: str
    data: bytes | None = None  # None until the PUT arrives
    generation: int = 0


def _xml_error(status: int, code: str, message: str, details: str = "") -> Response:
    extra = f"<Details>{escape(details)}</Details>" if details else ""
    body = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{escape(message)}</Message>"
            f"{extra}</Error>")
    return Response(body, status=status, content_type="application/xml; charset=UTF-8")


class Uploads:
    def __init__(self, project_number: str):
        self.project_number = project_number
        self.stored: dict[str, Upload] = {}  # "bucket/object" -> upload

    def new(self, base_url: str, location: str) -> dict:
        """What ``generateUploadUrl`` answers: a fresh object and the URL to PUT it to."""
        bucket = f"gcf-v2-uploads-{self.project_number}.{location}.cloudfunctions.appspot.com"
        name = f"{uuid.uuid4()}.zip"
        signature = secrets.token_hex(64)
        self.stored[f"{bucket}/{name}"] = Upload(bucket, name, signature)
        url = (f"{base_url}_upload/{bucket}/{name}?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Expires=1800"
               f"&X-Goog-SignedHeaders=content-type%3Bhost&X-Goog-Signature={signature}")
        return {"uploadUrl": url, "storageSource": {"bucket": bucket, "object": name}}

    def find(self, bucket: str, name: str) -> Upload | None:
        found = self.stored.get(f"{bucket}/{name}")
        return found if found is not None and found.data is not None else None

    def contents(self) -> dict[str, bytes]:
        return {key: u.data for key, u in self.stored.items() if u.data is not None}

    def snapshot(self) -> dict:
        return {key: {"bytes": len(u.data), "sha256": hashlib.sha256(u.data).hexdigest(),
                      "generation": str(u.generation)} for key, u in self.stored.items() if u.data is not None}

    def put(self, request: Request, path: str) -> Response:
        """A request to ``_upload/{bucket}/{object}``, as Cloud Storage answers a signed URL."""
        m = re.match(r"^_upload/([^/]+)/(.+)$", path)
        upload = self.stored.get(f"{m.group(1)}/{m.group(2)}") if m else None
        if upload is None:
            return _xml_error(404, "NoSuchBucket" if not m else "NoSuchKey",
                              "The specified bucket or object does not exist.")
        if request.args.get("X-Goog-Signature") != upload.signature or request.method != "PUT" \
                or request.headers.get("Content-Type", "").split(";")[0].strip() != "application/zip":
            # Method and content type are part of what was signed: any other one is a signature that does not match.
            return _xml_error(403, "SignatureDoesNotMatch",
                              "Access denied.", "The request signature we calculated does not match the signature "
                              "you provided. Check your Google secret key and signing method.")
        size = request.content_length
        if size is None and "chunked" not in request.headers.get("Transfer-Encoding", ""):
            return _xml_error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        if size is not None and size > MAX_UPLOAD:
            return _xml_error(400, "EntityTooLarge", "Your proposed upload is larger than the maximum object size "
                              "specified in your Policy Document.", "Content-length exceeds upper bound on range")
        data = request.get_data(cache=True)
        if len(data) > MAX_UPLOAD:
            return _xml_error(400, "EntityTooLarge", "Your proposed upload is larger than the maximum object size "
                              "specified in your Policy Document.")
        upload.data = data
        upload.generation += 1
        digest = hashlib.md5(data).hexdigest()
        return Response("", status=200, headers={"ETag": f'"{digest}"', "x-goog-generation": str(upload.generation)})


def build_failure(data: bytes, runtime: str, entry_point: str) -> str | None:
    """Why a build of this source fails, or None.

    Only Python sources are looked into: ``main.py`` and ``requirements.txt``
    at the zip's root, and ``main.py`` defining the entry point (a text
    check for ``def NAME(``, which is what functions-framework will look up).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            main = archive.read("main.py").decode("utf-8", "replace") if "main.py" in names else None
    except (zipfile.BadZipFile, ValueError, OSError):
        return "the uploaded source is not a valid zip archive"
    if not runtime.startswith("python"):
        return None
    if main is None:
        # The buildpack's words.
        return ("missing main.py and GOOGLE_FUNCTION_SOURCE not specified. Either create the function in main.py or "
                "specify GOOGLE_FUNCTION_SOURCE to point to the file that contains the function")
    if "requirements.txt" not in names:
        return "missing requirements.txt at the root of the source: the emulator requires one next to main.py"
    if not re.search(rf"^\s*(async\s+)?def\s+{re.escape(entry_point)}\s*\(", main, re.MULTILINE):
        return f"File main.py is expected to contain a function named {entry_point}"
    return None
