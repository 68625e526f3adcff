"""CodeRouter auto-router: rules over the request choose its profile.

Enable with ``[plugins] enabled = ["matchers"]`` and describe the rules under
``[plugins.matchers]``; see the README for every key.
"""

from coderouter_matchers.config import HeaderMatch, Match, MatchersConfig, Rule
from coderouter_matchers.plugin import LOG_FIELD, META_KEY, RULE_HEADER, MatchersPlugin

__all__ = [
    "LOG_FIELD",
    "META_KEY",
    "RULE_HEADER",
    "HeaderMatch",
    "Match",
    "MatchersConfig",
    "MatchersPlugin",
    "Rule",
]
