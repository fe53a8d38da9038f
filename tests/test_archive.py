"""The X archive reader and ``followthrough audit``, on archives the tests build (as a folder and as a .zip)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from followthrough.archive import ArchiveError, load_archive, read_archive, snowflake_time
from followthrough.cli import main
from followthrough.report import SCHEMA_VERSION
from tests.archive_world import GENERATED, iso, snowflake, x_time

ME = "100"


def ytd(name: str, entries: list) -> str:
    # X pretty-prints with " : " separators
    return f"window.YTD.{name}.part0 = " + json.dumps(entries, indent=2, separators=(",", " : "))


def tweet(
    days: float,
    text: str,
    *,
    mentions: tuple[tuple[str, str], ...] = (),
    urls: tuple[str, ...] = (),
    hashtags: tuple[str, ...] = (),
    reply_to: tuple[str, str] | None = None,
    seq: int = 0,
) -> dict:
    at = GENERATED - timedelta(days=days)
    tweet_id = snowflake(at, seq)
    body: dict = {
        "retweeted": False,
        "source": '<a href="https://x.com">web</a>',
        "id_str": tweet_id,
        "id": tweet_id,
        "created_at": x_time(at),
        "full_text": text,
        "lang": "en",
        "favorite_count": "0",
        "entities": {
            "hashtags": [{"text": h, "indices": ["0", "5"]} for h in hashtags],
            "symbols": [],
            "user_mentions": [
                {"name": n, "screen_name": n, "indices": ["0", "4"], "id_str": i, "id": i} for i, n in mentions
            ],
            "urls": [
                {"url": "https://t.co/q", "expanded_url": u, "display_url": u[8:], "indices": ["1", "2"]} for u in urls
            ],
        },
    }
    if reply_to:
        body.update(
            in_reply_to_user_id_str=reply_to[0],
            in_reply_to_user_id=reply_to[0],
            in_reply_to_screen_name=reply_to[1],
            in_reply_to_status_id_str=snowflake(at, 99),
        )
    return {"tweet": body}


def user_link(user_id: str) -> str:
    return f"https://twitter.com/intent/user?user_id={user_id}"


def message(sender: str, recipient: str, text: str, days: float, seq: int) -> dict:
    at = GENERATED - timedelta(days=days)
    return {
        "messageCreate": {
            "recipientId": recipient,
            "reactions": [],
            "urls": [],
            "text": text,
            "mediaUrls": [],
            "senderId": sender,
            "id": snowflake(at, seq),
            "createdAt": iso(at),
            "editHistory": [],
        }
    }


def sample_files() -> dict[str, str]:
    """A subscriber (@me_on_x) who replies to Ann, retweets Bo, quotes Ann, likes Cy's post, DMs Dee, never Gus."""
    liked = snowflake(GENERATED - timedelta(days=10), 7)
    template = "Hey {n}, thanks for the follow! Check out my free course https://t.co/{u}"
    return {
        "manifest.js": "window.__THAR_CONFIG = "
        + json.dumps(
            {"userInfo": {"accountId": ME}, "archiveInfo": {"generationDate": iso(GENERATED), "sizeBytes": "1"}}
        ),
        "account.js": ytd(
            "account",
            [
                {
                    "account": {
                        "email": "me@example.com",
                        "accountId": ME,
                        "username": "me_on_x",
                        "accountDisplayName": "Me",
                        "createdAt": "2015-03-01T10:00:00.000Z",
                    }
                }
            ],
        ),
        "tweets.js": ytd(
            "tweets",
            [
                tweet(1, "@ann good point!", mentions=(("201", "ann"),), reply_to=("201", "ann"), seq=1),
                tweet(2, "RT @bo: shipping day", mentions=(("202", "bo"),), seq=2),
                tweet(3, "so true", urls=("https://twitter.com/ann/status/555",), seq=3),
                tweet(4, "New post on my blog #python", urls=("https://www.me.dev/p/1",), hashtags=("python",), seq=4),
                tweet(3.9, "and another thing", reply_to=(ME, "me_on_x"), seq=5),
                tweet(200, "thanks @cy", mentions=(("203", "cy"),), seq=6),  # outside the window, but names Cy
            ],
        ),
        "following.js": ytd(
            "following",
            [{"following": {"accountId": u, "userLink": user_link(u)}} for u in ("201", "202", "203", "204", "208")],
        ),
        "follower.js": ytd(
            "follower", [{"follower": {"accountId": u, "userLink": user_link(u)}} for u in ("201", "205", "206")]
        ),
        "like.js": ytd(
            "like",
            [
                {
                    "like": {
                        "tweetId": liked,
                        "fullText": "cy's post",
                        "expandedUrl": f"https://twitter.com/cy/status/{liked}",
                    }
                },
                {
                    "like": {
                        "tweetId": snowflake(GENERATED - timedelta(days=5)),
                        "fullText": "someone's post",
                        "expandedUrl": "https://twitter.com/i/web/status/1",
                    }
                },
            ],
        ),
        "direct-messages.js": ytd(
            "direct_messages",
            [
                {
                    "dmConversation": {
                        "conversationId": "100-206",
                        "messages": [  # newest first, as X writes them
                            {"reactionCreate": {"senderId": ME, "reactionKey": "like", "createdAt": iso(GENERATED)}},
                            message("206", ME, template.format(n="Dana", u="a1"), 2, 1),
                        ],
                    }
                },
                {
                    "dmConversation": {
                        "conversationId": "100-207",
                        "messages": [message("207", ME, template.format(n="Eli", u="b2"), 3, 2)],
                    }
                },
                {
                    "dmConversation": {
                        "conversationId": "100-204",
                        "messages": [
                            message("204", ME, "sure, see you there", 5, 4),
                            message(ME, "204", "are you coming to the meetup <script>?", 6, 3),
                        ],
                    }
                },
            ],
        ),
    }


