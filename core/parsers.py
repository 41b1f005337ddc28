"""The API's JSON parser: any body that cannot be parsed is a 400, never a 500."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, plus a 400 for nesting deeper than Python's recursion limit.

    `json.load` raises RecursionError (not the ValueError DRF catches) on a body such as 30,000
    `[` and `]`, and that would reach the client as a 500 on any endpoint, logged in users or not.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
