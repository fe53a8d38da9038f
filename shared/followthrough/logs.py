"""Loggers that must stay quiet whatever a function's log level is.

At DEBUG, botocore logs request parameters and bodies (KMS Encrypt's plaintext is the X tokens; SES's raw
message is a digest with DM counts and addresses), boto3 its calls, and Powertools' resolver the validated
route arguments (link tokens, OAuth codes and states). Every function calls ``quiet_sdk_loggers`` when it
is loaded, so ``POWERTOOLS_LOG_LEVEL=DEBUG`` shows our own debugging and none of theirs.
"""

from __future__ import annotations

import logging

SDK_LOGGERS = ("aws_lambda_powertools.event_handler", "botocore", "boto3", "urllib3")


def quiet_sdk_loggers() -> None:
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
