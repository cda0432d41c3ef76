"""The long-running generation service: an aiohttp daemon with a job API, resuming jobs from their checkpoints.

Modules, each with one job:
    config   service settings: flags and the --config TOML file
    backends the operator's backend registry: URLs, key variables, model allow-lists, limits
    states   the job life cycle as pure rules (pause/resume/cancel, how a run ends)
    spec     check a submitted job spec, build its run config on its backend
    store    the job, review and rating tables in DIR/service.sqlite3
    limits   one shared Throttle per backend across jobs
    manager  run jobs as asyncio tasks and record their states
    metrics  Prometheus collector reading live stats at scrape time
    hygiene  which Host, Origin, body size and Content-Type requests may have
<<<<<<< HEAD
    app      HTTP routes and the bearer-token gate
    reviews  the review routes: samples of a job's data, ratings, summary, exports, review pages
=======
    app      HTTP routes (the API, and the dashboard's pages)
    dashboard  the web pages (jobs, one job, data browser), their layout, and the token gate with its cookie
>>>>>>> wt-16d
    server   lock, serve, resume, shut down by signal

`selfinstruct serve` itself is selfinstruct/cli/serve.py.
"""

from selfinstruct.service.config import ServiceConfig, is_loopback_host

__all__ = ["ServiceConfig", "is_loopback_host"]
