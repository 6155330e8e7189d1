"""mock-anthropic's Message Batches and Files APIs through the official SDK, every answer checked
against the SDK's own types."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest

from tests.support.anthropic import HEADERS, Claude, checked_twin

MODEL = "claude-haiku-4-5"


def request(custom_id: str, text: str = "Analyse: <text>great</text>", **extra: Any) -> dict:
    params = {
        "model": MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }
    return {"custom_id": custom_id, "params": params}


# batches -----------------------------------------------------------------------------------


def test_a_batch_is_in_progress_then_ends_with_a_result_per_request(claude: Claude):
    batches = claude.client.messages.batches
    created = batches.create(requests=[request("good"), request("bad", max_tokens=-1)])
    assert created.id.startswith("msgbatch_01")
    assert (created.processing_status, created.request_counts.processing) == ("in_progress", 2)
    assert created.results_url is None and created.ended_at is None
    ended = batches.retrieve(created.id)
    assert ended.processing_status == "ended"
    counts = ended.request_counts
    assert (counts.succeeded, counts.errored, counts.processing) == (1, 1, 0)
    results = {item.custom_id: item.result for item in batches.results(created.id)}
    assert results["good"].type == "succeeded"
    assert results["good"].message.usage.service_tier == "batch"
    assert results["good"].message.content[0].type == "text"
    assert results["bad"].type == "errored"
    assert results["bad"].error.error.type == "invalid_request_error"


def test_a_batch_takes_its_processing_time_on_the_twins_clock():
    for twin in checked_twin({"TWIN_ANTHROPIC_BATCH_SECONDS": "3600"}):
        batch = twin.client.messages.batches.create(requests=[request("one")])
        assert twin.client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
        with pytest.raises(anthropic.AnthropicError, match="No `results_url`"):
            twin.client.messages.batches.results(batch.id)
        httpx.post(f"{twin.url}/_twin/clock", json={"advance": 3600})
        assert twin.client.messages.batches.retrieve(batch.id).processing_status == "ended"


def test_a_canceled_batch_ends_with_its_requests_canceled_and_can_then_be_deleted(claude: Claude):
    batches = claude.client.messages.batches
    batch = batches.create(requests=[request("a"), request("b")])
    with pytest.raises(anthropic.BadRequestError, match="cancel it first"):
        batches.delete(batch.id)
    canceling = batches.cancel(batch.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at
    ended = batches.retrieve(batch.id)
    assert (ended.processing_status, ended.request_counts.canceled) == ("ended", 2)
    assert {item.result.type for item in batches.results(batch.id)} == {"canceled"}
    assert batches.cancel(batch.id).processing_status == "ended"  # changes nothing now
    assert batches.delete(batch.id).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        batches.retrieve(batch.id)


def test_batches_are_listed_newest_first_in_pages(claude: Claude):
    ids = [claude.client.messages.batches.create(requests=[request(f"r{n}")]).id for n in range(3)]
    page = claude.client.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == ids[::-1][:2] and page.has_more
    following = claude.client.messages.batches.list(limit=2, after_id=page.last_id)
    assert [b.id for b in following.data] == [ids[0]] and not following.has_more
    assert [b.id for b in claude.client.messages.batches.list()] == ids[::-1]


@pytest.mark.parametrize(
    ("requests", "problem"),
    [
        ([], "requests: List should have at least 1 item"),
        ([request("same"), request("same")], "custom_id 'same' is used more than once"),
        ([request("has space")], "custom_id: String should match pattern"),
        ([request("s", stream=True)], "streaming is not supported in batches"),
    ],
)
def test_unusable_batches_are_refused_at_once(claude: Claude, requests, problem):
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.client.messages.batches.create(requests=requests)
    assert problem in caught.value.body["error"]["message"]  # type: ignore[index]


def test_results_of_an_unknown_or_unfinished_batch_are_404(claude: Claude):
    with pytest.raises(anthropic.NotFoundError):
        claude.client.messages.batches.retrieve("msgbatch_01nothing")
    missing = claude.http.get("/v1/messages/batches/msgbatch_01nothing/results", headers=HEADERS)
    assert missing.status_code == 404


def test_a_batch_state_survives_in_a_snapshot(claude: Claude):
    batch = claude.client.messages.batches.create(requests=[request("kept")])
    httpx.post(f"{claude.url}/_twin/snapshots", json={"name": "one-batch"})
    claude.client.messages.batches.create(requests=[request("dropped")])
    httpx.post(f"{claude.url}/_twin/snapshots/one-batch/restore")
    assert [b.id for b in claude.client.messages.batches.list()] == [batch.id]


# files -------------------------------------------------------------------------------------


def upload(claude: Claude, name: str = "notes.txt", data: bytes = b"hello\n", **extra: Any):
    return claude.client.files.upload(file=(name, data, "text/plain"), **extra)


def test_an_uploaded_file_is_described_listed_and_not_downloadable(claude: Claude):
    stored = upload(claude, "dir/notes.txt")
    assert stored.id.startswith("file_011C")
    assert (stored.filename, stored.mime_type, stored.size_bytes) == ("notes.txt", "text/plain", 6)
    assert stored.downloadable is False and stored.expires_at is None
    assert claude.client.files.retrieve_metadata(stored.id).id == stored.id
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.client.files.download(stored.id)
    assert caught.value.error_code == "file_not_downloadable"
    assert type(caught.value).__name__ == "FileNotDownloadableError"


def test_a_file_a_tool_made_can_be_downloaded(claude: Claude):
    made = httpx.post(
        f"{claude.url}/_twin/files",
        json={"filename": "chart.csv", "content": "a,b\n1,2\n", "mime_type": "text/csv"},
    )
    assert made.status_code == 201
    file_id = made.json()["id"]
    assert claude.client.files.retrieve_metadata(file_id).downloadable is True
    assert claude.client.files.download(file_id).read() == b"a,b\n1,2\n"


def test_files_are_listed_newest_first_with_a_cursor_and_in_the_beta_shape(claude: Claude):
    ids = [upload(claude, f"f{n}.txt").id for n in range(3)]
    page = claude.client.files.list(limit=2)
    assert [f.id for f in page.data] == ids[::-1][:2]
    assert page.next_page == ids[1]
    rest = claude.client.files.list(limit=2, page=page.next_page)
    assert [f.id for f in rest.data] == [ids[0]] and rest.next_page is None
    assert [f.id for f in claude.client.files.list()] == ids[::-1]
    beta = claude.http.get(
        "/v1/files",
        params={"limit": 1},
        headers={**HEADERS, "anthropic-beta": "files-api-2025-04-14"},
    ).json()
    assert (beta["first_id"], beta["has_more"]) == (ids[2], True)


def test_a_deleted_or_expired_file_is_gone(claude: Claude):
    stored = upload(claude)
    assert claude.client.files.delete(stored.id).type == "file_deleted"
    with pytest.raises(anthropic.NotFoundError):
        claude.client.files.retrieve_metadata(stored.id)
    expiring = upload(claude, expires_in_seconds=3600)
    assert expiring.expires_at is not None
    httpx.post(f"{claude.url}/_twin/clock", json={"advance": 3601})
    with pytest.raises(anthropic.NotFoundError):
        claude.client.files.retrieve_metadata(expiring.id)
    with pytest.raises(anthropic.BadRequestError, match="expires_in_seconds"):
        upload(claude, expires_in_seconds=60)


def test_a_message_can_refer_to_an_uploaded_file_but_not_to_a_missing_one(claude: Claude):
    stored = upload(claude, "review.txt", b"The parcel came late.")

    def ask(file_id: str) -> Any:
        return claude.client.messages.create(
            model=MODEL,
            max_tokens=64,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "document", "source": {"type": "file", "file_id": file_id}},
                        {"type": "text", "text": "Summarise."},
                    ],
                }
            ],
        )

    assert ask(stored.id).content[0].type == "text"
    with pytest.raises(anthropic.NotFoundError):
        ask("file_011Cmissing")
