"""Pause, resume and cancel over HTTP, including a paused job that stays paused across a restart."""

from __future__ import annotations

from .helpers import job_spec, sim_backend


def _count_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def test_pause_survives_restart_then_resume_finishes(daemon_factory, sim_config):
    d = daemon_factory(config=sim_config).start()
    jid = d.submit(job_spec(num_instructions=40))
    d.wait_accepted(jid, 5)

    status, view = d.call("POST", f"/jobs/{jid}/pause")
    assert status == 200 and view["state"] == "paused"
    paused = d.wait_state(jid, ("paused",))
    accepted = paused["progress"]["accepted_instructions"]
    assert 0 < accepted < 40
    # The paused run wrote its files, and they hold exactly what the job reports.
    assert _count_lines(d.output(jid, "machine_generated_instructions.jsonl")) == accepted
    assert d.call("POST", f"/jobs/{jid}/pause")[0] == 409

    assert d.terminate() == 0
    d.start()
    again = d.job(jid)
    assert again["state"] == "paused" and not again["active"]
    assert again["progress"]["accepted_instructions"] == accepted
    assert _count_lines(d.output(jid, "machine_generated_instructions.jsonl")) == accepted

    status, view = d.call("POST", f"/jobs/{jid}/resume")
    assert status == 200 and view["state"] in ("queued", "running")
    done = d.wait_state(jid, ("done",), timeout=150)
    assert done["progress"]["accepted_instructions"] == 40
    assert d.call("POST", f"/jobs/{jid}/resume")[0] == 409
    assert d.call("POST", f"/jobs/{jid}/cancel")[0] == 409


def test_cancel_running_and_queued_jobs(daemon_factory, sim):
    config = {"backends": {"sim": sim_backend(sim.url, rpm=300)}}
    d = daemon_factory(args=("--max-jobs", "1"), config=config).start()
    running = d.submit(job_spec(num_instructions=200))
    waiting = d.submit(job_spec(num_instructions=30))
    d.wait_accepted(running, 3)
    assert d.job(waiting)["state"] == "queued"  # only one run slot

    status, view = d.call("POST", f"/jobs/{waiting}/cancel")
    assert status == 200 and view["state"] == "cancelled"
    assert d.call("POST", f"/jobs/{waiting}/resume")[0] == 409

    status, view = d.call("POST", f"/jobs/{running}/cancel")
    assert status == 200 and view["state"] == "cancelled"
    final = d.wait_state(running, ("cancelled",))
    assert final["progress"]["accepted_instructions"] < 200

    status, listing = d.call("GET", "/jobs")
    assert status == 200
    assert {j["id"]: j["state"] for j in listing["jobs"]} == {running: "cancelled", waiting: "cancelled"}

    # A cancelled job stays cancelled after a restart: nothing is resumed.
    assert d.terminate() == 0
    d.start()
    assert d.job(running)["state"] == "cancelled" and not d.job(running)["active"]


def test_resume_while_pausing_runs_again(daemon_factory, sim_config):
    d = daemon_factory(config=sim_config).start()
    jid = d.submit(job_spec(num_instructions=30))
    d.wait_accepted(jid, 3)
    assert d.call("POST", f"/jobs/{jid}/pause")[0] == 200
    status, view = d.call("POST", f"/jobs/{jid}/resume")  # possibly while the pause still drains
    assert status == 200 and view["state"] in ("queued", "running")
    done = d.wait_state(jid, ("done",), timeout=150)
    assert done["progress"]["accepted_instructions"] == 30
