"""Every archive layout real exports have had, read and audited against the truth it holds (``archive_world``)."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from followthrough.activity import DmEvent
from followthrough.analysis import AnalysisConfig
from followthrough.analysis.dms import find_auto_dms
from followthrough.analysis.interactions import dm_partner
from followthrough.archive import ArchiveError, read_archive
from followthrough.cli import main
from tests.archive_world import GENERATED, LAYOUTS, ME, World

MIN_SCORE = 0.95


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def audit(tmp_path: Path, archive: Path) -> dict[str, Any]:
    out = tmp_path / "report.json"
    assert main(["audit", "--archive", str(archive), "--json", str(out), "--html", str(tmp_path / "r.html")]) == 0
    return json.loads(out.read_text())


def precision_recall(found: set[str], relevant: set[str], considered: set[str] | None = None) -> tuple[float, float]:
    """Over ``considered`` (everything, by default): what the data allows to be judged."""
    if considered is not None:
        found, relevant = found & considered, relevant & considered
    hits = len(found & relevant)
    return (hits / len(found) if found else 1.0), (hits / len(relevant) if relevant else 1.0)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_is_audited_as_the_truth_says(tmp_path: Path, world: World, layout: str) -> None:
    truth = world.truth_for(layout)
    report = audit(tmp_path, world.write(tmp_path, layout))
    assert report["unavailable"] == ["follow_times", "like_authors", "mentions"]

    listed = {p["user_id"] for p in report["passive_follows"]}
    assert report["metrics"]["passive_follows"] == len(listed)  # the whole list, not the first 100
    judged = truth.passive | truth.interacted
    precision, recall = precision_recall(listed, truth.passive, judged)
    assert precision >= MIN_SCORE and recall >= MIN_SCORE, (layout, precision, recall)
    # where the data cannot tell, the reason says what could not be checked
    for follow in report["passive_follows"]:
        if follow["user_id"] in truth.undeterminable:
            assert any("quotes could not be checked" in r and "handle" in r for r in follow["reasons"]), follow

    received = {d["sender_id"]: d for d in report["auto_dms"]["received"]}
    precision, recall = precision_recall(set(received), truth.auto_received)
    assert precision >= MIN_SCORE and recall >= MIN_SCORE, (layout, precision, recall)
    assert not set(received) & (truth.group_pitchers | truth.not_auto)
    for sender in truth.welcome_senders:
        assert received[sender]["confidence"] == 1.0 and "welcome message" in received[sender]["reasons"][0]

    sent = report["auto_dms"]["sent"]
    assert [set(s["recipient_ids"]) for s in sent] == [truth.auto_sent_recipients]

    # mentions by others are not in an archive: unavailable, never zero
    assert report["metrics"]["unanswered_mentions"] is None and report["unanswered_mentions"] == []
    assert report["metrics"]["posts"] == truth.posts_in_window


def test_every_layout_reads_the_same_activity(tmp_path: Path, world: World) -> None:
    read = {}
    for layout in LAYOUTS:
        activity = read_archive(world.write(tmp_path, layout), as_of=GENERATED).activity
        read[layout] = (
            sorted(
                (
                    p.id,
                    p.kind,
                    p.text,
                    p.quoted_author_id,
                    p.quoted_author_username,
                    p.retweeted_author_id,
                    tuple(p.mentioned_ids),
                )
                for p in activity.posts
            ),
            sorted((e.id, e.event_type, e.conversation_type, e.sender_id, e.fingerprint) for e in activity.dm_events),
            sorted(e.user_id for e in activity.following),
            len(activity.followers),
            len(activity.likes),
            {k: a.username for k, a in activity.accounts.items()},
        )
    assert read["2019"] == read["2021"]
    # before 2023 there were no long posts: the one long post has its whole text and mentions only in 2025's
    assert read["2021"][1:] == read["2025"][1:]
    differ = [(old, new) for old, new in zip(read["2021"][0], read["2025"][0], strict=True) if old != new]
    assert len(differ) == len(world.notes) and all(new[2].startswith("A long post") for _, new in differ)


def test_long_posts_edits_and_deleted_posts(tmp_path: Path, world: World) -> None:
    activity = read_archive(world.write(tmp_path, "2025")).activity
    long_post = next(p for p in activity.posts if p.text.startswith("A long post"))
    assert long_post.text.endswith("for the idea.")  # the whole text, from note-tweet.js
    assert long_post.mentioned_ids  # the mention only the whole text has, tied to its account
    texts = [p.text for p in activity.posts]
    assert not any(t.endswith(" god point") for t in texts)  # an edited post counts once, as its last version
    assert not any(t.endswith(" hmm") for t in texts)  # deleted posts are not counted
    before_edits = read_archive(world.write(tmp_path, "2021")).activity
    assert len(before_edits.posts) == len(activity.posts)


def test_group_conversations_are_kept_apart_by_their_file(tmp_path: Path, world: World) -> None:
    activity = read_archive(world.write(tmp_path, "2025")).activity
    types = {e.conversation_id: e.conversation_type for e in activity.dm_events}
    groups = {c["dmConversation"]["conversationId"] for c in world.groups}
    assert {c for c, t in types.items() if t == "group"} == groups
    assert all(t == "one_to_one" for c, t in types.items() if c not in groups)
    kinds = {e.event_type for e in activity.dm_events}
    assert kinds == {"MessageCreate", "WelcomeMessageCreate", "ReactionCreate"}


def test_a_manifest_naming_a_missing_file_is_an_error(tmp_path: Path, world: World) -> None:
    files = world.files("2025")
    del files["data/tweets-part1.js"]
    path = tmp_path / "partial.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    with pytest.raises(ArchiveError, match=r"data/manifest\.js: lists data/tweets-part1\.js, which is not in"):
        read_archive(path)


def test_progress_is_reported_for_large_archives(
    tmp_path: Path, world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = world.write(tmp_path, "2025")
    audit(tmp_path, archive)
    assert capsys.readouterr().err == ""  # a small archive: quiet
    monkeypatch.setattr("followthrough.cli.PROGRESS_MIN_BYTES", 1)
    audit(tmp_path, archive)
    lines = capsys.readouterr().err.splitlines()
    assert any("reading twitter-2025-11-20-abc123/data/tweets-part1.js" in line for line in lines)
    assert all(line.startswith("followthrough audit: reading ") for line in lines)


def test_nothing_is_written_when_one_output_cannot_be(
    tmp_path: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = world.write(tmp_path, "2021")
    out = tmp_path / "report.json"
    code = main(["audit", "--archive", str(archive), "--json", str(out), "--html", str(tmp_path / "no" / "r.html")])
    assert code == 2
    assert "r.html: cannot write" in capsys.readouterr().err
    assert list(tmp_path.glob("*.json")) == [] and list(tmp_path.glob(".*partial")) == []


def test_without_a_manifest_the_audit_ends_with_the_newest_post_or_message(tmp_path: Path, world: World) -> None:
    activity = read_archive(world.write(tmp_path, "2019")).activity
    assert activity.subscriber.id == ME and activity.subscriber.username == "me_on_x"
    newest = max(
        [p.created_at for p in activity.posts]
        + [e.created_at for e in activity.dm_events if e.event_type != "ReactionCreate"]
    )
    assert activity.collected_at == newest < GENERATED
    assert read_archive(world.write(tmp_path, "2025")).activity.collected_at == GENERATED  # the manifest's date


@pytest.mark.parametrize("layout", LAYOUTS)
def test_files_read_in_chunks_read_the_same(
    tmp_path: Path, world: World, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = world.write(tmp_path, layout)
    whole = read_archive(archive).activity.model_dump()
    monkeypatch.setattr("followthrough.archive._CHUNK_BYTES", 1500)  # every file in many chunks
    assert read_archive(archive).activity.model_dump() == whole


def test_a_problem_in_a_later_chunk_is_named_for_the_whole_file(
    tmp_path: Path, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = world.files("2021")
    following = files["data/following.js"].decode()
    last = following.rindex('"accountId"')
    files["data/following.js"] = (following[:last] + '"acountId"' + following[last + len('"accountId"') :]).encode()
    folder = tmp_path / "archive"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    monkeypatch.setattr("followthrough.archive._CHUNK_BYTES", 1500)
    last_entry = len(world.following) - 1
    with pytest.raises(ArchiveError, match=rf"data/following\.js: unexpected content at entry {last_entry}\b"):
        read_archive(folder)
    files["data/following.js"] = following[: len(following) // 2].encode()  # cut short in a later chunk
    (folder / "data/following.js").write_bytes(files["data/following.js"])
    with pytest.raises(ArchiveError, match=r"data/following\.js: corrupt or truncated JSON"):
        read_archive(folder)


def _event(
    event_id: str,
    sender: str,
    at: datetime,
    conversation: str,
    *,
    kind: str = "MessageCreate",
    conversation_type: str | None = None,
    fingerprint: str = "f1",
    words: int = 9,
) -> DmEvent:
    return DmEvent(
        id=event_id,
        event_type=kind,
        conversation_id=conversation,
        sender_id=sender,
        created_at=at,
        participant_ids=sorted({ME, conversation.replace(ME, "").strip("-")}),
        conversation_type=conversation_type,
        fingerprint=fingerprint,
        word_count=words,
    )


def test_welcome_messages_are_automated_whatever_else_they_look_like() -> None:
    at = GENERATED - timedelta(days=2)
    events = [
        _event("1", "300", at, f"{ME}-300", kind="WelcomeMessageCreate", fingerprint="short", words=3),
        _event("2", ME, at + timedelta(minutes=1), f"{ME}-300", fingerprint="mine-a"),
        _event("3", "300", at + timedelta(minutes=2), f"{ME}-300", fingerprint="theirs-b"),  # and they answer
        _event("4", ME, at, f"{ME}-301", kind="WelcomeMessageCreate", fingerprint="hello", words=2),
    ]
    found = find_auto_dms(
        events, ME, {}, lambda _: None, lambda _: None, AnalysisConfig(), GENERATED - timedelta(days=30), GENERATED
    )
    assert [(d.sender_id, d.confidence) for d in found.received] == [("300", 1.0)]
    assert [(s.recipient_ids, s.reasons[0].startswith("your account's welcome message")) for s in found.sent] == [
        (["301"], True)
    ]


def test_a_conversation_from_a_group_file_is_never_one_to_one() -> None:
    at = GENERATED - timedelta(days=2)
    one_to_one = _event("1", "400", at, "123456").model_copy(update={"participant_ids": ["400", ME]})
    assert dm_partner(one_to_one, ME) == "400"  # two people, an id of no shape: taken for one-to-one
    assert dm_partner(one_to_one.model_copy(update={"conversation_type": "group"}), ME) is None
