"""The course's PyTorch models: a digit classifier (images), a sentiment classifier (text) and a character-level
text generator (it writes text, one character at a time)."""

from course_api.server.models.digits import DIGIT_CLASSES, DigitCNN
from course_api.server.models.generator import CharGRU
from course_api.server.models.sentiment import SENTIMENT_LABELS, SentimentModel, tokenize

__all__ = ["DIGIT_CLASSES", "SENTIMENT_LABELS", "CharGRU", "DigitCNN", "SentimentModel", "tokenize"]
