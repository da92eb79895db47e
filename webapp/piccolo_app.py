"""The Piccolo app: every table of the service, migrations in piccolo_migrations/."""

from piccolo.conf.apps import AppConfig

from webapp.settings import ROOT


def _tables() -> list:
    from webapp.accounts.tables import (
        Account,
        AccountStats,
        AccountTotal,
        AuthSession,
        LoginThrottle,
    )
    from webapp.audit.tables import AuditEvent
    from webapp.platform.tables import (
        Descriptor,
        Event,
        Face,
        FaceAttribute,
        FaceList,
        ListFace,
        Sample,
    )
    from webapp.schedules.tables import ScheduleFire, TaskSchedule
    from webapp.system.tables import Setting
    from webapp.tasks.tables import (
        NotificationOutbox,
        Subtask,
        SubtaskResultPart,
        Task,
        TaskError,
        TaskResult,
        WorkerProcess,
    )

    return [
        Account,
        AccountStats,
        AccountTotal,
        AuthSession,
        LoginThrottle,
        FaceList,
        Face,
        ListFace,
        FaceAttribute,
        Descriptor,
        Sample,
        Event,
        Task,
        Subtask,
        TaskError,
        SubtaskResultPart,
        TaskResult,
        NotificationOutbox,
        WorkerProcess,
        TaskSchedule,
        ScheduleFire,
        AuditEvent,
        Setting,
    ]


APP_CONFIG = AppConfig(
    app_name="luna_admin",
    migrations_folder_path=str(ROOT / "piccolo_migrations"),
    table_classes=_tables(),
)
