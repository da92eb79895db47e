"""Page objects: what an operator can see and do on each page, by data-testid.

Tests speak in these terms (sign in, create an account, remove it); when the
markup changes, only this file follows.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from playwright.sync_api import Dialog, Locator, Page

ADMIN_LOGIN = "root@visionlabs.ai"
ADMIN_PASSWORD = "root"


def unique_login(prefix: str = "e2e") -> str:
    """A login no other test uses, valid for the account schema (lower case)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


class AppPage:
    """What every signed-in page has: the top bar and the flash message."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.flash = page.get_by_test_id("flash")
        self.nav = page.get_by_role("navigation", name="Main")
        self.search_input = page.get_by_test_id("search-input")
        self.signed_in_as = page.get_by_test_id("signed-in-as")
        self.sign_out_button = page.get_by_test_id("sign-out")
        self.default_password_banner = page.get_by_test_id("default-password-banner")

    def search(self, query: str) -> None:
        self.search_input.fill(query)
        self.search_input.press("Enter")

    def sign_out(self) -> None:
        self.sign_out_button.click()


class LoginPage(AppPage):
    path = "/login"

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.login = page.get_by_test_id("login")
        self.password = page.get_by_test_id("password")
        self.submit = page.get_by_test_id("sign-in")
        self.error = page.get_by_test_id("login-error")

    def open(self) -> LoginPage:
        self.page.goto(self.path)
        return self

    def sign_in(self, login: str = ADMIN_LOGIN, password: str = ADMIN_PASSWORD) -> None:
        self.login.fill(login)
        self.password.fill(password)
        self.submit.click()


class PasswordPage(AppPage):
    path = "/password"

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.current = page.get_by_test_id("current-password")
        self.new = page.get_by_test_id("new-password")
        self.repeat = page.get_by_test_id("repeat-password")
        self.submit = page.get_by_test_id("change-password")
        self.error = page.get_by_test_id("password-error")

    def change(self, current: str, new: str, repeat: str | None = None) -> None:
        self.current.fill(current)
        self.new.fill(new)
        self.repeat.fill(new if repeat is None else repeat)
        self.submit.click()


class AccountsPage(AppPage):
    path = "/accounts"

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.table = page.get_by_test_id("accounts-table")
        self.rows = page.get_by_test_id("account-row")
        self.create_form = page.get_by_test_id("create-account-form")
        self.new_login = page.get_by_test_id("new-login")
        self.new_password = page.get_by_test_id("new-password")
        self.new_type = page.get_by_test_id("new-type")
        self.new_description = page.get_by_test_id("new-description")
        self.create_button = page.get_by_test_id("create-account")
        self.login_error = page.get_by_test_id("error-login")
        self.password_error = page.get_by_test_id("error-password")

    def open(self) -> AccountsPage:
        self.page.goto(self.path)
        return self

    def row(self, login: str) -> Locator:
        return self.rows.filter(has=self.page.get_by_role("link", name=login, exact=True))

    def fill_new_account(
        self,
        login: str,
        password: str = "secret-e2e",
        account_type: str = "user",
        description: str = "",
    ) -> None:
        self.new_login.fill(login)
        self.new_password.fill(password)
        self.new_type.select_option(account_type)
        self.new_description.fill(description)

    def create(self, login: str, **fields: str) -> None:
        self.fill_new_account(login, **fields)
        self.create_button.click()


class AccountPage(AppPage):
    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.login = page.get_by_test_id("account-login")
        self.account_id = page.get_by_test_id("account-id")
        self.stats = page.get_by_test_id("account-stats")
        self.lists = page.get_by_test_id("lists-table")
        self.delete_form = page.get_by_test_id("delete-form")
        self.delete_confirm = page.get_by_test_id("delete-confirm")
        self.delete_button = page.get_by_test_id("delete-account")

    def open(self, account_id: str) -> AccountPage:
        self.page.goto(f"/accounts/{account_id}")
        return self

    def delete(self, confirmation: str) -> None:
        self.delete_confirm.fill(confirmation)
        self.delete_button.click()


class TasksPage(AppPage):
    """/tasks: the tasks table with its filters, and the two launch forms."""

    path = "/tasks"

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.table = page.get_by_test_id("tasks-table")
        self.rows = page.get_by_test_id("task-row")
        self.launch_failed = page.get_by_test_id("launch-failed")
        # Garbage collection
        self.gc_form = page.get_by_test_id("gc-form")
        self.gc_target = page.get_by_test_id("gc-target")
        self.gc_descriptor_version = page.get_by_test_id("gc-descriptor-version")
        self.gc_account_id = page.get_by_test_id("gc-account-id")
        self.gc_list_id = page.get_by_test_id("gc-list-id")
        self.gc_handler_id = page.get_by_test_id("gc-handler-id")
        self.gc_remove_samples = page.get_by_test_id("gc-remove-samples")
        self.gc_store_results = page.get_by_test_id("gc-store-results")
        self.gc_description = page.get_by_test_id("gc-description")
        self.gc_ttl = page.get_by_test_id("gc-ttl")
        self.gc_preview_button = page.get_by_test_id("gc-preview")
        self.gc_run_button = page.get_by_test_id("gc-run")
        self.gc_confirm = page.get_by_test_id("gc-confirm")
        self.gc_confirm_statement = page.get_by_test_id("gc-confirm-statement")
        self.gc_confirm_run = page.get_by_test_id("gc-confirm-run")
        self.gc_confirm_back = page.get_by_test_id("gc-confirm-back")
        # Additional extraction
        self.extract_form = page.get_by_test_id("extract-form")
        self.extract_target = page.get_by_test_id("extract-target")
        self.extract_run_button = page.get_by_test_id("extract-run")

    def open(self, query: str = "") -> TasksPage:
        self.page.goto(self.path + (f"?{query}" if query else ""))
        return self

    def row(self, task_id: int) -> Locator:
        return self.rows.filter(has=self.page.get_by_role("link", name=f"#{task_id}", exact=True))

    def gc_error(self, field: str) -> Locator:
        """The message beside a GC form field, by its dotted name."""
        return self.page.get_by_test_id(f"gc-error-{field}")

    def fill_gc(
        self,
        target: str = "face_descriptors",
        descriptor_version: str = "",
        description: str = "",
        ttl: str = "",
    ) -> None:
        self.gc_target.select_option(target)
        if target == "face_descriptors" or descriptor_version:
            self.gc_descriptor_version.fill(descriptor_version)
        self.gc_description.fill(description)
        self.gc_ttl.select_option(ttl)

    def run_gc(self, **fields: str) -> None:
        self.fill_gc(**fields)
        self.gc_run_button.click()

    def confirm_gc(self) -> None:
        """Confirm a GC across every account, in the statement the page showed."""
        self.gc_confirm_run.click()

    def preview_gc(self, **fields: str) -> None:
        self.fill_gc(**fields)
        self.gc_preview_button.click()


class TaskPage(AppPage):
    """/tasks/{id}: progress (polled while the task runs), result, subtasks, errors."""

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.title = page.get_by_test_id("task-title")
        self.progress = page.get_by_test_id("task-progress")
        self.status = page.get_by_test_id("task-status")
        self.parts = page.get_by_test_id("task-parts")
        self.objects = page.get_by_test_id("task-objects")
        self.counts = page.get_by_test_id("task-counts")
        self.started = page.get_by_test_id("task-started")
        self.duration = page.get_by_test_id("task-duration")
        self.rate = page.get_by_test_id("task-rate")
        self.eta = page.get_by_test_id("task-eta")
        self.wait_reason = page.get_by_test_id("task-wait-reason")
        self.run_this = page.get_by_test_id("run-this")
        self.run_this_button = page.get_by_test_id("run-this-button")
        self.result_summary = page.get_by_test_id("task-result-summary")
        self.result_link = page.get_by_test_id("task-result")
        self.cancel_button = page.get_by_test_id("cancel-task")
        self.subtasks = page.get_by_test_id("subtask-row")
        self.errors = page.get_by_test_id("task-errors")
        self.edit_policy_link = page.get_by_test_id("edit-policy")
        self.delete_form = page.get_by_test_id("delete-task-form")
        self.delete_confirm = page.get_by_test_id("delete-task-confirm")
        self.delete_button = page.get_by_test_id("delete-task")
        self.delete_error = page.get_by_test_id("delete-task-error")

    def open(self, task_id: int) -> TaskPage:
        self.page.goto(f"/tasks/{task_id}")
        return self

    @property
    def task_id(self) -> int:
        return int(self.page.url.rsplit("/", 1)[-1])

    def result_value(self, key: str) -> Locator:
        return self.page.get_by_test_id(f"result-{key}")

    def cancel(self, accept: bool = True) -> str:
        """Click Cancel and answer the browser's question; returns the question."""
        asked: list[str] = []

        def answer(dialog: Dialog) -> None:
            asked.append(dialog.message)
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()

        self.page.once("dialog", answer)
        self.cancel_button.click()
        return asked[0] if asked else ""

    def delete(self, confirmation: str) -> None:
        self.delete_confirm.fill(confirmation)
        self.delete_button.click()


