"""The institution's own visit number, unique per institution

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 18:00:00.000000

A 2201 may carry the institution's outpatient or inpatient number (ipt_otp_no). A retried
registration under the same number answers the visit the first one made, so the pair
(fixmedins_code, ipt_otp_no) is unique, and the visit keeps the fingerprint of the request that
made it to tell a retry from a different registration.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("visit") as batch:
        batch.add_column(sa.Column("ipt_otp_no", sa.String(length=30), nullable=True))
        batch.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(
            op.f("uq_visit_fixmedins_code_ipt_otp_no"), ["fixmedins_code", "ipt_otp_no"]
        )


def downgrade() -> None:
    with op.batch_alter_table("visit") as batch:
        batch.drop_constraint(op.f("uq_visit_fixmedins_code_ipt_otp_no"), type_="unique")
        batch.drop_column("request_hash")
        batch.drop_column("ipt_otp_no")
