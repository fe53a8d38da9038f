"""Benchmark: the offline audit of an X archive against json.loads of the same files.

Builds synthetic archives in the real X format (pretty-printed like X's
exports: 2-space indent, " : " separators; tweets with entities, some with
media; DMs with their empty reaction/url lists; a manifest naming the files),
in two cases:

- ``default``: 5,000 following, 50,000 followers, 3,200 posts, 10,000 DM
  events, 2,000 likes;
- ``big``: 5,000 following, 20,000 followers, 60,000 posts in two part files,
  100,000 likes, 5,000 DM events.

Then, each in a fresh Python process:

- ``parse_s``: ``json.loads`` of every data file (the JSON after the
  ``window.YTD.<name>.part<N> =`` prefix);
- ``audit_s``: what ``followthrough audit`` does minus writing the file
  (read the archive into pydantic models, analyze, serialize the report);
  ``load_s`` and ``analyze_s`` are its two parts;
- ``peak_rss_mb``: the peak resident memory of a process that runs one audit;
- ``loads_peak_rss_mb``: the peak of a process that only reads the largest
  data file and ``json.loads`` it: what holding one file's JSON costs.

Timings are the best of 3 runs in each of 3 alternating processes (of 2 runs
in each of 2 for ``big``). Writes ``out/analysis_bench.json``. Targets, all
measured in the same run: ``ratio`` = audit_s / parse_s <= 2; for ``big``,
``rss_ratio`` = peak_rss_mb / loads_peak_rss_mb <= 1.5 (the audit never holds
more than one file's raw JSON); for ``default``, peak RSS < 256 MB. Run: ``.venv/bin/python bench/analysis.py
[default|big]`` (both by default).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out" / "analysis_bench.json"
ME = "1000000001"
AS_OF = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
SNOWFLAKE_EPOCH_MS = 1288834974657
CASES = {
    "default": {
        "following": 5_000,
        "followers": 50_000,
        "posts": 3_200,
        "dm_events": 10_000,
        "likes": 2_000,
        "tweet_parts": 1,
        "processes": 3,
        "runs": 3,
    },
    "big": {
        "following": 5_000,
        "followers": 20_000,
        "posts": 60_000,
        "dm_events": 5_000,
        "likes": 100_000,
        "tweet_parts": 2,
        "processes": 2,
        "runs": 2,
    },
}


def snowflake(at: datetime, seq: int) -> str:
    return str(((int(at.timestamp() * 1000) - SNOWFLAKE_EPOCH_MS) << 22) | (seq & 0x3FFFFF))


def x_time(at: datetime) -> str:
    return at.strftime("%a %b %d %H:%M:%S +0000 %Y")


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def write(data: Path, name: str, key: str, entries: list, part: int = 0) -> str:
    text = json.dumps(entries, indent=2, separators=(",", " : "), ensure_ascii=False)
    (data / f"{name}.js").write_text(f"window.YTD.{key}.part{part} = {text}", encoding="utf-8")
    return f"data/{name}.js"


WORDS = [
    "the",
    "a",
    "conversation",
    "thread",
    "people",
    "idea",
    "today",
    "week",
    "good",
    "great",
    "thanks",
    "question",
    "answer",
    "build",
    "ship",
    "write",
    "read",
    "think",
    "learn",
    "open",
    "source",
    "python",
    "data",
    "small",
    "tool",
    "launch",
    "coffee",
    "morning",
    "team",
    "design",
    "test",
]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()


def media(rng: random.Random, tweet_id: str, username: str) -> dict:
    media_id = str(int(tweet_id) - 7)
    sizes = {
        s: {"w": str(w), "h": str(h), "resize": "fit" if s != "thumb" else "crop"}
        for s, w, h in (("thumb", 150, 150), ("small", 680, 383), ("medium", 1200, 675), ("large", 1920, 1080))
    }
    return {
        "expanded_url": f"https://twitter.com/{username}/status/{tweet_id}/photo/1",
        "indices": ["120", "143"],
        "url": "https://t.co/AbCdEfGhIj",
        "media_url": f"http://pbs.twimg.com/media/F{media_id}.jpg",
        "id_str": media_id,
        "id": media_id,
        "media_url_https": f"https://pbs.twimg.com/media/F{media_id}.jpg",
        "sizes": sizes,
        "type": "photo",
        "display_url": "pic.twitter.com/AbCdEfGhIj",
    }


def build_archive(root: Path, case: dict[str, int], seed: int = 47) -> dict[str, int | float]:
    rng = random.Random(seed)
    data = root / "data"
    data.mkdir(parents=True)
    following = [str(2_000_000_000 + i) for i in range(case["following"])]
    # a third of the followees follow back; the rest of the followers are strangers
    third = case["following"] // 3
    followers = following[:third] + [str(3_000_000_000 + i) for i in range(case["followers"] - third)]
    names = {user_id: f"user{user_id[-6:]}" for user_id in following}
    files = {
        "account": [
            write(
                data,
                "account",
                "account",
                [
                    {
                        "account": {
                            "email": "me@example.com",
                            "createdVia": "web",
                            "username": "bench_me",
                            "accountId": ME,
                            "createdAt": "2012-03-04T05:06:07.000Z",
                            "accountDisplayName": "Bench Me",
                        }
                    }
                ],
            )
        ]
    }
    link = "https://twitter.com/intent/user?user_id={}"
    files["following"] = [
        write(
            data,
            "following",
            "following",
            [{"following": {"accountId": u, "userLink": link.format(u)}} for u in following],
        )
    ]
    files["follower"] = [
        write(
            data,
            "follower",
            "follower",
            [{"follower": {"accountId": u, "userLink": link.format(u)}} for u in followers],
        )
    ]
    tweets = [{"tweet": build_tweet(rng, i, following, names)} for i in range(case["posts"])]
    per_part = -(-len(tweets) // case["tweet_parts"])
    files["tweets"] = [
        write(
            data,
            "tweets" if part == 0 else f"tweets-part{part}",
            "tweets",
            tweets[part * per_part : (part + 1) * per_part],
            part,
        )
        for part in range(case["tweet_parts"])
    ]
    del tweets
    files["like"] = [write(data, "like", "like", build_likes(rng, case["likes"]))]
    conversations, events = build_dms(rng, case["dm_events"], following, followers[third:])
    files["directMessages"] = [write(data, "direct-messages", "direct_messages", conversations)]
    (data / "manifest.js").write_text(
        "window.__THAR_CONFIG = "
        + json.dumps(
            {
                "userInfo": {"accountId": ME, "userName": "bench_me"},
                "archiveInfo": {"sizeBytes": "1", "generationDate": iso(AS_OF), "isPartialArchive": False},
                "dataTypes": {
                    key: {
                        "files": [
                            {"fileName": name, "globalName": f"YTD.{key}.part{n}", "count": "1"}
                            for n, name in enumerate(names)
                        ]
                    }
                    for key, names in files.items()
                },
            },
            indent=2,
        )
    )
    return {
        "following": case["following"],
        "followers": case["followers"],
        "posts": case["posts"],
        "tweet_files": case["tweet_parts"],
        "dm_events": events,
        "likes": case["likes"],
        "archive_mb": round(sum(f.stat().st_size for f in data.iterdir()) / 2**20, 1),
    }


def build_tweet(rng: random.Random, i: int, following: list[str], names: dict[str, str]) -> dict:
    at = AS_OF - timedelta(minutes=rng.randint(1, 60 * 24 * 400))
    tweet_id = snowflake(at, i)
    target = rng.choice(following)
    roll = rng.random()
    mentions, urls, hashtags = [], [], []
    reply: dict[str, str] = {}
    if roll < 0.35:
        text = f"@{names[target]} {sentence(rng, 14)}"
        mentions.append(target)
        reply = {
            "in_reply_to_status_id_str": snowflake(at - timedelta(hours=1), i),
            "in_reply_to_status_id": snowflake(at - timedelta(hours=1), i),
            "in_reply_to_user_id": target,
            "in_reply_to_user_id_str": target,
            "in_reply_to_screen_name": names[target],
        }
    elif roll < 0.5:
        text = f"RT @{names[target]}: {sentence(rng, 16)}"
        mentions.append(target)
    else:
        text = sentence(rng, 20)
        if rng.random() < 0.3:
            urls.append(
                rng.choice(
                    [
                        "https://bench.example.com/post",
                        "https://news.example.org/story",
                        f"https://twitter.com/{names[target]}/status/{snowflake(at, i + 1)}",
                    ]
                )
            )
        if rng.random() < 0.2:
            hashtags.append(rng.choice(["buildinpublic", "python", "opensource"]))
    tweet: dict[str, Any] = {
        "edit_info": {
            "initial": {
                "editTweetIds": [tweet_id],
                "editableUntil": iso(at + timedelta(hours=1)),
                "editsRemaining": "5",
                "isEditEligible": True,
            }
        },
        "retweeted": False,
        "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
        "entities": {
            "hashtags": [{"text": h, "indices": ["0", str(len(h) + 1)]} for h in hashtags],
            "symbols": [],
            "user_mentions": [
                {"name": f"User {m}", "screen_name": names[m], "indices": ["0", "11"], "id_str": m, "id": m}
                for m in mentions
            ],
            "urls": [
                {"url": "https://t.co/Xy12Ab34Cd", "expanded_url": u, "display_url": u[8:30], "indices": ["100", "123"]}
                for u in urls
            ],
        },
        "display_text_range": ["0", str(len(text))],
        "favorite_count": str(rng.randint(0, 40)),
        "id_str": tweet_id,
        "truncated": False,
        "retweet_count": str(rng.randint(0, 5)),
        "id": tweet_id,
        "created_at": x_time(at),
        "favorited": False,
        "full_text": text,
        "lang": "en",
        **reply,
    }
    if rng.random() < 0.3:
        photo = media(rng, tweet_id, "bench_me")
        tweet["entities"]["media"] = [photo]
        tweet["extended_entities"] = {"media": [photo]}
        tweet["possibly_sensitive"] = False
    return tweet


def build_likes(rng: random.Random, count: int) -> list[dict]:
    likes = []
    for i in range(count):
        at = AS_OF - timedelta(minutes=rng.randint(1, 60 * 24 * 200))
        liked = snowflake(at, 100_000 + i)
        likes.append(
            {
                "like": {
                    "tweetId": liked,
                    "fullText": sentence(rng, 18),
                    "expandedUrl": f"https://twitter.com/i/web/status/{liked}",
                }
            }
        )
    return likes


def build_dms(rng: random.Random, count: int, following: list[str], strangers: list[str]) -> tuple[list[dict], int]:
    conversations, events = [], 0
    templates = [
        "Hey {n}, thanks for the follow! Grab my free ebook on growth here: {u}",
        "Thanks for connecting {n}! Check out my course {u} and use code X{d} for a discount",
    ]
    own_template = "Thanks for following, {n}! I write about small tools every week, subscribe at {u}"
    while events < count:
        partner = rng.choice(strangers if rng.random() < 0.5 else following)
        start = AS_OF - timedelta(minutes=rng.randint(60, 60 * 24 * 30))
        kind = rng.random()
        messages = []
        if kind < 0.15:  # someone's automated DM: one templated opener
            text = rng.choice(templates).format(
                n=sentence(rng, 1), u=f"https://t.co/{rng.randint(10**6, 10**7)}", d=rng.randint(10, 99)
            )
            messages.append((partner, text, start))
        elif kind < 0.2:  # the subscriber's own automated welcome
            messages.append((ME, own_template.format(n=sentence(rng, 1), u="https://t.co/own"), start))
        else:  # a real exchange
            at = start
            for turn in range(rng.randint(2, 14)):
                at += timedelta(minutes=rng.randint(1, 600))
                messages.append((partner if turn % 2 == 0 else ME, sentence(rng, rng.randint(3, 25)), at))
        entries = [
            {
                "messageCreate": {
                    "recipientId": ME if sender != ME else partner,
                    "reactions": [],
                    "urls": [],
                    "text": text,
                    "mediaUrls": [],
                    "senderId": sender,
                    "id": snowflake(at, 200_000 + events + n),
                    "createdAt": iso(at),
                    "editHistory": [],
                }
            }
            for n, (sender, text, at) in enumerate(messages)
        ]
        entries.reverse()  # X lists a conversation newest first
        low, high = sorted((ME, partner), key=int)
        conversations.append({"dmConversation": {"conversationId": f"{low}-{high}", "messages": entries}})
        events += len(entries)
    return conversations, events


PARSE = """
import json, sys, time
from pathlib import Path
from typing import Any
raw = [f.read_bytes() for f in sorted(Path(sys.argv[1], "data").glob("*.js")) if f.name != "manifest.js"]
bodies = [r[r.index(b"=") + 1:] for r in raw]
del raw
best = float("inf")
for _ in range(3):
    start = time.perf_counter()
    parsed = [json.loads(b) for b in bodies]
    best = min(best, time.perf_counter() - start)
    del parsed
