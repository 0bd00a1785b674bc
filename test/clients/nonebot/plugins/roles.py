"""Roles plugin (OneBot v11 and v12): what the framework learns of the sender's role.

- `/role`   answers "role <role>": v11 `event.sender.role`; v12 the gateway's `matrix.role`
            extension, which the v12 adapter nests (`event.matrix["role"]`).
- `/owner`  answers "owner ok" only through NoneBot's GROUP_OWNER permission (v11).
- `/admin`  answers "admin ok" only through NoneBot's GROUP_ADMIN permission (v11).
"""

from nonebot import on_command
from nonebot.adapters import Bot, Event
from nonebot.adapters.onebot import v11
from nonebot.adapters.onebot.v11.permission import GROUP_ADMIN, GROUP_OWNER

role = on_command("role", priority=4, block=True)
owner = on_command("owner", permission=GROUP_OWNER, priority=4, block=True)
admin = on_command("admin", permission=GROUP_ADMIN, priority=4, block=True)


@role.handle()
async def _role(bot: Bot, event: Event) -> None:
    if isinstance(bot, v11.Bot):
        await role.finish(f"role {event.sender.role}")
    extra = getattr(event, "matrix", None) or {}
    await role.finish(f"role {extra.get('role')}")


@owner.handle()
async def _owner() -> None:
    await owner.finish("owner ok")


@admin.handle()
async def _admin() -> None:
    await admin.finish("admin ok")
