"""What a CSV download holds, read as a spreadsheet reads it."""

from __future__ import annotations

import csv
import io

from django.http import StreamingHttpResponse


def read_csv(response: StreamingHttpResponse) -> list[list[str]]:
    # The byte-order mark says UTF-8 and is not part of the data.
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))