class PolicyPage(AppPage):
    """/tasks/{id}/notification_policy: the policy as JSON, masked secrets kept."""

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.text = page.get_by_test_id("policy-text")
        self.error = page.get_by_test_id("policy-error")
        self.save_button = page.get_by_test_id("policy-save")
        self.summary = page.get_by_test_id("policy-summary")

    def open(self, task_id: int) -> PolicyPage:
        self.page.goto(f"/tasks/{task_id}/notification_policy")
        return self

    def save(self, text: str) -> None:
        self.text.fill(text)
        self.save_button.click()


SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS")
"""Set to a folder to keep screenshots of the layout tests (to look at them)."""


class SchedulesPage(AppPage):
    """/tasks/schedules: every schedule, its words, zone, status, next and last run."""

    path = "/tasks/schedules"

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.rows = page.get_by_test_id("schedule-row")
        self.new_gc = page.get_by_test_id("new-gc-schedule")

    def open(self) -> SchedulesPage:
        self.page.goto(self.path)
        return self

    def row(self, schedule_id: int) -> Locator:
        return self.page.locator(f'[data-testid="schedule-row"][data-schedule-id="{schedule_id}"]')


class ScheduleFormPage(AppPage):
    """/tasks/schedules/new and /tasks/schedules/{id}/edit: the trigger, previewed live,
    and the task's fields (those of the launch forms)."""

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.form = page.get_by_test_id("schedule-form")
        self.cron = page.get_by_test_id("schedule-cron")
        self.timezone = page.get_by_test_id("schedule-timezone")
        self.preview_start = page.get_by_test_id("schedule-preview-start")
        self.words = page.get_by_test_id("cron-words")
        self.next_runs = page.get_by_test_id("next-runs").locator("li")
        self.preview_error = page.get_by_test_id("cron-preview-error")
        self.descriptor_version = page.get_by_test_id("gc-descriptor-version")
        self.description = page.get_by_test_id("gc-description")
        self.save = page.get_by_test_id("schedule-save")

    def open_new(self, task_type: int = 4) -> ScheduleFormPage:
        self.page.goto(f"/tasks/schedules/new?task_type={task_type}")
        return self


