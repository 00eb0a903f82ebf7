"""The residents' and councils' web pages, built on the public APIs only.

Pages are rendered on the server from what the APIs answer, through
services.common.client.call_service (in-process in embedded mode, HTTP in distributed
mode), with the visitor's own access token: the web app has no back door into a
service. `session.py` keeps the tokens in a signed, HttpOnly cookie, guards forms
against cross-site posts and sends signed-out visitors to sign in where a page needs
it; `api.py` calls the APIs and renews an expired access token; `pages.py` holds the
petitions' and polls' pages (and what every page knows of its visitor), `account.py`
the visitor's own account and signing in, `council.py` the councils' pages for their
moderators and admins.
"""