print(json.dumps({"parse_s": best}))
"""

# the peak of holding the largest data file's JSON: its bytes read, then json.loads
# The peak resident memory of this process alone: /proc's VmHWM (getrusage's ru_maxrss would carry over the
# benchmark's own peak, which Linux keeps across fork and exec).
PEAK = """
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

LOADS_ONE = (
    PEAK
    + """
import json, sys
from pathlib import Path
from typing import Any
largest = max((f for f in Path(sys.argv[1], "data").glob("*.js")), key=lambda f: f.stat().st_size)
raw = largest.read_bytes()
parsed = json.loads(raw[raw.index(b"=") + 1:])
print(json.dumps({"loads_peak_rss_mb": peak_mb(),
                  "largest_file": largest.name, "largest_mb": round(largest.stat().st_size / 2**20, 1)}))
"""
)

AUDIT = (
    PEAK
    + """
import json, sys, time
from pathlib import Path
from typing import Any
from followthrough.analysis import History, analyze
from followthrough.archive import load_archive
from followthrough.cli import audit, one_shot_gc
runs = int(sys.argv[2])
best = load = analysis = float("inf")
for _ in range(runs):
    start = time.perf_counter()
    with one_shot_gc():
        report = audit(Path(sys.argv[1]))
        report.model_dump_json(indent=2)
    best = min(best, time.perf_counter() - start)
    del report
if runs > 1:  # the parts, for the record
    with one_shot_gc():
        start = time.perf_counter()
        activity = load_archive(Path(sys.argv[1]), window_days=30, lookback_days=92)
        load = time.perf_counter() - start
        start = time.perf_counter()
        analyze(activity, History(), week="bench")
        analysis = time.perf_counter() - start
print(json.dumps({"audit_s": best, "load_s": load, "analyze_s": analysis,
                  "peak_rss_mb": peak_mb()}))
"""
)