def write_folder(root: Path, files: dict[str, str]) -> Path:
    data = root / "archive" / "data"
    data.mkdir(parents=True)
    for name, text in files.items():
        (data / name).write_text(text, encoding="utf-8")
    return root / "archive"


def write_zip(root: Path, files: dict[str, str], top: str = "twitter-2026-11-20-abc/") -> Path:
    path = root / "archive.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{top}Your archive.html", "<html></html>")
        for name, text in files.items():
            zf.writestr(f"{top}data/{name}", text)
    return path


Builder = Callable[[Path, dict[str, str]], Path]
BUILDERS = pytest.mark.parametrize("build", [write_folder, write_zip], ids=["folder", "zip"])


# --- reading ------------------------------------------------------------------------------------


@BUILDERS
def test_the_archive_becomes_activity(tmp_path: Path, build: Builder) -> None:
    activity = load_archive(build(tmp_path, sample_files()), window_days=7)
    assert (activity.subscriber.id, activity.subscriber.username) == (ME, "me_on_x")
    assert activity.collected_at == GENERATED and activity.window_start == GENERATED - timedelta(days=7)
    kinds = [(p.kind, p.in_reply_to_user_id, p.retweeted_author_id, p.quoted_author_id) for p in activity.posts]
    assert kinds == [
        ("original", None, None, None),
        ("reply", ME, None, None),
        ("quote", None, None, "201"),
        ("retweet", None, "202", None),
        ("reply", "201", None, None),
    ]  # oldest first; day 200 dropped
    assert activity.posts[0].hashtags == ["python"] and activity.posts[0].urls == ["https://www.me.dev/p/1"]
    assert [(like.author_id, like.seen_at.date()) for like in activity.likes] == [
        ("203", (GENERATED - timedelta(days=10)).date()),
        (None, (GENERATED - timedelta(days=5)).date()),
    ]
    assert [e.user_id for e in activity.following] == ["201", "202", "203", "204", "208"]
    assert [e.since for e in activity.followers] == [None, None, None]
    assert activity.accounts["201"].username == "ann" and activity.accounts["203"].username == "cy"
    assert activity.unavailable == ["mentions"]
    events = {e.sender_id: e for e in activity.dm_events}
    assert sorted(events) == ["100", "204", "206", "207"]
    assert events["206"].participant_ids == ["100", "206"] and events["206"].has_link
    assert events["206"].fingerprint == events["207"].fingerprint  # names and links masked
    assert "text" not in events["206"].model_dump()  # no DM text kept


def test_zip_and_folder_read_the_same(tmp_path: Path) -> None:
    files = sample_files()
    folder = load_archive(write_folder(tmp_path / "f", files))
    zipped = load_archive(write_zip(tmp_path, files))
    assert folder.model_dump() == zipped.model_dump()


def test_the_data_folder_itself_and_a_zip_without_a_top_folder(tmp_path: Path) -> None:
    files = sample_files()
    reference = load_archive(write_folder(tmp_path / "f", files)).model_dump()
    assert load_archive(tmp_path / "f" / "archive" / "data").model_dump() == reference
    assert load_archive(write_zip(tmp_path, files, top="")).model_dump() == reference


def test_older_archives_and_split_files(tmp_path: Path) -> None:
    files = sample_files()
    entries = json.loads(files.pop("tweets.js").split("=", 1)[1])
    files["tweet.js"] = ytd("tweet", entries[:3])
    files["tweet-part1.js"] = ytd("tweet", entries[3:]).replace(".part0", ".part1")
    del files["like.js"], files["manifest.js"]
    activity = load_archive(write_folder(tmp_path, files))
    assert len(activity.posts) == 5
    assert activity.unavailable == ["likes", "mentions"]
    # no manifest: "now" is the newest post or DM
    assert activity.collected_at == GENERATED - timedelta(days=1)


