"""The echo bot of deploy/compose.yaml: NoneBot2 with the OneBot v11 adapter and NoneBot's
built-in echo plugin (`/echo text` to the bot, in a direct chat or mentioning it, answers `text`).
Configured through the environment: HOST, PORT, DRIVER, ONEBOT_ACCESS_TOKEN, COMMAND_START."""

import nonebot
from nonebot.adapters.onebot.v11 import Adapter

nonebot.init()
nonebot.get_driver().register_adapter(Adapter)
nonebot.load_builtin_plugins("echo")

if __name__ == "__main__":
    nonebot.run()
