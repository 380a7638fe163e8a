"""Shop operations (issue 19, seed 002): the supervisor's back-office duties and the beat tasks that watch
their deadlines.

Here, inside ``backoffice/``, because these are the shop domain's own rows (orders, their shipping and the
platform's tickets about them) and the jobs that watch them; the modules sit at the bottom layer, so routing
(the agent's buyer panel) may read them and nothing here imports an app above. One module per part:
``compensation`` (the late-shipment table), ``clock`` (the 09:00-21:00 clock), ``shipping``,
``service_requests``, ``packages`` (services and the beat tasks' bodies), ``jobs`` (batch bounds, last
runs), ``views`` and ``api`` (the page and the JSON API). The models are in ``backoffice/models.py``, their
admin pages in ``backoffice/admin.py`` (a module of its own here would import the admin's base classes and
be imported by the admin: a cycle), the Celery tasks in ``backoffice/tasks.py``.
"""
