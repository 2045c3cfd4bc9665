"""Prepare the demo: an ``admin`` superuser with a fresh password, and tasks."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils.crypto import get_random_string

from django_taskflow import schedule
from testproject.demo.tasks import (
    add,
    always_fails,
    build_report,
    heartbeat,
    plain_django_task,
    send_welcome_email,
    upload_file,
)

DEFAULT_ADMIN_URL = "http://127.0.0.1:8000/admin/"
DEFAULT_DASHBOARD_URL = "http://127.0.0.1:8000/taskflow/"


class Command(BaseCommand):
    help = (
        "Create or reset the demo superuser with a new random password, "
        "enqueue a handful of example tasks and print the admin login."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--username",
            default="admin",
            help="superuser to create or reset (default: admin)",
        )
        parser.add_argument(
            "--admin-url",
            default=DEFAULT_ADMIN_URL,
            help=f"where the admin is served, for the login box (default: {DEFAULT_ADMIN_URL})",
        )
        parser.add_argument(
            "--dashboard-url",
            default=DEFAULT_DASHBOARD_URL,
            help=f"where the live dashboard is served (default: {DEFAULT_DASHBOARD_URL})",
        )
        parser.add_argument(
            "--no-tasks",
            action="store_true",
            help="only reset the superuser; enqueue nothing",
        )

    def handle(self, *args, **options):
        username = options["username"]
        password = self.reset_superuser(username)
        if not options["no_tasks"]:
            count = self.enqueue_demo_tasks()
            self.stdout.write(self.style.SUCCESS(f"Enqueued {count} demo tasks."))
            # At run time, schedule() writes the row: the worker fires it by its next tick.
            name = schedule(
                heartbeat, every=timedelta(seconds=5), name="demo-heartbeat", overlap="skip"
            )
            self.stdout.write(
                self.style.SUCCESS(f"Scheduled {name}: every 5 seconds (admin: Tasks > Schedules).")
            )
        self.print_login(options["admin_url"], options["dashboard_url"], username, password)

    def reset_superuser(self, username: str) -> str:
        user_model = get_user_model()
        password = get_random_string(20)
        user, created = user_model._default_manager.get_or_create(
            **{user_model.USERNAME_FIELD: username},
        )
        user.is_staff = True
        user.is_superuser = True
        user.is_active = True
        if hasattr(user, "email") and not user.email:
            user.email = f"{username}@example.com"
        user.set_password(password)
        user.save()
        verb = "Created" if created else "Reset the password of"
        self.stdout.write(f"{verb} superuser {username!r}.")
        return password

    def enqueue_demo_tasks(self) -> int:
        results = [
            add.enqueue(1, 2),
            add.enqueue(20, 22),
            add.enqueue(100, -58),
            add.enqueue(7, 35),
            add.enqueue(2, 3),
            *(
                send_welcome_email.enqueue(address)
                for address in (
                    "alice@example.com",
                    "bob@example.com",
                    "carol@example.com",
                )
            ),
            build_report.enqueue(25),
            *(upload_file.enqueue(f"/data/file-{n}.csv") for n in range(3)),
            always_fails.enqueue(),
            plain_django_task.enqueue("world"),
        ]
        return len(results)

    def print_login(self, admin_url: str, dashboard_url: str, username: str, password: str) -> None:
        lines = [
            "django_taskflow demo",
            "",
            f"Dashboard: {dashboard_url}",
            f"Admin:     {admin_url}",
            f"Username:  {username}",
            f"Password:  {password}",
        ]
        width = max(len(line) for line in lines)
        border = "+" + "-" * (width + 4) + "+"
        self.stdout.write("")
        box = [border, *(f"|  {line.ljust(width)}  |" for line in lines), border]
        for row in box:
            self.stdout.write(self.style.SUCCESS(row))
        self.stdout.write("")