class SchedulePage(AppPage):
    """/tasks/schedules/{id}: the trigger in words, pause / start, run now, history."""

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.title = page.get_by_test_id("schedule-title")
        self.status = page.get_by_test_id("schedule-status")
        self.words = page.get_by_test_id("schedule-words")
        self.next_run = page.get_by_test_id("schedule-next-run")
        self.pause_button = page.get_by_test_id("pause-schedule")
        self.start_button = page.get_by_test_id("start-schedule")
        self.run_button = page.get_by_test_id("run-schedule")
        self.fires = page.get_by_test_id("fire-row")
        self.delete_confirm = page.get_by_test_id("delete-schedule-confirm")
        self.delete_button = page.get_by_test_id("delete-schedule")

    def open(self, schedule_id: int) -> SchedulePage:
        self.page.goto(f"/tasks/schedules/{schedule_id}")
        return self


def overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (0 when it fits)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)


class AuditPage(AppPage):
    """/audit: every change with who made it; filters by actor, action, target, time."""

    path = "/audit"

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.filters = page.get_by_test_id("audit-filters")
        self.actor = page.get_by_test_id("filter-actor")
        self.action = page.get_by_test_id("filter-action")
        self.target_type = page.get_by_test_id("filter-target-type")
        self.target_id = page.get_by_test_id("filter-target-id")
        self.apply_button = page.get_by_test_id("apply-filters")
        self.table = page.get_by_test_id("audit-table")
        self.rows = page.get_by_test_id("audit-row")
        self.filter_error = page.get_by_test_id("filter-error")

    def open(self, query: str = "") -> AuditPage:
        self.page.goto(self.path + (f"?{query}" if query else ""))
        return self

    def filter_by_action(self, action: str) -> None:
        self.action.select_option(action)
        self.apply_button.click()

    def rows_about(self, text: str) -> Locator:
        """The events whose row mentions `text` (a login, an id)."""
        return self.rows.filter(has_text=text)

    @staticmethod
    def actor_of(row: Locator) -> Locator:
        return row.get_by_test_id("audit-actor")

    @staticmethod
    def action_of(row: Locator) -> Locator:
        return row.get_by_test_id("audit-action")

    @staticmethod
    def details_of(row: Locator) -> Locator:
        return row.get_by_test_id("audit-details")


