"""What every caller of the gateway's public API sends: the command line, the page, scripts."""

# With GATEWAY_AUTH=off a write must carry this header. A cross-site HTML form cannot set a
# header, and a cross-site script that tries needs a CORS preflight the gateway never grants,
# so no other site can make a visitor's browser write. Clients send it always, auth on or off.
CLIENT_HEADER = "X-Nauplius-Client"


def gateway_headers(api_key: str | None) -> dict[str, str]:
    """The headers of a request to the gateway: the client header, and the key when there is one."""
    headers = {CLIENT_HEADER: "1"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers
