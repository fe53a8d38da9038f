"""The engagement analysis: normalized activity and stored history in, a weekly report out.

Pure domain code: no boto3, tweepy or environment access.
"""

from followthrough.analysis.config import AnalysisConfig
from followthrough.analysis.engine import analyze
from followthrough.analysis.models import AnalysisResult, History, Interaction, InteractionKind

__all__ = ["AnalysisConfig", "AnalysisResult", "History", "Interaction", "InteractionKind", "analyze"]
