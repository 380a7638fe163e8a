"""The robot app's admin pages, one module per part (imported here for Django's admin discovery)."""

from robot import reception_admin  # noqa: F401  (the reception's pages: robot/reception_admin.py)
