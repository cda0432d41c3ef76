"""A service job in batch mode: its status shows the batches in flight, and a daemon restart resumes polling them."""

from __future__ import annotations

from tests.service.helpers import Daemon, job_spec, sim_backend, wait_until
from workers.simulated import SimConfig, start_in_thread


def test_a_batch_job_shows_its_batches_and_a_killed_daemon_resumes_polling(tmp_path):
    with start_in_thread(SimConfig(batch_seconds=2.0, seed=1)) as server:
        d = Daemon(tmp_path / "state", config={"backends": {"sim": sim_backend(server.url)}}).start()
        try:
            jid = d.submit(job_spec(num_instructions=30, mode="batch", batch_poll_interval=0.05))
            view = wait_until(lambda: (v := d.job(jid))["batches_in_flight"] and v, timeout=60,
                              what="the job to show a batch in flight")
            shown = view["batches_in_flight"][0]
            first = server.stats(with_ids=False)["batch"]["submitted"][0]
            assert shown["batch_id"] == first["batch_id"] and shown["items"] == len(first["custom_ids"])
            assert shown["status"] == "in_progress" and shown["request_counts"]["total"] == shown["items"]
            d.kill()                                  # mid-batch: the batch stays open on the server

            d.start()
            done = d.wait_state(jid, ("done",), timeout=120)
            assert done["runs"] == 2 and done["batches_in_flight"] == []
            assert done["stats"]["batch"]["resumed_batches"] == 1      # polled again, not resubmitted
            submitted = server.stats(with_ids=False)["batch"]["submitted"]
            ids = [cid for b in submitted for cid in b["custom_ids"]]
            assert len(ids) == len(set(ids))
            assert server.stats(with_ids=False)["requests"] == 0
        finally:
            d.stop()
