"""Echo plugin: `/echo <text>` answers <text>; every event is logged."""

from nonebot import get_driver, logger, on_command
from nonebot.adapters import Bot, Event, Message
from nonebot.message import event_preprocessor
from nonebot.params import CommandArg

driver = get_driver()


@driver.on_bot_connect
async def _on_connect(bot: Bot) -> None:
    logger.info(f"harness: bot connected adapter={bot.adapter.get_name()} self_id={bot.self_id}")


@driver.on_bot_disconnect
async def _on_disconnect(bot: Bot) -> None:
    logger.info(f"harness: bot disconnected adapter={bot.adapter.get_name()} self_id={bot.self_id}")


@event_preprocessor
async def _log_event(bot: Bot, event: Event) -> None:
    logger.info(
        f"harness: event adapter={bot.adapter.get_name()} self_id={bot.self_id} "
        f"type={event.get_type()} name={event.get_event_name()} "
        f"data={event.model_dump_json()}"
    )


echo = on_command("echo", priority=5, block=True)


@echo.handle()
async def _echo(arg: Message = CommandArg()) -> None:
    text = arg.extract_plain_text()
    logger.info(f"harness: echo {text!r}")
    if text:
        await echo.finish(text)
    await echo.finish()