def child(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_case(name: str, case: dict[str, int]) -> dict:
    with tempfile.TemporaryDirectory(prefix="ft-bench-") as tmp:
        sizes = build_archive(Path(tmp), case)
        # alternate fresh processes and keep the best of each, so a busy moment hurts neither side alone
        parse, timed = {"parse_s": float("inf")}, {"audit_s": float("inf")}
        for _ in range(case["processes"]):
            parse = min(parse, child(PARSE, tmp), key=lambda r: r["parse_s"])
            timed = min(timed, child(AUDIT, tmp, str(case["runs"])), key=lambda r: r["audit_s"])
        memory = child(AUDIT, tmp, "1")
        one_file = child(LOADS_ONE, tmp)
    return {
        "audit_s": round(timed["audit_s"], 4),
        "parse_s": round(parse["parse_s"], 4),
        "ratio": round(timed["audit_s"] / parse["parse_s"], 2),
        "peak_rss_mb": round(memory["peak_rss_mb"], 1),
        "loads_peak_rss_mb": round(one_file["loads_peak_rss_mb"], 1),
        "rss_ratio": round(memory["peak_rss_mb"] / one_file["loads_peak_rss_mb"], 2),
        "largest_file": f"{one_file['largest_file']} ({one_file['largest_mb']} MB)",
        # the parts of audit_s: reading the archive into activity, and the analysis alone
        "load_s": round(timed["load_s"], 4),
        "analyze_s": round(timed["analyze_s"], 4),
        "analyze_ratio": round(timed["analyze_s"] / parse["parse_s"], 2),
        "input": sizes,
    }


def main() -> None:
    names = sys.argv[1:] or list(CASES)
    results = {name: run_case(name, CASES[name]) for name in names}
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    for name, result in results.items():
        print(f"{name}: {verdict(name, result)}")


def verdict(name: str, result: dict) -> str:
    """The time target holds for both cases; the memory target is the big case's (the default's largest file
    is small beside the interpreter and its imports: there the peak stays under 256 MB)."""
    memory_ok = result["rss_ratio"] <= 1.5 if name == "big" else result["peak_rss_mb"] < 256
    memory = (
        f"peak RSS ratio {result['rss_ratio']} <= 1.5"
        if name == "big"
        else f"peak RSS {result['peak_rss_mb']} MB < 256"
    )
    met = "meets" if result["ratio"] <= 2 and memory_ok else "misses"
    return f"{met} the targets (time ratio {result['ratio']} <= 2, {memory})"


if __name__ == "__main__":
    main()
