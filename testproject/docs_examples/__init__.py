"""The runnable examples of the how-to guides in ``docs/howto/``.

Each module holds one page's main example; the pages copy its code, and
``tests/integration/test_doc_examples.py`` runs it. The services the tasks
talk to (a storage API, a partner's web site...) are small stand-ins
defined next to them, so that the tests can choose their answers.
"""
