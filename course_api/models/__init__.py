"""The course's two PyTorch models: a digit classifier (images) and a sentiment classifier (text)."""

from course_api.models.digits import DigitCNN, DIGIT_CLASSES
from course_api.models.sentiment import SentimentModel, SENTIMENT_LABELS, tokenize

__all__ = ["DigitCNN", "DIGIT_CLASSES", "SentimentModel", "SENTIMENT_LABELS", "tokenize"]
