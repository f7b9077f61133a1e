"""A multipart body written byte by byte: httpx percent-escapes what a filename may not hold, a
hostile client sends it raw."""

import secrets


def raw_multipart(files: list[tuple[str, bytes, bytes]], fields: dict[str, str] | None = None
                  ) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of a form with these (field, raw filename, data) files and text fields."""
    boundary = secrets.token_hex(16)
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
             + value.encode() + b"\r\n" for name, value in (fields or {}).items()]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="'.encode()
              + filename + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b"\r\n"
              for name, filename, data in files]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
