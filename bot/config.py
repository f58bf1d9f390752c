"""Configuration: one TOML file turned into frozen, typed objects, validated once at start."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PlatformName = Literal["wangwang", "dongdong"]
PLATFORM_NAMES: tuple[str, ...] = ("wangwang", "dongdong")


class ConfigError(Exception):
    """A configuration file that cannot be used: which file, which key, what is wrong."""

    def __init__(self, file: str, key: str, why: str) -> None:
        super().__init__(f"{file}: {key}: {why}")
        self.file, self.key, self.why = file, key, why


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(65536, ge=1024)


class DatabaseConfig(_Section):
    url: str = "sqlite:///var/csbot.db"
    # FULL: a commit is on disk before the push is answered 200, even if the machine loses power.
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "FULL"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not url.startswith(("sqlite:///", "postgresql://", "postgresql+asyncpg://", "postgres://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return url


class ShopConfig(_Section):
    name: str = "小店"
    timezone: str = "Asia/Shanghai"
    session_gap_minutes: int = Field(30, ge=1, le=24 * 60)
    ship_hours: int = Field(24, ge=1)
    return_days: int = Field(7, ge=0)
    price_protect_days: int = Field(7, ge=0)
    service_hours: str = "09:00-23:00"
    courier: str = "中通、圆通（可补差价发顺丰）"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}") from None
        return name


class KnowledgeConfig(_Section):
    path: str = "knowledge"


class PlatformConfig(_Section):
    name: PlatformName
    app_key: str = Field(min_length=1)
    app_secret: str = Field(min_length=1)
    gateway_url: str = "http://127.0.0.1:8090"

    @field_validator("gateway_url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url.rstrip("/")


class AgentConfig(_Section):
    id: str = Field(min_length=1)
    name: str = ""
    accounts: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    @field_validator("accounts")
    @classmethod
    def _platform_prefixed(cls, accounts: tuple[str, ...]) -> tuple[str, ...]:
        for account in accounts:
            platform, _, name = account.partition(":")
            if platform not in PLATFORM_NAMES or not name:
                raise ValueError(f"{account!r} is not platform:account (platform wangwang or dongdong)")
        return accounts


class TokenConfig(_Section):
    token: str = Field(min_length=8)
    role: Literal["agent", "supervisor", "admin"]
    agent: str | None = None

    @model_validator(mode="after")
    def _agent_for_agent_role(self) -> TokenConfig:
        if self.role == "agent" and not self.agent:
            raise ValueError("a token with role agent needs agent = \"<agent id>\"")
        return self


class ReminderConfig(_Section):
    enabled: bool = True
    offsets_minutes: tuple[int, ...] = (15,)
    before_close_minutes: int = Field(60, ge=0)
    max_per_order: int = Field(2, ge=0)
    max_per_buyer_per_day: int = Field(1, ge=0)
    quiet_hours: tuple[str, str] = ("22:00", "08:00")
    scan_seconds: int = Field(10, ge=1)


class TicketConfig(_Section):
    sla_minutes: dict[Literal["P1", "P2", "P3"], tuple[int, int]] = {
        "P1": (60, 1440),
        "P2": (240, 2880),
        "P3": (1440, 4320),
    }


class OutboxConfig(_Section):
    timeout_seconds: float = Field(5.0, gt=0)
    max_attempts: int = Field(6, ge=1)
    backoff_seconds: float = Field(1.0, gt=0)


class Config(_Section):
    source: str = "<defaults>"
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    shop: ShopConfig = ShopConfig()
    knowledge: KnowledgeConfig = KnowledgeConfig()
    platforms: tuple[PlatformConfig, ...] = ()
    agents: tuple[AgentConfig, ...] = ()
    tokens: tuple[TokenConfig, ...] = ()
    reminders: ReminderConfig = ReminderConfig()
    tickets: TicketConfig = TicketConfig()
    outbox: OutboxConfig = OutboxConfig()

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        names = [p.name for p in self.platforms]
        if len(set(names)) != len(names):
            raise ValueError("platforms: each platform may appear once")
        agent_ids = [a.id for a in self.agents]
        if len(set(agent_ids)) != len(agent_ids):
            raise ValueError("agents: duplicate agent id")
        accounts = [acc for a in self.agents for acc in a.accounts]
        if len(set(accounts)) != len(accounts):
            raise ValueError("agents: an account belongs to two agents")
        for token in self.tokens:
            if token.agent and token.agent not in agent_ids:
                raise ValueError(f"tokens: agent {token.agent!r} is not one of [[agents]]")
        return self

    def platform(self, name: str) -> PlatformConfig | None:
        return next((p for p in self.platforms if p.name == name), None)


def load_config(path: str | os.PathLike[str], *, environ: dict[str, str] | None = None) -> Config:
    """Read a TOML file, apply the env overrides, validate. Raises ConfigError."""
    environ = os.environ if environ is None else environ
    file = str(path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(file, "-", "no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(file, "-", f"not valid TOML: {e}") from None
    raw = _apply_env(raw, environ)
    return config_from_dict(raw, source=file)


def config_from_dict(raw: dict, *, source: str = "<dict>") -> Config:
    try:
        config = Config.model_validate({**raw, "source": source})
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "-"
        raise ConfigError(source, key, err["msg"]) from None
    _check_knowledge_path(config)
    return config


def _apply_env(raw: dict, environ: dict[str, str]) -> dict:
    raw = dict(raw)
    if url := environ.get("CSBOT_DATABASE_URL"):
        raw["database"] = {**raw.get("database", {}), "url": url}
    platforms = []
    for p in raw.get("platforms", []):
        if isinstance(p, dict) and (secret := environ.get(f"CSBOT_{str(p.get('name', '')).upper()}_APP_SECRET")):
            p = {**p, "app_secret": secret}
        platforms.append(p)
    if platforms:
        raw["platforms"] = platforms
    return raw


def _check_knowledge_path(config: Config) -> None:
    path = resolve_path(config, config.knowledge.path)
    if not path.is_dir():
        raise ConfigError(config.source, "knowledge.path", f"{path} is not a folder")


def config_dir(config: Config) -> Path | None:
    """The folder of the configuration file, against which its relative paths are taken."""
    return None if config.source.startswith("<") else Path(config.source).resolve().parent


def resolve_path(config: Config, value: str) -> Path:
    base = config_dir(config)
    p = Path(value)
    return p if p.is_absolute() or base is None else base / p
