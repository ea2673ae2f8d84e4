"""Which page behaviours ran on the capture and what they did (which consent rule fired)."""

from __future__ import annotations

import json

from extractors.base import Extractor, ExtractorOutput, Kind, OutputFile, skipped
from extractors.behaviours import consent
from extractors.engine.page import LoadedPage


class BehavioursExtractor(Extractor):
    name = "behaviours"
    kind = Kind.free
    html_only = True
    output = (
        "`behaviours.json`: each page behaviour that ran (consent dismissal via autoconsent, "
        "per-site hooks) and what it did; `output_str` names the consent rule that fired"
    )

    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        if not page.request.behaviours:
            return skipped("behaviours are turned off")
        runs = [run.as_dict() for run in page.behaviours]
        path = page.out_dir / "behaviours.json"
        path.write_text(json.dumps({"behaviours": runs}, indent=2), encoding="utf-8")
        summary = "; ".join(f"{r['name']}: {r['detail']}" for r in runs if r["status"] == "done")
        return ExtractorOutput(
            status="succeeded",
            output_str=summary or "nothing to do",
            files=[OutputFile("behaviours.json", path, "application/json")],
            cmd_version=f"autoconsent {consent.version()}",
        )
