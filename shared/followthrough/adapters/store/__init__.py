"""Stored data, one repository per kind (``protocols``), on DynamoDB (``dynamo``) or in memory (``memory``).

``dynamo`` is imported only by whoever builds the DynamoDB repositories, so
code that needs the protocols does not load boto3's resource layer.
"""

from followthrough.adapters.store.protocols import (
    CollectorState,
    CollectorStateRepository,
    DigestState,
    Graph,
    PostReadRepository,
    PostReads,
    Repositories,
    SignupRepository,
    StoredTokens,
    StoredWeek,
    SubscriberRepository,
    SuppressionRepository,
    TokenRepository,
    WeekRepository,
)
from followthrough.adapters.store.table import ConcurrentUpdate, UniqueKind

__all__ = [
    "CollectorState",
    "CollectorStateRepository",
    "ConcurrentUpdate",
    "DigestState",
    "Graph",
    "PostReadRepository",
    "PostReads",
    "Repositories",
    "SignupRepository",
    "StoredTokens",
    "StoredWeek",
    "SubscriberRepository",
    "SuppressionRepository",
    "TokenRepository",
    "UniqueKind",
    "WeekRepository",
]
