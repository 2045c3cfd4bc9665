"""Alerts: ``OPTIONS["ALERTS"]`` rules that workers evaluate, one worker at a time.

- ``rules``: the setting, parsed and checked (pure);
- ``conditions``: what each rule sees in the database now;
- ``incidents``: the ``AlertIncident`` rows that open and resolve, once each;
- ``delivery``: the signal, email and webhooks that carry each notice.

The worker's side is ``worker/alert_duty.py``.
"""
