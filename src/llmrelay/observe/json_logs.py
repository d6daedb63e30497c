"""`server.log_format: json`: every log line of the process one JSON object, so that a log
shipper reads the request lines (request_log.py) and the warnings alike."""

from __future__ import annotations

import datetime
import logging

import orjson


def iso_time(seconds: float) -> str:
    """UTC, to the millisecond: `2025-01-31T12:00:00.123Z`."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message"}`, and `exception` with its traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": iso_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return orjson.dumps(line).decode()
