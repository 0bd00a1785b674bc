"""NoneBot2 + nonebot-adapter-onebot (v12) for `make bench`: the gateway's OneBot v12 reverse
WebSocket connects to /onebot/v12/ws. Runs in the harness's NoneBot venv (test/clients/nonebot);
configured by the environment (the harness sets HOST, PORT, DRIVER, ONEBOT_V12_ACCESS_TOKEN) plus
BENCH_REPORT_ADDR and BENCH_REPORT_NAME for the bench_report plugin. GET /harness/healthz answers
{"pid": N} once it listens.
"""

import os
import sys

import nonebot
from nonebot.adapters.onebot.v12 import Adapter as OneBotV12Adapter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

nonebot.init()
nonebot.get_driver().register_adapter(OneBotV12Adapter)
app = nonebot.get_asgi()


@app.get("/harness/healthz")
async def healthz() -> dict:
    return {"pid": os.getpid()}


nonebot.load_plugin("bench_report")

if __name__ == "__main__":
    nonebot.run()
