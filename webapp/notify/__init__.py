"""Task notifications: the policy a task carries, the outbox rows written with
each status change, and the dispatcher that delivers them (HTTP, Telegram).

    policy.py      schema, defaults, masking of secrets, keeping secrets on edit
    outbox.py      enqueue_task_event / enqueue_subtask_event (in the caller's transaction)
    senders.py     Sender interface: HTTP, Telegram, routing, a recording twin for tests
    dispatcher.py  claims due rows with a lease, delivers, retries with backoff

See docs/notifications.md.
"""