class SystemPage(AppPage):
    """/system: versions, descriptors, license, and the request charts (inline SVG)."""

    path = "/system"

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.month_chart = page.get_by_test_id("chart-months")
        self.route_chart = page.get_by_test_id("chart-routes")
        self.month_select = page.get_by_test_id("month-select")
        self.routes_table = page.get_by_test_id("routes-table")
        self.postgresql_version = page.get_by_test_id("component-postgresql")

    def open(self, query: str = "") -> SystemPage:
        self.page.goto(self.path + (f"?{query}" if query else ""))
        return self

    def route_bar(self, route: str, series: str = "requests") -> Locator:
        """The bar of `route` in the per-route chart (data-value holds its figure)."""
        return self.route_chart.locator(f'rect[data-label="{route}"][data-series="{series}"]')

    def month_bar(self, month: str, series: str = "requests") -> Locator:
        return self.month_chart.locator(f'rect[data-label="{month}"][data-series="{series}"]')


class SettingsPage(AppPage):
    """/settings: one card per setting with its value, rule, state and reset."""

    path = "/settings"

    def open(self) -> SettingsPage:
        self.page.goto(self.path)
        return self

    def card(self, name: str) -> Locator:
        return self.page.get_by_test_id(f"setting-{name}")

    def value(self, name: str) -> Locator:
        return self.card(name).get_by_test_id("setting-value")

    def error(self, name: str) -> Locator:
        return self.card(name).get_by_test_id("setting-error")

    def state(self, name: str) -> Locator:
        """'default' or 'changed'."""
        return self.card(name).get_by_test_id("setting-state")

    def saved(self, name: str) -> Locator:
        return self.card(name).get_by_test_id("setting-saved")

    def save(self, name: str, value: str) -> None:
        self.value(name).fill(value)
        self.card(name).get_by_test_id("setting-save").click()

    def reset(self, name: str) -> None:
        self.card(name).get_by_test_id("setting-reset").click()


class WorkersPage(AppPage):
    """/workers: the worker processes and the queue (refreshed every two seconds)."""

    path = "/workers"

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.live = page.get_by_test_id("live-workers")
        self.processes = page.get_by_test_id("process-row")
        self.queue_rows = page.get_by_test_id("queue-row")
        self.queue_empty = page.get_by_test_id("queue-empty")

    def open(self) -> WorkersPage:
        self.page.goto(self.path)
        return self

    def queued(self, task_id: int) -> Locator:
        return self.page.locator(f'[data-testid="queue-row"][data-task-id="{task_id}"]')