def test_as_of_drops_what_came_later(tmp_path: Path) -> None:
    activity = load_archive(write_folder(tmp_path, sample_files()), as_of=GENERATED - timedelta(days=2, hours=12))
    assert all(p.created_at <= activity.collected_at for p in activity.posts)
    assert len(activity.posts) == 3


def test_an_old_conversation_does_not_restart_when_its_beginning_is_out_of_reach(tmp_path: Path) -> None:
    files = sample_files()
    conversations = json.loads(files["direct-messages.js"].split("=", 1)[1])
    pitch = "Hey Max, thanks for the follow! Check out my free course https://t.co/c3"
    conversations.append(
        {
            "dmConversation": {
                "conversationId": "100-209",
                "messages": [
                    message("209", ME, pitch, 2, 5),
                    message(ME, "209", "good to see you at the conference", 200, 6),
                ],
            }
        }
    )
    files["direct-messages.js"] = ytd("direct_messages", conversations)
    archive = write_folder(tmp_path, files)
    found = read_archive(archive, lookback_days=92)
    assert found.earlier_dm_conversations == {"100-209": GENERATED - timedelta(days=200)}
    assert [e.sender_id for e in found.activity.dm_events if e.conversation_id == "100-209"] == ["209"]
    out = tmp_path / "r.json"
    assert main(["audit", "--archive", str(archive), "--json", str(out)]) == 0
    senders = {d["sender_id"] for d in json.loads(out.read_text())["auto_dms"]["received"]}
    assert senders == {"206", "207"}  # 209's message continues an old conversation; the template still counts


def test_snowflake_times() -> None:
    at = datetime(2022, 10, 5, 17, 30, 1, tzinfo=UTC)
    assert snowflake_time(snowflake(at, 12345)) == at
    assert snowflake_time("12345") is None and snowflake_time("abc") is None


# --- the command --------------------------------------------------------------------------------


@BUILDERS
def test_audit_writes_the_report_and_a_page(tmp_path: Path, build: Builder, capsys: pytest.CaptureFixture[str]) -> None:
    archive = build(tmp_path, sample_files())
    out, page = tmp_path / "report.json", tmp_path / "report.html"
    code = main(
        [
            "audit",
            "--archive",
            str(archive),
            "--json",
            str(out),
            "--html",
            str(page),
            "--own-domain",
            "me.dev",
            "--days",
            "7",
        ]
    )
    assert code == 0
    assert "Audited @me_on_x" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["schema_version"] == SCHEMA_VERSION and report["week"] == "2026-W47"
    assert [p["user_id"] for p in report["passive_follows"]] == ["208"]
    received = {d["sender_id"]: d for d in report["auto_dms"]["received"]}
    assert sorted(received) == ["206", "207"]
    assert "same text as 1 other sender once names and links are masked" in received["206"]["reasons"]
    assert report["auto_dms"]["sent"] == []
    # an archive has no mentions by others: unavailable, not zero
    assert report["unanswered_mentions"] == [] and "mentions" in report["unavailable"]
    assert report["metrics"]["response_rate"] is None and report["metrics"]["mentions_received"] is None
    assert report["metrics"]["self_promotion_share"] == 1.0
    assert "like_authors" in report["unavailable"] and "follow_times" in report["unavailable"]
    html = page.read_text()
    assert "@me_on_x" in html and "https://x.com/i/user/208" in html
    # issue 15: what an archive has the data for, and why the rest is not measured
    assert report["follow_up"] is None and report["metrics"]["relationships"] is None
    assert report["metrics"]["follow_for_follow_followers"] is None
    assert "an archive holds no digest Followthrough sent" in html
    assert "an X archive has no mentions of you" in " ".join(html.split())
    assert "new followers cannot be told apart" in html
    # DM texts never reach the report or the page
    assert "meetup" not in out.read_text() and "meetup" not in html and "free course" not in out.read_text()


