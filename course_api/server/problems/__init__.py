"""One error format: every 4xx and 5xx answer of the course server is RFC 9457 *problem details*.

* :mod:`~course_api.server.problems.format`: the format itself (``Problem``, ``APIProblem``, ``problem()``);
* :mod:`~course_api.server.problems.handlers`: the exception handlers that answer every error in that format;
* :mod:`~course_api.server.problems.openapi`: the same answers documented in ``/openapi.json``.
"""

from course_api.server.problems.format import (
    MAX_ECHO,
    MAX_ERRORS,
    PROBLEM_MEDIA_TYPE,
    PROBLEM_TYPES,
    TYPE_PREFIX,
    APIProblem,
    FieldError,
    Problem,
    ProblemResponse,
    ValidationProblem,
    body_too_large,
    field_error,
    problem,
    type_uri,
    validation_summary,
)
from course_api.server.problems.handlers import install_handlers, service_unavailable
from course_api.server.problems.openapi import error_responses, problem_media_type

__all__ = [
    "MAX_ECHO",
    "MAX_ERRORS",
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_TYPES",
    "TYPE_PREFIX",
    "APIProblem",
    "FieldError",
    "Problem",
    "ProblemResponse",
    "ValidationProblem",
    "body_too_large",
    "error_responses",
    "field_error",
    "install_handlers",
    "problem",
    "problem_media_type",
    "service_unavailable",
    "type_uri",
    "validation_summary",
]
