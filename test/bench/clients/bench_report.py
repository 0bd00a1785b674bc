"""Benchmark plugin shared by the NoneBot2 apps of `make bench` (test/bench/cmd/bench).

Each message event a matcher receives is reported to the benchmark as one UDP datagram
"NAME EVENT_ID" to BENCH_REPORT_ADDR (host:port), NAME being BENCH_REPORT_NAME: the OneBot v12
adapter's message_id is the Matrix event ID, nonebot-adapter-matrix's event has event_id.
A connected bot is reported as "NAME ready:NAME". `/echo TEXT` answers TEXT (the echo round
trip); it logs nothing per event, so that the benchmark measures the adapter, not the log.
"""

import os
import socket

from nonebot import get_driver, on_command, on_message
from nonebot.adapters import Bot, Event, Message
from nonebot.params import CommandArg

_host, _, _port = os.environ["BENCH_REPORT_ADDR"].rpartition(":")
_addr = (_host, int(_port))
_name = os.environ["BENCH_REPORT_NAME"]
_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def _report(key: str) -> None:
    _sock.sendto(f"{_name} {key}".encode(), _addr)


@get_driver().on_bot_connect
async def _on_connect(bot: Bot) -> None:
    _report(f"ready:{_name}")


_arrivals = on_message(priority=1, block=False)


@_arrivals.handle()
async def _on_message(event: Event) -> None:
    key = getattr(event, "message_id", None) or getattr(event, "event_id", None)
    if isinstance(key, str) and key.startswith("$"):
        _report(key)


_echo = on_command("echo", priority=5, block=True)


@_echo.handle()
async def _on_echo(arg: Message = CommandArg()) -> None:
    text = arg.extract_plain_text()
    if text:
        await _echo.finish(text)