def test_audit_of_a_large_follower_list(tmp_path: Path) -> None:
    files = sample_files()
    files["follower.js"] = ytd(
        "follower", [{"follower": {"accountId": str(10**6 + i), "userLink": "x"}} for i in range(20_000)]
    )
    out = tmp_path / "r.json"
    assert main(["audit", "--archive", str(write_folder(tmp_path, files)), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["metrics"]["followers"] == 20_000


def truncate(name: str) -> Callable[[dict[str, str]], None]:
    def damage(files: dict[str, str]) -> None:
        files[name] = files[name][: len(files[name]) // 2]

    return damage


def replace(name: str, old: str, new: str) -> Callable[[dict[str, str]], None]:
    def damage(files: dict[str, str]) -> None:
        assert old in files[name]
        files[name] = files[name].replace(old, new, 1)

    return damage


def drop(name: str) -> Callable[[dict[str, str]], None]:
    def damage(files: dict[str, str]) -> None:
        del files[name]

    return damage


@BUILDERS
@pytest.mark.parametrize(
    ("damage", "file", "words"),
    [
        (truncate("tweets.js"), "data/tweets.js", "corrupt or truncated JSON"),
        (truncate("direct-messages.js"), "data/direct-messages.js", "corrupt or truncated JSON"),
        (replace("follower.js", "window.YTD.follower.part0 = ", ""), "data/follower.js", "does not start like"),
        (replace("follower.js", '"accountId" : "205"', '"acountId" : "205"'), "data/follower.js", "unexpected content"),
        (replace("tweets.js", "+0000 2026", "+0000 yesterday"), "data/tweets.js", "unreadable time"),
        (replace("account.js", '"accountId" : "100"', '"accountId" : 100.5'), "data/account.js", "unexpected content"),
        (drop("account.js"), "data/account.js", "not found"),
        (replace("account.js", "= [", "= [ ] and ["), "data/account.js", "corrupt"),
    ],
    ids=[
        "truncated-tweets",
        "truncated-dms",
        "no-prefix",
        "missing-field",
        "bad-time",
        "bad-id",
        "no-account",
        "trailing-garbage",
    ],
)
def test_a_damaged_archive_fails_with_a_clear_message(
    tmp_path: Path,
    build: Builder,
    damage: Callable[[dict[str, str]], None],
    file: str,
    words: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = sample_files()
    damage(files)
    archive = build(tmp_path, files)
    with pytest.raises(ArchiveError, match=words):
        load_archive(archive)
    assert main(["audit", "--archive", str(archive), "--json", str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err
    assert file in err and words in err and "Traceback" not in err
    assert err.startswith("followthrough audit: error: ")
    assert not (tmp_path / "out.json").exists()


def test_not_an_archive_at_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "photos.zip"
    fake.write_bytes(b"PK\x03\x04 this is not really a zip")
    assert main(["audit", "--archive", str(fake), "--json", str(tmp_path / "o.json")]) == 2
    assert "photos.zip: not a readable .zip file" in capsys.readouterr().err
    assert main(["audit", "--archive", str(tmp_path / "missing"), "--json", str(tmp_path / "o.json")]) == 2
    assert "missing: no such file or folder" in capsys.readouterr().err


def test_a_damaged_zip_member_is_named(tmp_path: Path) -> None:
    files = sample_files()
    path = write_zip(tmp_path, files)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("twitter-2026-11-20-abc/data/follower.js")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + 20 : start + 40] = bytes(20)  # break the compressed data
    path.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match=r"twitter-2026-11-20-abc/data/follower\.js"):
        load_archive(path)


def test_the_console_command_exits_2_without_a_traceback(tmp_path: Path) -> None:
    files = sample_files()
    truncate("tweets.js")(files)
    archive = write_folder(tmp_path, files)
    done = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "followthrough.cli",
            "audit",
            "--archive",
            str(archive),
            "--json",
            str(tmp_path / "o.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "data/tweets.js" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["audit", "--json", str(tmp_path / "o.json")])
    assert exc.value.code == 2
    assert "--archive" in capsys.readouterr().err
    archive = write_folder(tmp_path, sample_files())
    assert main(["audit", "--archive", str(archive), "--json", str(tmp_path / "no" / "such" / "dir.json")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_weekly_chats_among_the_liked_posts_reach_the_audit(tmp_path: Path) -> None:
    """Liked posts name their author's handle (expandedUrl) and keep their text: hashtags and a time (the id)."""
    files = sample_files()
    tuesday_21 = datetime(2026, 11, 17, 21, 5, tzinfo=UTC)  # GENERATED is later that week
    likes = [
        {
            "like": {
                "tweetId": snowflake(tuesday_21 - timedelta(weeks=week, minutes=n), n),
                "fullText": f"A{n}: talk to customers every week #BufferChat",
                "expandedUrl": f"https://twitter.com/{who}/status/1",
            }
        }
        for week in range(3)
        for n, who in enumerate(("ann", "bo", "cy"))
    ]
    files["like.js"] = ytd("like", likes)
    out, page = tmp_path / "report.json", tmp_path / "report.html"
    assert (
        main(["audit", "--archive", str(write_folder(tmp_path, files)), "--json", str(out), "--html", str(page)]) == 0
    )
    report = json.loads(out.read_text())
    [chat] = report["chats_to_join"]
    assert (chat["hashtag"], chat["weekday"], chat["hour"], chat["weeks"]) == ("BufferChat", 1, 21, 3)
    assert report["dormant_followees"] is None  # an archive does not date the followees' last posts
    html = page.read_text()
    assert "#BufferChat looks like a weekly chat, Tuesdays around 21:00" in html
    assert "an archive does not say when the people" in html
