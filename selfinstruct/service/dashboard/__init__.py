"""The web dashboard: server-rendered pages over the job API (jobs, one job, data browser) and their shared layout."""
