from .base import *  # noqa: F401,F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
NEWSROOM_ALLOW_PRIVATE_FETCH = env.bool("NEWSROOM_ALLOW_PRIVATE_FETCH", default=True)
