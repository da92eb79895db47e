"""A task's status changes reach its callbacks: engine, outbox and dispatcher together."""

from __future__ import annotations

from tests.integration.tasks_helpers import (
    create_gc,
    make_account,
    make_faces,
    run_until_idle,
    settings,
)
from tests.support.callback_server import CallbackServer, FakeTelegramApi
from webapp.notify.dispatcher import Dispatcher
from webapp.notify.senders import CallbackSender


async def test_task_and_subtask_callbacks_are_delivered_in_order(client):
    account = await make_account()
    await make_faces(account, 250, versions=(56,))  # two subtasks
    async with CallbackServer() as hook, FakeTelegramApi() as telegram:
        config = settings(telegram_api_url=telegram.url, notify_backoff_seconds=0.0)
        policy = {
            "enable": 1,
            "task_callbacks": [
                {
                    "type": "http",
                    "url": f"{hook.url}/task",
                    "authorization": {"type": "basic", "login": "hook", "password": "pw"},
                },
                {"type": "telegram", "token": "123:abc", "chat_id": 77},
            ],
            "subtask_callbacks": [{"type": "http", "url": f"{hook.url}/subtask"}],
        }
        hook.fail_next(1)  # the first delivery fails and is retried
        task_id = await create_gc(
            client,
            {"target": "face_descriptors", "filters": {"descriptor_version": 56}},
            notification_policy=policy,
        )
        await run_until_idle(config)
        sender = CallbackSender(config)
        dispatcher = Dispatcher(sender, config)
        try:
            for _ in range(50):
                idle = not await dispatcher.run_once()
                if idle and len([r for r in hook.requests if r.status == 200]) >= 7:
                    break
        finally:
            await sender.aclose()
        delivered = [r for r in hook.requests if r.status == 200]
        task_events = [r.json() for r in delivered if r.path == "/task"]
        assert [e["task_status"] for e in task_events] == [1, 4, 5]
        assert all(e["task_id"] == task_id and e["task_type"] == 4 for e in task_events)
        assert task_events[-1]["result_url"] == f"/4/tasks/{task_id}/result"
        subtask_events = [r.json() for r in delivered if r.path == "/subtask"]
        assert sorted(e["subtask_status"] for e in subtask_events) == [1, 1, 5, 5]
        assert {e["count_task_parts_all"] for e in subtask_events} == {2}
        assert len(telegram.messages) == 3
        assert "done" in telegram.messages[-1][1]["text"]
