"""NoneBot2 test client for the gateway's Satori face (nonebot-adapter-satori).

Configured only through environment variables (the Go harness sets them): HOST, PORT (NoneBot's own
server, for GET /harness/healthz), DRIVER=~fastapi+~httpx+~websockets, COMMAND_START, LOG_LEVEL and
SATORI_CLIENTS, e.g. [{"host": "127.0.0.1", "port": 5700, "path": "satori", "token": "…"}]: the
adapter dials the gateway's event stream and calls its HTTP API.
"""

import os

import nonebot
from nonebot.adapters.satori import Adapter as SatoriAdapter

nonebot.init()

driver = nonebot.get_driver()
driver.register_adapter(SatoriAdapter)

app = nonebot.get_asgi()


@app.get("/harness/healthz")
async def healthz() -> dict:
    return {"pid": os.getpid()}


nonebot.load_plugin("plugins.proofs")

if __name__ == "__main__":
    nonebot.run()
