"""The shopper's returns portal: server-rendered pages under /portal of the API's app (portal/pages.py)."""
