"""The operator's console (issues 4 and 17): ``endpoints/`` its pages' HTTP handlers and ``console/`` their use cases,
a module per page in each; journeys as timelines and sequence diagrams; its sign-in and HTTP Basic (``auth.py``)."""
