"""What the accounts' domain needs of the app's config, as one plain value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """What the domain needs of the app's config."""

    secret_key: str
    hash_key: str
    issuer: str
    audience: str
    public_url: str
    # Every SMS the installation sends, whoever asks: the bill's ceiling.
    sms_per_hour: int = 300
    sms_per_day: int = 3000

    @classmethod
    def from_config(cls, config) -> Settings:
        return cls(
            config["SECRET_KEY"],
            config["HASH_KEY"],
            config["JWT_ISSUER"],
            config["JWT_AUDIENCE"],
            config["PUBLIC_URL"],
            config.get("SMS_PER_HOUR", 300),
            config.get("SMS_PER_DAY", 3000),
        )
