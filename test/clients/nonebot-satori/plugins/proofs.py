"""The Satori proofs: every event is logged; commands answer through the gateway's Satori API.

- `/echo <text>`  answers <text>.
- `/mention`      answers with a mention of the sender and " hi".
- `/reply`        answers "replied" quoting the command message.
- `/img`          sends PNG (below) as a data: URL.
- `/quote` sent as a Matrix reply: answers "quoted: <text of the replied-to message>", read with
  message.get.
- a message that mentions the bot (to_me) answers "to_me ok".
- a message with an image answers "image <sha256 of the bytes behind its src> <src>".
"""

import asyncio
import base64
import hashlib
import urllib.request

from nonebot import get_driver, logger, on_command, on_message
from nonebot.adapters import Event as BaseEvent
from nonebot.adapters.satori import Bot, Message, MessageEvent, MessageSegment
from nonebot.adapters.satori.element import parse
from nonebot.message import event_preprocessor
from nonebot.params import CommandArg
from nonebot.rule import to_me

# A 1x1 PNG; test/e2e/messages_test.go holds the same bytes.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

driver = get_driver()


@driver.on_bot_connect
async def _on_connect(bot: Bot) -> None:
    logger.info(f"harness: bot connected adapter={bot.adapter.get_name()} self_id={bot.self_id}")


@driver.on_bot_disconnect
async def _on_disconnect(bot: Bot) -> None:
    logger.info(f"harness: bot disconnected adapter={bot.adapter.get_name()} self_id={bot.self_id}")


@event_preprocessor
async def _log_event(bot: Bot, event: BaseEvent) -> None:
    logger.info(
        f"harness: event type={event.get_type()} name={event.get_event_name()} sn={getattr(event, 'sn', None)} "
        f"data={event.model_dump_json()}"
    )


echo = on_command("echo", priority=4, block=True)
mention = on_command("mention", priority=4, block=True)
reply = on_command("reply", priority=4, block=True)
img = on_command("img", priority=4, block=True)
quote = on_command("quote", priority=4, block=True)
image_in = on_message(priority=6, block=False)
addressed = on_message(rule=to_me(), priority=7, block=True)


@echo.handle()
async def _echo(arg=CommandArg()) -> None:
    text = arg.extract_plain_text()
    logger.info(f"harness: echo {text!r}")
    await echo.finish(text)


@mention.handle()
async def _mention(event: MessageEvent) -> None:
    await mention.finish(MessageSegment.at(event.get_user_id()) + " hi")


@reply.handle()
async def _reply(event: MessageEvent) -> None:
    await reply.finish(MessageSegment.quote(event.message.id) + "replied")


@img.handle()
async def _img() -> None:
    await img.finish(MessageSegment.image(raw=PNG, mime="image/png", name="dot.png"))


@quote.handle()
async def _quote(bot: Bot, event: MessageEvent) -> None:
    if event.reply is None:
        await quote.finish("quoted: (no reply)")
    original = await bot.message_get(channel_id=event.channel.id, message_id=event.reply.data["id"])
    text = Message.from_satori_element(parse(original.content)).extract_plain_text()
    await quote.finish(f"quoted: {text}")


@image_in.handle()
async def _image_in(event: MessageEvent) -> None:
    for seg in event.get_message():
        if seg.type == "img":
            src = seg.data["src"]
            data = await asyncio.to_thread(_download, src)
            await image_in.send(f"image {hashlib.sha256(data).hexdigest()} {src}")


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as resp:  # the gateway's signed link: no token
        return resp.read()


@addressed.handle()
async def _addressed() -> None:
    await addressed.finish("to_me ok")
