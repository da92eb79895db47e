"""Task schedules (routes 38-43): cron triggers with time zones, fired by one leader."""
