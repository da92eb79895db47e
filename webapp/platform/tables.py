"""The platform data an account owns: lists, faces, attributes, descriptors,
samples and events.

The schema is defined by the SQL migrations in piccolo_migrations/ (with the
triggers that keep list and account counters); these classes mirror it.
"""

from piccolo.columns import (
    JSONB,
    UUID,
    BigInt,
    BigSerial,
    Bytea,
    ForeignKey,
    Integer,
    OnDelete,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from webapp.accounts.tables import Account


class FaceList(Table, tablename="list"):
    list_id = UUID(primary_key=True)
    account_id = ForeignKey(references=Account, null=False, on_delete=OnDelete.cascade)
    user_data = Varchar(length=128, default="")
    create_time = Timestamptz()
    last_update_time = Timestamptz()
    face_count = BigInt(default=0)


class Face(Table, tablename="face"):
    face_id = UUID(primary_key=True)
    account_id = ForeignKey(references=Account, null=False, on_delete=OnDelete.cascade)
    user_data = Varchar(length=128, default="")
    external_id = Varchar(length=36, default="")
    create_time = Timestamptz()
    last_update_time = Timestamptz()


class ListFace(Table, tablename="list_face"):
    """Membership of a face in a list (the primary key is the pair)."""

    list_id = ForeignKey(references=FaceList, null=False, on_delete=OnDelete.cascade)
    face_id = ForeignKey(references=Face, null=False, on_delete=OnDelete.cascade)
    link_time = Timestamptz()


class FaceAttribute(Table, tablename="face_attribute"):
    """Basic attributes of a face; temporary ones have an expire_time (TTL)."""

    attribute_id = UUID(primary_key=True)
    account_id = ForeignKey(references=Account, null=False, on_delete=OnDelete.cascade)
    face_id = ForeignKey(references=Face, null=True, on_delete=OnDelete.set_null)
    basic_attributes = JSONB(null=True)
    create_time = Timestamptz()
    expire_time = Timestamptz(null=True, default=None)


class Descriptor(Table, tablename="descriptor"):
    descriptor_id = BigSerial(primary_key=True)
    face_id = ForeignKey(references=Face, null=False, on_delete=OnDelete.cascade)
    descriptor_version = Integer()
    vector = Bytea()
    create_time = Timestamptz()


class Event(Table, tablename="event"):
    event_id = UUID(primary_key=True)
    account_id = ForeignKey(references=Account, null=False, on_delete=OnDelete.cascade)
    handler_id = UUID(null=True, default=None)
    face_id = ForeignKey(references=Face, null=True, on_delete=OnDelete.set_null)
    create_time = Timestamptz()


class Sample(Table, tablename="sample"):
    """A face image (the bytes of a JPEG or PNG) from which descriptors are extracted."""

    sample_id = UUID(primary_key=True)
    account_id = ForeignKey(references=Account, null=False, on_delete=OnDelete.cascade)
    face_id = ForeignKey(references=Face, null=True, on_delete=OnDelete.set_null)
    event_id = ForeignKey(references=Event, null=True, on_delete=OnDelete.set_null)
    image = Bytea()
    create_time = Timestamptz()
