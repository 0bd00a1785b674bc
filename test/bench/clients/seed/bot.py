"""NoneBot2 + nonebot-adapter-matrix (the Python package this gateway re-implements) for
`make bench`: it syncs with the homeserver itself (MATRIX_BOTS, MATRIX_SYNC_TIMEOUT from the
environment) and needs a forward driver, so DRIVER=~fastapi+~httpx. Runs in its own venv
(.cache/venv-bench-seed, requirements.txt beside this file); BENCH_REPORT_ADDR and
BENCH_REPORT_NAME configure the bench_report plugin. GET /harness/healthz answers {"pid": N}.
"""

import os
import sys

import nonebot
from nonebot.adapters.matrix import Adapter as MatrixAdapter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

nonebot.init()
nonebot.get_driver().register_adapter(MatrixAdapter)
app = nonebot.get_asgi()


@app.get("/harness/healthz")
async def healthz() -> dict:
    return {"pid": os.getpid()}


nonebot.load_plugin("bench_report")

if __name__ == "__main__":
    nonebot.run()
