"""Messages plugin (OneBot v11 and v12): replies, mentions, images, to_me and get_msg.

- `/mention`  answers with a mention of the sender and " hi".
- `/reply`    answers "replied" as a reply to the command message.
- `/img`      sends PNG (below): v11 as base64://, v12 through upload_file and a file_id.
- `/quote` sent as a Matrix reply: answers "quoted: <text of the replied-to message>". v11 gets
  that text from event.reply, which the adapter filled by calling get_msg; v12 has no such call,
  so the plugin asks the gateway's matrix.get_message extension.
- a message that mentions the bot (to_me) answers "to_me ok".
- a message with an image answers "image <sha256 of the bytes behind its URL> <URL>".
"""

import asyncio
import base64
import hashlib
import urllib.request

from nonebot import logger, on_command, on_message
from nonebot.adapters import Bot, Event
from nonebot.adapters.onebot import v11, v12
from nonebot.rule import to_me

# A 1x1 PNG; test/e2e/messages_test.go holds the same bytes.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

mention = on_command("mention", priority=4, block=True)
reply = on_command("reply", priority=4, block=True)
img = on_command("img", priority=4, block=True)
quote = on_command("quote", priority=4, block=True)
image_in = on_message(priority=6, block=False)
addressed = on_message(rule=to_me(), priority=7, block=True)


@mention.handle()
async def _mention(bot: Bot, event: Event) -> None:
    if isinstance(bot, v11.Bot):
        await mention.finish(v11.MessageSegment.at(event.get_user_id()) + " hi")
    await mention.finish(v12.MessageSegment.mention(event.get_user_id()) + " hi")


@reply.handle()
async def _reply(bot: Bot, event: Event) -> None:
    if isinstance(bot, v11.Bot):
        await reply.finish(v11.MessageSegment.reply(event.message_id) + "replied")
    await reply.finish(v12.MessageSegment.reply(event.message_id, user_id=event.get_user_id()) + "replied")


@img.handle()
async def _img(bot: Bot) -> None:
    if isinstance(bot, v11.Bot):
        await img.finish(v11.MessageSegment.image(PNG))
    uploaded = await bot.upload_file(type="data", name="dot.png", data=PNG)
    await img.finish(v12.MessageSegment.image(uploaded["file_id"]))


@quote.handle()
async def _quote(bot: Bot, event: Event) -> None:
    if isinstance(bot, v11.Bot):
        if event.reply is None:
            await quote.finish("quoted: nothing (get_msg failed)")
        await quote.finish("quoted: " + event.reply.message.extract_plain_text())
    if event.reply is None:
        await quote.finish("quoted: nothing (no reply segment)")
    original = await bot.call_api("matrix.get_message", message_id=event.reply.message_id)
    await quote.finish("quoted: " + original["alt_message"])


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as resp:  # no token: the link is signed
        return resp.read()


@image_in.handle()
async def _image_in(event: Event) -> None:
    for seg in event.get_message():
        if seg.type != "image":
            continue
        # v11: url; v12: matrix.url, which the v12 adapter nests like every dotted key.
        url = seg.data.get("url") or seg.data.get("matrix", {}).get("url") or seg.data.get("matrix.url")
        logger.info(f"harness: image segment {seg.data}")
        data = await asyncio.to_thread(_fetch, url)
        await image_in.finish(f"image {hashlib.sha256(data).hexdigest()} {url}")


@addressed.handle()
async def _addressed() -> None:
    await addressed.finish("to_me ok")
