"""A local stand-in for the X API v2: synthetic accounts with planted facts, served over HTTP.

``generate_account`` builds a subscriber's world; ``XSim`` holds accounts,
tokens, a meter, faults and a clock; ``XSimServer`` serves it on 127.0.0.1.
By default it behaves like X where X is untidy (counts that include suspended
accounts, the subscriber's own unfollows, short pages, follows a little out of
order): ``realism.py`` lists each behaviour with its X docs source, and
``Realism`` turns each off for a test that needs the tidy version.
"""

from followthrough_devkit.xsim.account import HashtagChat, PlantedFacts, SyntheticAccount, WeekDelta
from followthrough_devkit.xsim.generator import PROFILES, advance_week, generate_account
from followthrough_devkit.xsim.server import XSimServer
from followthrough_devkit.xsim.sim import XSim, pkce_challenge

__all__ = [
    "PROFILES",
    "HashtagChat",
    "PlantedFacts",
    "SyntheticAccount",
    "WeekDelta",
    "XSim",
    "XSimServer",
    "advance_week",
    "generate_account",
    "pkce_challenge",
]
