"""Manual review of generated data: templates of criteria, seeded samples, ratings and their statistics.

Pure logic lives in ``templates``, ``sampling`` and ``stats``; ``table`` reads and
writes ratings as CSV and JSONL; ``page`` renders the review pages and ``script``
is their JavaScript. The service's
``/jobs/{id}/reviews`` and ``/reviews/*`` routes (selfinstruct.service.reviews)
and ``selfinstruct review`` are built on them.
"""
