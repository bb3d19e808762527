"""The console's sign-in sessions and one-time sign-in links (migration 0014).

Each row is keyed by the SHA-256 of a random token the browser (or the link) holds: the token is
never stored, so a database leak opens no console. A row points at the API key it was exchanged
for, so revoking the key ends every console session made from it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, utcnow


class ConsoleSession(Base):
    __tablename__ = "console_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    api_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_key.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    #: Sent in every form of the session and checked on every POST (synchroniser token).
    csrf_token: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime | None]


class SignInLink(Base):
    __tablename__ = "console_signin_link"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    api_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_key.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
