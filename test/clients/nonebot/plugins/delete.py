"""Delete plugin: `/delete` makes the bot send "doomed" and then delete (redact) that message,
with delete_msg on OneBot v11 and delete_message on v12."""

from nonebot import logger, on_command
from nonebot.adapters import Bot, Event

delete = on_command("delete", priority=5, block=True)


@delete.handle()
async def _delete(bot: Bot, event: Event) -> None:
    sent = await bot.send(event, "doomed")
    message_id = sent["message_id"]
    if bot.adapter.get_name() == "OneBot V11":
        await bot.delete_msg(message_id=message_id)
    else:
        await bot.delete_message(message_id=message_id)
    logger.info(f"harness: deleted {message_id!r}")
