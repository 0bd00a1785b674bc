"""NoneBot2 test client for the gateway's OneBot v11 and v12 endpoints.

Configured only through environment variables (the Go harness sets them):
HOST, PORT, DRIVER=~fastapi, ONEBOT_V11_ACCESS_TOKEN, ONEBOT_V12_ACCESS_TOKEN,
COMMAND_START, LOG_LEVEL, and any other NoneBot/adapter setting such as
ONEBOT_V11_WS_URLS for forward WebSocket.

Reverse WebSocket endpoints: /onebot/v11/ws and /onebot/v12/ws.
GET /harness/healthz answers {"pid": <pid>} once the server is listening.
"""

import os

import nonebot
from nonebot.adapters.onebot.v11 import Adapter as OneBotV11Adapter
from nonebot.adapters.onebot.v12 import Adapter as OneBotV12Adapter

nonebot.init()

driver = nonebot.get_driver()
driver.register_adapter(OneBotV11Adapter)
driver.register_adapter(OneBotV12Adapter)

app = nonebot.get_asgi()


@app.get("/harness/healthz")
async def healthz() -> dict:
    return {"pid": os.getpid()}


# The script directory is on sys.path, so plugins load by module name
# whatever the working directory is.
nonebot.load_plugin("plugins.echo")
nonebot.load_plugin("plugins.delete")
nonebot.load_plugin("plugins.messages")
nonebot.load_plugin("plugins.roles")

if __name__ == "__main__":
    nonebot.run()
