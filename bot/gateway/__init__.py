"""Platform adapters: each module parses pushes and builds sends for one platform."""

from types import ModuleType

from bot.gateway import dongdong, wangwang

PLATFORMS: dict[str, ModuleType] = {"wangwang": wangwang, "dongdong": dongdong}
