"""The main response's status and headers (and the redirect chain that led to it) as JSON."""

from __future__ import annotations

import json

from extractors.base import Extractor, ExtractorOutput, Kind, OutputFile, failed
from extractors.engine.page import LoadedPage
from extractors.engine.persona import without_secrets


class HeadersExtractor(Extractor):
    name = "headers"
    kind = Kind.free
    output = "`headers.json`: the main response's status, headers and redirect chain"

    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        response = page.main_response
        if response is None:
            return failed("no response was recorded for the page")
        headers: dict[str, str | list[str]] = {}
        listed = response.headers
        if page.request.storage_state:  # a persona's login stays out of the archive
            listed = without_secrets(listed)
        for name, value in listed:
            existing = headers.get(name)
            if existing is None:
                headers[name] = value
            elif isinstance(existing, list):
                existing.append(value)
            else:
                headers[name] = [existing, value]
        body = {
            "url": page.final_url,
            "status": response.status,
            "statusText": response.reason,
            "protocol": response.protocol,
            "headers": headers,
            "redirects": [
                {"url": hop.url, "status": hop.response.status}
                for hop in page.main_chain[:-1]
                if hop.response is not None
            ],
        }
        path = page.out_dir / "headers.json"
        path.write_text(json.dumps(body, indent=2, ensure_ascii=False), encoding="utf-8")
        return ExtractorOutput(
            status="succeeded",
            output_str=f"{response.status} {response.reason}",
            files=[OutputFile("headers.json", path, "application/json")],
        )
