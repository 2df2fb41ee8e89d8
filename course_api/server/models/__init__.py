"""The course's two PyTorch models: a digit classifier (images) and a sentiment classifier (text)."""

from course_api.server.models.digits import DIGIT_CLASSES, DigitCNN
from course_api.server.models.sentiment import SENTIMENT_LABELS, SentimentModel, tokenize

__all__ = ["DIGIT_CLASSES", "SENTIMENT_LABELS", "DigitCNN", "SentimentModel", "tokenize"]
