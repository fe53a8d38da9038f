"""A local stand-in for the X API v2: synthetic accounts with planted facts, served over HTTP.

``generate_account`` builds a subscriber's world; ``XSim`` holds accounts,
tokens, a meter, faults and a clock; ``XSimServer`` serves it on 127.0.0.1.
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
